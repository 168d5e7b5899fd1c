import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from crm.roles import ROLE_ORDER

# The fields of a person and of an organization that services, forms, the API, the AI tools,
# automation and exports share: the one list of each (issue 13). ``crm.record_types`` names
# them too.
PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "job_title", "organization")
ORGANIZATION_FIELDS = ("name", "domain", "industry", "size", "address")


class User(AbstractUser):
    """The person using PipeCRM. Custom from the first migration so it can grow."""

    is_away = models.BooleanField(
        default=False,
        help_text="Away users are skipped by assignment rules (holidays, sick leave).",
    )
    preferences = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the user chose in the screens, e.g. the saved view each table opens with "
        '({"default_views": {"leads": <saved view id>}}).',
    )

    class Meta:
        ordering = ["username"]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def role(self) -> str:
        """The user's highest role; superusers are Admin."""
        if self.is_superuser:
            return "Admin"
        if "groups" in getattr(self, "_prefetched_objects_cache", {}):
            names = {g.name for g in self.groups.all()}
        elif hasattr(self, "_group_names"):
            names = self._group_names
        else:  # the signed-in user, on every page: reference data (crm.reference)
            from crm import reference

            names = reference.cached(
                f"groups:{self.pk}", lambda: {g.name for g in self.groups.all()}
            )
            self._group_names = names
        return next((r.value for r in ROLE_ORDER if r.value in names), "")


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        abstract = True


class LiveManager(models.Manager):
    """Default manager of soft-deletable records: deleted rows are hidden."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class SoftDeleteModel(models.Model):
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)

    objects = LiveManager()
    all_objects = models.Manager()  # noqa: DJ012 (two managers, no fields between)

    class Meta:
        abstract = True

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class MergeableModel(models.Model):
    """A record that can be merged into another of its type (``crm.records.merge``): the
    merged-away record is soft-deleted (``deleted_at``, so every list, count and search that
    reads the default manager loses it) and points at the record that took its place."""

    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="merged_records",
        editable=False,
        db_index=False,  # the partial index below: almost every row is null
        help_text="The record this one was merged into; its old address leads there.",
    )
    merged_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True
        indexes = [
            models.Index(
                fields=["merged_into"],
                name="%(app_label)s_%(class)s_merged_idx",
                condition=models.Q(merged_into__isnull=False),
            )
        ]


class Organization(TimestampedModel, SoftDeleteModel, MergeableModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=200, blank=True, db_index=True)
    industry = models.CharField(max_length=100, blank=True)
    size = models.CharField(
        max_length=20,
        blank=True,
        help_text="Number of employees, as a band such as 1-10, 11-50, 51-200, 201-1000, 1000+.",
    )
    address = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_organizations",
    )
    custom_field_values = models.JSONField(default=dict, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_all_organizations", "Can view all organizations"),
            ("change_all_organizations", "Can change all organizations"),
            ("delete_all_organizations", "Can delete all organizations"),
        ]
        indexes = [
            *MergeableModel.Meta.indexes,
            # The newest changes first: what the duplicate check reads of records changed
            # since the last duplicate run (duplicates.selectors._fresh), on every record page.
            models.Index(fields=["updated_at"], name="crm_org_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Person(TimestampedModel, SoftDeleteModel, MergeableModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True, db_index=True)
    phone = models.CharField(max_length=50, blank=True)
    job_title = models.CharField(max_length=150, blank=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="people"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_people",
    )
    custom_field_values = models.JSONField(default=dict, blank=True)
    anonymized_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the person's personal data was erased (privacy.services): irreversible.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["last_name", "first_name"]
        verbose_name_plural = "people"
        permissions = [
            ("view_all_people", "Can view all people"),
            ("change_all_people", "Can change all people"),
            ("delete_all_people", "Can delete all people"),
        ]
        indexes = [
            *MergeableModel.Meta.indexes,
            models.Index(fields=["updated_at"], name="crm_person_updated_idx"),  # as above
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


# Direct foreign-key object permissions (guardian): fast joins instead of generic relations.
class PersonUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Person, on_delete=models.CASCADE)


class PersonGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Person, on_delete=models.CASCADE)


class OrganizationUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Organization, on_delete=models.CASCADE)


class OrganizationGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Organization, on_delete=models.CASCADE)


class Event(models.Model):
    """Transactional outbox row: written in the same transaction as the change it reports."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        # A handler failed: the re-dispatch task runs it again at ``next_attempt_at``.
        FAILED = "failed", "Failed (retrying)"
        # A handler failed ``EVENT_HANDLER_MAX_ATTEMPTS`` times: given up (admin: retry).
        DEAD = "dead", "Dead"

    name = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    dispatch_count = models.PositiveIntegerField(
        default=0, help_text="How many times the event was handed to a worker."
    )
    last_dispatched_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When the failed handlers run again."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="crm_event_pending_idx")]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class HandlerRun(models.Model):
    """One (event, handler) pair. Its uniqueness is what makes every handler run at most once."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (retrying)"
        DEAD = "dead", "Dead"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="handler_runs")
    handler = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status, default=Status.RUNNING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "handler"], name="crm_handlerrun_once")
        ]

    def __str__(self) -> str:
        return f"{self.handler} for {self.event}"


class AuditLog(models.Model):
    """Permission-sensitive actions: exports, anonymization, merges, role changes, AI tools."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at"]
        permissions = [("view_dashboards", "Can view team dashboards and analytics")]

    def __str__(self) -> str:
        return f"{self.action} by {self.user_id} at {self.at:%Y-%m-%d %H:%M}"


