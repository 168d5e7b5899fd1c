"""The person and organization record descriptions (SPEC §4 "one pattern")."""

from __future__ import annotations

from django.utils.html import format_html

from crm import formatting as fmt
from crm import permissions, selectors, services
from crm.filters import OrganizationFilter, PersonFilter
from crm.forms import OrganizationForm, PersonForm
from crm.models import ORGANIZATION_FIELDS, PERSON_FIELDS, Organization, Person
from crm.records.exports import field_columns
from crm.records.types import (
    Column,
    Editing,
    Filter,
    Importing,
    Merging,
    RecordType,
    record_url,
    standard_bulk_actions,
)


def _link(url_name: str, obj, text):
    url = record_url(url_name, obj.pk)
    return format_html('<a class="record-link" href="{}">{}</a>', url, text)


def _person_organization(person: Person):
    if not person.organization_id:
        return fmt.DASH
    return format_html(
        '<a href="{}">{}</a>',
        record_url("crm:organization_detail", person.organization_id),
        person.organization.name,
    )


def _website(org: Organization):
    if not org.domain:
        return fmt.DASH
    return format_html(
        '<a href="https://{}" rel="noopener noreferrer" target="_blank">{}</a>',
        org.domain,
        org.domain,
    )


def _owner_choices(model, user) -> dict:
    """Users who may hand a record to another owner pick from the assignable users."""
    owners = selectors.owner_choices(user=user, model=model)
    return {} if owners is None else {"owners": owners}


def _delete_allowed(model):
    return lambda user: permissions.works_on(user, model)


def _delete_person(by, person):
    return services.person_delete(by=by, person=person)


def domain_key(value: str) -> str:
    """ "https://www.Acme.com/about" → "acme.com": how an organization's domain is matched."""
    text = value.strip().casefold()
    text = text.split("://", 1)[-1].split("/", 1)[0].split("@")[-1]
    return text.removeprefix("www.")


PERSON_IMPORT = Importing(
    fields=(*PERSON_FIELDS, "owner"),
    create=lambda by, data: services.person_create(by=by, **data),
    update=lambda by, person, data: services.person_update(by=by, person=person, data=data),
    match_field="email",
    synonyms={
        "first": "first_name",
        "given name": "first_name",
        "vorname": "first_name",
        "last": "last_name",
        "surname": "last_name",
        "family name": "last_name",
        "nachname": "last_name",
        "e-mail": "email",
        "email address": "email",
        "mail": "email",
        "telephone": "phone",
        "mobile": "phone",
        "title": "job_title",
        "position": "job_title",
        "company": "organization",
        "organisation": "organization",
    },
    required=("first_name",),
)

ORGANIZATION_IMPORT = Importing(
    fields=(*ORGANIZATION_FIELDS, "owner"),
    create=lambda by, data: services.organization_create(by=by, **data),
    update=lambda by, org, data: services.organization_update(by=by, organization=org, data=data),
    match_field="domain",
    match_key=domain_key,
    synonyms={
        "company": "name",
        "organisation": "name",
        "organization name": "name",
        "company name": "name",
        "website": "domain",
        "web": "domain",
        "url": "domain",
        "sector": "industry",
        "employees": "size",
        "headcount": "size",
    },
    required=("name",),
)


