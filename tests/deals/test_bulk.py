"""The generic bulk helper (crm.bulk), applied to deals with their services."""

import pytest

from crm.bulk import BulkResult, Refusal, bulk_apply
from crm.errors import ValidationFailed
from deals import selectors, services
from deals.models import Deal
from tests.deals.factories import make_deal
from wfm.defaults import DealStep


def assign_all(user, ids, assignee):
    return bulk_apply(
        queryset=selectors.deal_list(user=user),
        ids=ids,
        action=lambda deal: services.deal_assign(by=user, deal=deal, assignee=assignee),
        verb="assigned",
    )


def test_applies_the_service_to_each_record(rep1, rep2):
    deals = [make_deal(rep1) for _ in range(3)]
    result = assign_all(rep1, [d.pk for d in deals], rep2)
    assert result.ok and result.level == "success"
    assert result.summary() == "3 assigned"
    assert set(Deal.objects.values_list("assigned_to", flat=True)) == {rep2.pk}


def test_invisible_deleted_and_malformed_ids_are_not_found(rep1, rep2):
    mine = make_deal(rep1)
    theirs = make_deal(rep2)
    gone = make_deal(rep1)
    services.deal_delete(by=rep1, deal=gone)
    result = assign_all(rep1, [str(mine.pk), str(theirs.pk), str(gone.pk), "junk"], rep2)
    assert [d.pk for d in result.done] == [mine.pk]
    assert sorted(r.id for r in result.refused) == sorted([str(theirs.pk), str(gone.pk), "junk"])
    assert {r.code for r in result.refused} == {"not_found"}
    assert result.summary() == "1 assigned, 3 refused: Not found, or not visible to you. (×3)"
    assert Deal.objects.get(pk=theirs.pk).assigned_to is None


def test_a_refusal_does_not_undo_the_others(rep1, steps):
    ok = make_deal(rep1)
    closed = make_deal(rep1, step=DealStep.CLOSED_LOST)
    result = bulk_apply(
        queryset=selectors.deal_list(user=rep1),
        ids=[closed.pk, ok.pk],
        action=lambda deal: services.deal_transition(
            by=rep1, deal=deal, to_step=steps[DealStep.INITIAL_CONTACT]
        ),
        verb="moved",
    )
    assert [d.pk for d in result.done] == [ok.pk]
    (refusal,) = result.refused
    assert refusal.code == "transition_not_allowed" and refusal.record.pk == closed.pk
    assert result.summary().startswith("1 moved, 1 refused: Cannot move")
    assert result.level == "warning"


def test_duplicates_are_applied_once(rep1, rep2):
    deal = make_deal(rep1)
    result = assign_all(rep1, [deal.pk, str(deal.pk)], rep2)
    assert len(result.done) == 1 and not result.refused


def test_empty_and_oversized_selections_are_refused(rep1):
    with pytest.raises(ValidationFailed):
        assign_all(rep1, [], rep1)
    with pytest.raises(ValidationFailed) as exc:
        bulk_apply(
            queryset=selectors.deal_list(user=rep1),
            ids=[str(n) for n in range(3)],
            action=lambda deal: None,
            max_records=2,
        )
    assert "at most 2" in exc.value.message


def test_other_exceptions_are_bugs_and_propagate(rep1):
    deal = make_deal(rep1)

    def broken(_):
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        bulk_apply(queryset=selectors.deal_list(user=rep1), ids=[deal.pk], action=broken)


def test_summary_names_the_most_frequent_reason_and_counts_the_others():
    result = BulkResult(
        verb="moved",
        refused=[
            Refusal(id="1", message="A", code="x"),
            Refusal(id="2", message="B", code="x"),
            Refusal(id="3", message="B", code="x"),
            Refusal(id="4", message="C", code="x"),
        ],
    )
    assert result.summary() == "0 moved, 4 refused: B (×2); and 2 other reasons"
    assert result.level == "error"