class SavedView(models.Model):
    """A user's named table view: filters, columns and sort as a query string."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    screen = models.CharField(max_length=50, help_text="The table the view belongs to, e.g. leads.")
    name = models.CharField(max_length=100)
    query = models.TextField(blank=True, help_text="Filters, columns and ordering (query string).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "screen", "name"], name="crm_savedview_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    """An in-app notification for one user (SPEC §6 Notifications): the bell's rows.

    Written by ``crm.notifications.notify`` and pushed live to the user's socket after commit.
    """

    class Kind(models.TextChoices):
        ASSIGNMENT = "assignment", "Assignment"
        OVERDUE = "overdue", "Overdue activity"
        AUTOMATION_FAILURE = "automation_failure", "Automation failure"
        MENTION = "mention", "Mention"
        AI = "ai", "AI agent"
        OTHER = "other", "Other"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=30, choices=Kind, default=Kind.OTHER)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="Where the notification leads.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "read_at"], name="crm_notification_unread_idx"),
            models.Index(fields=["user", "-created_at"], name="crm_notification_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.title} → {self.user_id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class ApiToken(models.Model):
    """A user's API token (``Authorization: Token <key>``), one of as many as they create.

    Only a hash of the key is stored: the key is shown once, when it is made. ``password_hash``
    fingerprints the user's password at that moment: once the password changes, the token no
    longer authenticates (``crm.tokens``), whichever way the password was changed.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False, help_text="The key's first characters.")
    password_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ImportJob(models.Model):
    """One spreadsheet import into a record type (``crm.records.imports``): the file, how
    its columns map to fields, what happens to rows that match existing records, the counts
    and where it stands. Its rows (``ImportRow``) say what became of each line."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"  # uploaded in the wizard, mapping not confirmed yet
        PENDING = "pending", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        UNDONE = "undone", "Undone"

    class Mode(models.TextChoices):
        SKIP = "skip", "Skip the row"
        UPDATE_EMPTY = "update_empty", "Fill the record's empty fields only"
        OVERWRITE = "overwrite", "Overwrite the record's fields"
        CREATE = "create", "Create a new record anyway"

    record_type = models.CharField(max_length=20, help_text="lead, person, organization or deal.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="imports"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=255)
    # The file itself, in the database: a Celery worker on another host reads it without a
    # shared file system. Capped by IMPORT_MAX_BYTES.
    content = models.BinaryField(editable=False)
    file_format = models.CharField(max_length=8, default="csv")  # csv | xlsx
    encoding = models.CharField(max_length=40, blank=True)
    delimiter = models.CharField(max_length=4, blank=True)
    headers = models.JSONField(default=list, blank=True)
    mapping = models.JSONField(
        default=dict, blank=True, help_text="Column header → field name (custom fields: cf_<name>)."
    )
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.SKIP)
    defaults = models.JSONField(
        default=dict, blank=True, help_text="Values for new records: owner, source, step."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    cancel_requested = models.BooleanField(default=False)
    total_rows = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the import as a whole failed.")
    undo_summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["created_by", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.RUNNING)

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.processed / self.total_rows))


class ImportRow(models.Model):
    """What became of one line of an import: the record it created or changed (with the
    values it replaced, for undo), or why it was skipped or failed."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(help_text="The line in the file (the header is line 1).")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    object_id = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    values = models.JSONField(default=dict, blank=True, help_text="The row as read (failed rows).")
    before = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["job", "line"]
        indexes = [models.Index(fields=["job", "outcome", "line"])]

    def __str__(self) -> str:
        return f"line {self.line}: {self.outcome}"


class ImportMapping(models.Model):
    """A user's mapping template for one record type: the field each column header was last
    mapped to, guessed again for the next file with that header."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_mappings"
    )
    record_type = models.CharField(max_length=20)
    mapping = models.JSONField(default=dict, help_text="Normalized header → field name.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "record_type"], name="one_mapping_per_type")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.record_type}"
