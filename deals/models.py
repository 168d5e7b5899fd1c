import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from crm.models import Organization, Person, SoftDeleteModel, TimestampedModel

# Fields ``deal_update`` changes directly. ``owner`` and ``assigned_to`` move permissions and
# ``custom_field_values`` is validated, so they are handled apart; the step moves only through
# ``deal_transition``.
EDITABLE_FIELDS = (
    "name",
    "amount",
    "currency",
    "expected_close_date",
    "person",
    "organization",
)


class LostReason(models.Model):
    """Admin-editable reasons offered when a deal is lost (free text is allowed too)."""

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True, help_text="Inactive reasons are not offered.")
    order = models.PositiveSmallIntegerField(default=0, help_text="Position in the list.")

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class Deal(TimestampedModel, SoftDeleteModel):
    """A sales opportunity moving through a WFM pipeline (Sales Pipeline by default).

    Probability is the current step's; weighted amount = amount × probability / 100. Both are
    read from the step (``deals.selectors`` annotates them for lists), never stored twice.
    The lead a deal was converted from is ``deal.source_lead`` (reverse of
    ``Lead.converted_to_deal``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    amount = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.CharField(max_length=3, default=settings.DEFAULT_CURRENCY)
    expected_close_date = models.DateField(null=True, blank=True, db_index=True)
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_deals",
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_deals",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    wfm_project = models.OneToOneField("wfm.Project", on_delete=models.PROTECT, related_name="deal")
    won_at = models.DateTimeField(null=True, blank=True)
    lost_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.CharField(max_length=300, blank=True)
    custom_field_values = models.JSONField(default=dict, blank=True)

    history = HistoricalRecords(excluded_fields=["custom_field_values"])

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("view_all_deals", "Can view all deals"),
            ("change_all_deals", "Can change all deals"),
            ("delete_all_deals", "Can delete all deals"),
            ("reassign_deal", "Can reassign deals to other users"),
        ]
        indexes = [
            models.Index(fields=["owner", "created_at"], name="deal_owner_idx"),
            models.Index(fields=["assigned_to", "created_at"], name="deal_assignee_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class DealUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Deal, on_delete=models.CASCADE)


class DealGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Deal, on_delete=models.CASCADE)
