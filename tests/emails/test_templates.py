"""Email templates: merge fields, the HTML made from plain text, and their management screens
(Managers and Admins)."""

import pytest

from crm.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from emails import rendering, services
from emails.models import EmailTemplate
from tests.customfields.factories import CustomFieldFactory
from tests.emails.factories import EmailTemplateFactory
from tests.factories import OrganizationFactory, PersonFactory
from tests.leads.factories import LeadFactory

LIST_URL = "/settings/email-templates/"


@pytest.fixture
def lead(rep1):
    person = PersonFactory(owner=rep1, first_name="Maria", last_name="Lopez")
    org = OrganizationFactory(owner=rep1, name="Acme Logistics")
    return LeadFactory(
        owner=rep1,
        name="Fleet telematics",
        contact_name="Maria Lopez",
        person=person,
        organization=org,
        custom_field_values={"budget": "50k", "hidden": "secret"},
    )


# --- merge fields --------------------------------------------------------------------------------
def test_merge_fields_read_the_record_its_links_custom_fields_and_the_sender(lead, rep1):
    CustomFieldFactory(entity_type="lead", name="budget", type="text")
    rep1.first_name, rep1.last_name = "Sam", "Reed"
    rendered = services.email_template_render(
        subject="{{ lead.name }} for {{ organization.name }}",
        body=(
            "Hi {{ person.first_name }},\n\nBudget {{ cf.budget }} / {{lead.cf_budget}}.\n\n"
            "{{ sender.first_name }} ({{ sender.email }}) {{ deal.name }}."
        ),
        record=lead,
        sender=rep1,
    )
    assert rendered.subject == "Fleet telematics for Acme Logistics"
    assert rendered.text == (
        f"Hi Maria,\n\nBudget 50k / 50k.\n\nSam ({rep1.email}) ."  # no deal yet: blank
    )


def test_template_text_is_used_when_no_subject_or_body_is_given(lead, rep1):
    template = EmailTemplateFactory(
        subject="About {{ lead.name }}", body="Hello {{ lead.contact_name }}"
    )
    rendered = services.email_template_render(template=template, record=lead, sender=rep1)
    assert (rendered.subject, rendered.text) == ("About Fleet telematics", "Hello Maria Lopez")


def test_a_person_and_a_deal_provide_their_own_merge_fields(rep1):
    from tests.deals.factories import make_deal

    person = PersonFactory(owner=rep1, first_name="Ann")
    deal = make_deal(rep1, name="Big deal", person=person)
    assert (
        rendering.render(subject="{{ person.first_name }}", body="x", record=person).subject
        == "Ann"
    )
    out = rendering.render(subject="{{ deal.name }} {{ person.first_name }}", body="x", record=deal)
    assert out.subject == "Big deal Ann"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{{ lead.nope }}", "nope"),
        ("{{ cf.unknown }}", "unknown"),
        ("{{ sender.password }}", "password"),
        ("{{ user.password }}", "unknown kind"),
        ("{{ lead.name|upper }}", "not a merge field"),
        ("{% load static %}{{ name }}", "not a merge field"),
    ],
)
def test_unknown_merge_fields_are_refused(manager, text, problem):
    with pytest.raises(ValidationFailed) as exc:
        services.email_template_create(by=manager, name="T", subject="Hi", body=text)
    assert problem in " ".join(exc.value.details["body"])
    assert not EmailTemplate.objects.exists()


def test_merged_values_cannot_inject_markup(rep1):
    lead = LeadFactory(owner=rep1, name='<script>alert(1)</script><a href="javascript:x">y</a>')
    out = rendering.render(subject="{{ lead.name }}", body="About {{ lead.name }}", record=lead)
    assert "<script" not in out.html and "<a" not in out.html  # shown as text, not markup
    assert "&lt;script&gt;" in out.html and "&lt;a href=" in out.html


def test_plain_text_becomes_sanitised_html():
    html = rendering.text_to_html(
        "Hello **Maria**,\nsee *this* and [the offer](https://example.com/a?b=1&c=2).\n\n"
        "Also https://example.com/x. And [bad](javascript:alert(1)) <b onclick=x>raw</b>"
    )
    assert html.startswith("<p>Hello <strong>Maria</strong>,<br>\nsee <em>this</em>")
    assert (
        '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer">the offer</a>'
        in html
    )
    assert (
        '<a href="https://example.com/x" rel="noopener noreferrer">https://example.com/x</a>.'
        in html
    )
    assert 'href="javascript' not in html and "[bad](javascript:alert(1))" in html
    assert "<b " not in html and "&lt;b onclick=x&gt;raw&lt;/b&gt;" in html
    assert html.count("<p>") == 2


