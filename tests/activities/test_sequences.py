"""Nurture sequences with a frozen clock (SPEC §6): steps on their days, stops."""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from activities import services
from activities.models import Activity, SequenceEnrollment
from activities.tasks import advance_sequences
from crm.errors import Conflict, PermissionDenied
from leads import services as lead_services
from tests.activities.conftest import run_events
from tests.activities.factories import SequenceFactory

START = timezone.make_aware(datetime(2025, 3, 3, 9, 0))  # a Monday


@pytest.fixture
def sequence(db):
    return SequenceFactory(
        name="Inbound nurture",
        steps=[
            (0, "email", "Intro email to {lead.contact_name}"),
            (2, "call", "Call {lead.contact_name}"),
            (3, "email", "Case study for {lead.name}"),
        ],
    )


def sequence_activities(lead):
    return list(
        Activity.objects.filter(lead=lead, metadata__automation_trigger="sequence").order_by(
            "due_at"
        )
    )


def run_days(days: int) -> list[list[str]]:
    """Advance the clock day by day at 09:30, running the beat task; what each day created."""
    created = []
    for day in range(days + 1):
        with time_machine.travel(START + timedelta(days=day, minutes=30), tick=False):
            before = set(Activity.objects.values_list("pk", flat=True))
            advance_sequences()
            advance_sequences()  # a second beat tick the same day changes nothing
            created.append(
                list(
                    Activity.objects.exclude(pk__in=before)
                    .order_by("created_at")
                    .values_list("subject", flat=True)
                )
            )
    return created


def test_steps_create_activities_on_their_days(rep1, rep2, lead, sequence):
    lead.assigned_to = rep2
    lead.save(update_fields=["assigned_to"])
    with time_machine.travel(START, tick=False):
        enrollment = services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    # The first step (delay 0) ran at enrolment.
    first = sequence_activities(lead)
    assert [a.subject for a in first] == ["Intro email to Maria Lopez"]
    assert first[0].assigned_to == rep2 and first[0].is_system_activity
    assert first[0].metadata["sequence_step"] == 1

    created = run_days(6)
    assert created[0] == created[1] == []
    assert created[2] == ["Call Maria Lopez"]  # 2 days after the first
    assert created[3] == created[4] == []
    assert created[5] == [f"Case study for {lead.name}"]  # 3 days after the second
    assert created[6] == []
    dues = [timezone.localtime(a.due_at).date().isoformat() for a in sequence_activities(lead)]
    # Due at the end of their day; the third falls on a Saturday: due on Monday.
    assert dues == ["2025-03-03", "2025-03-05", "2025-03-10"]
    assert {timezone.localtime(a.due_at).hour for a in sequence_activities(lead)} == {17}
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.COMPLETED
    assert enrollment.steps_done == 3 and enrollment.next_run_at is None


def test_conversion_stops_the_sequence(rep1, lead, sequence):
    with time_machine.travel(START, tick=False):
        enrollment = services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    with time_machine.travel(START + timedelta(days=1), tick=False):
        lead_services.lead_convert(by=rep1, lead=lead)
        run_events()
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.STOPPED
    assert "converted" in enrollment.stop_reason
    assert run_days(8) == [[]] * 9  # no further step
    assert len(sequence_activities(lead)) == 1


def test_a_converted_lead_is_stopped_by_the_beat_even_before_its_event_ran(rep1, lead, sequence):
    with time_machine.travel(START, tick=False):
        enrollment = services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    lead_services.lead_convert(by=rep1, lead=lead)  # events not processed yet
    run_days(3)
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.STOPPED
    assert len(sequence_activities(lead)) == 1


def test_disqualification_stops_the_sequence(rep1, lead, sequence):
    enrollment = services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    lead_services.lead_disqualify(by=rep1, lead=lead, reason="No budget")
    run_events()
    enrollment.refresh_from_db()
    assert enrollment.status == SequenceEnrollment.Status.STOPPED
    assert "disqualified" in enrollment.stop_reason


def test_enrolling_twice_is_409_and_closed_leads_cannot_be_enrolled(rep1, lead, sequence):
    services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    with pytest.raises(Conflict) as exc:
        services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    assert exc.value.code == "already_enrolled"
    assert (
        services.sequence_enroll(by=rep1, sequence=sequence, lead=lead, skip_if_enrolled=True)
        is None
    )
    lead_services.lead_convert(by=rep1, lead=lead)
    other = SequenceFactory(steps=[(1, "task", "x")])
    with pytest.raises(Conflict):
        services.sequence_enroll(by=rep1, sequence=other, lead=lead)


def test_enrolling_needs_change_permission_on_the_lead(rep2, lead, sequence):
    with pytest.raises(PermissionDenied):
        services.sequence_enroll(by=rep2, sequence=sequence, lead=lead)


def test_inactive_or_empty_sequences_are_refused(rep1, lead):
    with pytest.raises(Conflict):
        services.sequence_enroll(by=rep1, sequence=SequenceFactory(), lead=lead)
    inactive = SequenceFactory(is_active=False, steps=[(0, "task", "x")])
    with pytest.raises(Conflict):
        services.sequence_enroll(by=rep1, sequence=inactive, lead=lead)


def test_unenroll_stops(rep1, lead, sequence):
    enrollment = services.sequence_enroll(by=rep1, sequence=sequence, lead=lead)
    services.sequence_unenroll(by=rep1, enrollment=enrollment)
    enrollment.refresh_from_db()
    assert enrollment.status == "stopped" and "Stopped by" in enrollment.stop_reason
    # It can be started again later.
    assert services.sequence_enroll(by=rep1, sequence=sequence, lead=lead).status == "active"


def test_step_templates_are_validated(db, sequence):
    from django.core.exceptions import ValidationError

    step = sequence.steps.first()
    step.subject = "Hi {lead.nope}"
    with pytest.raises(ValidationError) as exc:
        step.full_clean()
    assert "subject" in exc.value.message_dict
    step.subject = "Hi {deal.name}"
    with pytest.raises(ValidationError):
        step.full_clean()
