"""``crm.db``: many new rows at once (COPY on PostgreSQL, ``bulk_create`` elsewhere)."""

from __future__ import annotations

import pytest

from crm import db
from crm.models import AuditLog
from wfm.models import Project, ProjectType

pytestmark = pytest.mark.django_db


def test_insert_with_ids_gives_each_instance_the_key_of_its_row(rep1):
    project_type = ProjectType.objects.get(entity_type="lead")
    workflow = project_type.default_workflow
    step = workflow.steps.get(is_initial=True)
    projects = [
        Project(project_type=project_type, workflow=workflow, current_step=step, created_by=rep1)
        for _ in range(3)
    ]

    db.insert(Project, projects, with_ids=True)

    assert all(p.pk and not p._state.adding for p in projects)
    stored = Project.objects.in_bulk([p.pk for p in projects])
    assert len(stored) == 3
    assert all(s.created_at and s.current_step_id == step.pk for s in stored.values())
    # and the key's sequence moved past them: the next row gets a new key
    later = Project.objects.create(
        project_type=project_type, workflow=workflow, current_step=step, created_by=rep1
    )
    assert later.pk > max(p.pk for p in projects)


def test_insert_rows_writes_the_values_given_by_attribute_name(rep1):
    db.insert_rows(
        AuditLog,
        ["user_id", "action", "object_type", "object_id", "details"],
        [(rep1.pk, "import.test", "leads.lead", "1", {"n": 1}), (None, "import.test", "", "", {})],
    )

    rows = list(
        AuditLog.objects.filter(action="import.test").order_by("pk").values("user_id", "details")
    )
    assert rows == [{"user_id": rep1.pk, "details": {"n": 1}}, {"user_id": None, "details": {}}]


def test_inserted_instances_are_saved_ones(rep1):
    """Instances with keys of their own (UUIDs) are stored, not new, once inserted: a later
    ``save()`` updates their row instead of inserting it again (on PostgreSQL it did, and
    failed on the duplicate key: a lead of an import batch qualified afterwards)."""
    from tests.leads.factories import LeadFactory

    lead = LeadFactory.build(owner=rep1, created_by=rep1)
    lead.wfm_project.save()
    db.insert(type(lead), [lead])
    assert not lead._state.adding
    lead.name = "Renamed"
    lead.save()
    assert type(lead).objects.get(pk=lead.pk).name == "Renamed"