PEOPLE = RecordType(
    key="person",
    model=Person,
    plural="People",
    url_names="crm:person_{}",
    saved_view_screen="people",
    icon="people",
    filterset=PersonFilter,
    columns=(
        Column(
            "name",
            "Name",
            lambda p: _link("crm:person_detail", p, p.full_name),
            "last_name",
            wide=True,
        ),
        Column("email", "Email", lambda p: fmt.mailto(p.email), "email"),
        Column("phone", "Phone", lambda p: fmt.tel(p.phone)),
        Column("job_title", "Job title", lambda p: p.job_title or fmt.DASH, "job_title"),
        Column("organization", "Organization", _person_organization, "organization"),
        Column("owner", "Owner", lambda p: fmt.person_name(p.owner), default=False),
        Column("created", "Added", lambda p: fmt.ago(p.created_at), "created_at"),
    ),
    filters=(
        Filter("owner", "Owner", "user"),
        Filter("created_after", "Added from", "date"),
        Filter("created_before", "Added to", "date"),
    ),
    list_selector=lambda user: selectors.person_list(user=user),
    get_selector=lambda user, pk, action="view": selectors.person_get(
        user=user, person_id=pk, action=action
    ),
    default_ordering=("last_name", "first_name"),
    export_columns=field_columns(Person, ("id", *PERSON_FIELDS, "owner", "created_at")),
    search_placeholder="Name, email, job title, organization…",
    bulk_actions=standard_bulk_actions(
        allowed=_delete_allowed(Person),
        delete=_delete_person,
    ),
    editing=Editing(
        form=PersonForm,
        create=lambda by, data: services.person_create(by=by, **data),
        update=lambda by, person, data: services.person_update(by=by, person=person, data=data),
        form_kwargs=lambda user: {
            **_owner_choices(Person, user),
            "organizations": selectors.organization_list(user=user).order_by("name"),
        },
    ),
    importing=PERSON_IMPORT,
    delete=_delete_person,
    merging=Merging(
        fields=PERSON_FIELDS,
        merge=lambda by, survivor, merged, fields: services.person_merge(
            by=by, survivor=survivor, merged=merged, fields=fields
        ),
    ),
    add_permission="crm.add_person",
    empty_hint="People are added when leads convert, or add one by hand.",
)


def _delete_org(by, org):
    return services.organization_delete(by=by, organization=org)


ORGANIZATIONS = RecordType(
    key="organization",
    model=Organization,
    plural="Organizations",
    url_names="crm:organization_{}",
    saved_view_screen="organizations",
    icon="building",
    filterset=OrganizationFilter,
    columns=(
        Column(
            "name", "Name", lambda o: _link("crm:organization_detail", o, o.name), "name", wide=True
        ),
        Column("domain", "Domain", _website, "domain"),
        Column("industry", "Industry", lambda o: o.industry or fmt.DASH, "industry"),
        Column("size", "Size", lambda o: o.size or fmt.DASH, "size"),
        Column("owner", "Owner", lambda o: fmt.person_name(o.owner), default=False),
        Column("created", "Added", lambda o: fmt.ago(o.created_at), "created_at"),
    ),
    filters=(
        Filter("industry", "Industry", "text"),
        Filter("owner", "Owner", "user"),
        Filter("created_after", "Added from", "date"),
        Filter("created_before", "Added to", "date"),
    ),
    list_selector=lambda user: selectors.organization_list(user=user),
    get_selector=lambda user, pk, action="view": selectors.organization_get(
        user=user, organization_id=pk, action=action
    ),
    default_ordering=("name",),
    export_columns=field_columns(Organization, ("id", *ORGANIZATION_FIELDS, "owner", "created_at")),
    search_placeholder="Name, domain, industry…",
    bulk_actions=standard_bulk_actions(
        allowed=_delete_allowed(Organization),
        delete=_delete_org,
    ),
    editing=Editing(
        form=OrganizationForm,
        create=lambda by, data: services.organization_create(by=by, **data),
        update=lambda by, org, data: services.organization_update(
            by=by, organization=org, data=data
        ),
        form_kwargs=lambda user: _owner_choices(Organization, user),
    ),
    importing=ORGANIZATION_IMPORT,
    delete=_delete_org,
    merging=Merging(
        fields=ORGANIZATION_FIELDS,
        merge=lambda by, survivor, merged, fields: services.organization_merge(
            by=by, survivor=survivor, merged=merged, fields=fields
        ),
    ),
    add_permission="crm.add_organization",
    empty_hint="Organizations are added when leads convert, or add one by hand.",
)