# --- management ----------------------------------------------------------------------------------
def test_only_managers_and_admins_manage_templates(rep1, manager, admin_user):
    with pytest.raises(PermissionDenied):
        services.email_template_create(by=rep1, name="T", subject="S", body="B")
    template = services.email_template_create(by=manager, name=" T ", subject="S", body="B")
    assert template.name == "T" and template.is_active and template.created_by == manager
    services.email_template_update(by=admin_user, template=template, data={"subject": "New"})
    template.refresh_from_db()
    assert template.subject == "New"
    with pytest.raises(PermissionDenied):
        services.email_template_deactivate(by=rep1, template=template)
    services.email_template_deactivate(by=manager, template=template)
    template.refresh_from_db()
    assert template.is_active is False


def test_template_names_are_unique(manager):
    """Another template's name is a conflict (409 in the API), on create and on rename."""
    services.email_template_create(by=manager, name="Intro", subject="S", body="B")
    with pytest.raises(Conflict) as exc:
        services.email_template_create(by=manager, name="Intro", subject="S", body="B")
    assert "name" in exc.value.details and exc.value.code == "already_exists"
    other = services.email_template_create(by=manager, name="Other", subject="S", body="B")
    with pytest.raises(Conflict):
        services.email_template_update(by=manager, template=other, data={"name": "Intro"})
    renamed = services.email_template_update(by=manager, template=other, data={"name": "Other"})
    assert renamed.name == "Other"  # its own name is not a conflict


def test_preview_uses_the_newest_visible_record_and_refuses_an_invisible_one(rep1, rep2, lead):
    rendered = services.email_template_preview(by=rep1, subject="{{ lead.name }}", body="x")
    assert rendered.subject == "Fleet telematics"
    with pytest.raises(NotFound):
        services.email_template_preview(by=rep2, subject="x", body="y", record=lead)
    # rep2 sees no record at all: the merge fields stay blank.
    assert (
        services.email_template_preview(by=rep2, subject="A {{ lead.name }}", body="y").subject
        == "A"
    )


def test_template_pages_are_for_managers(web, rep1, manager):
    assert web(rep1).get(LIST_URL).status_code == 403
    client = web(manager)
    EmailTemplateFactory(name="Intro")
    inactive = EmailTemplateFactory(name="Old", is_active=False)
    page = client.get(LIST_URL)
    assert page.status_code == 200
    assert b"Intro" in page.content and b"Old" in page.content
    assert b'data-testid="nav-email-templates"' in page.content
    response = client.post(
        "/settings/email-templates/new/",
        {"name": "Demo", "subject": "Demo for {{ lead.name }}", "body": "Hi", "is_active": "on"},
    )
    assert response.status_code == 302
    template = EmailTemplate.objects.get(name="Demo")
    assert response["Location"] == f"/settings/email-templates/{template.pk}/?saved=1"
    bad = client.post(
        f"/settings/email-templates/{template.pk}/",
        {"name": "Demo", "subject": "x", "body": "{{ lead.nope }}"},
    )
    assert bad.status_code == 400 and b"nope" in bad.content
    client.post(f"/settings/email-templates/{template.pk}/deactivate/")
    template.refresh_from_db()
    assert not template.is_active and inactive.pk


def test_the_template_page_previews_on_a_sample_record(web, manager, rep1):
    LeadFactory(owner=rep1, name="Visible to managers")
    client = web(manager)
    template = EmailTemplateFactory(
        subject="About {{ lead.name }}", body="**Hi** {{ sender.first_name }}"
    )
    page = client.get(f"/settings/email-templates/{template.pk}/")
    assert page.status_code == 200
    assert b"About Visible to managers" in page.content
    assert f"<strong>Hi</strong> {manager.first_name}".encode() in page.content
    partial = client.post(
        "/settings/email-templates/preview/", {"subject": "Re {{ lead.name }}", "body": "x"}
    )
    assert partial.status_code == 200 and b"Re Visible to managers" in partial.content
    assert b"<html" not in partial.content  # the region alone
    errors = client.post("/settings/email-templates/preview/", {"subject": "{{ x }}", "body": ""})
    assert b'data-testid="preview-errors"' in errors.content
