import io

from crm.demo import ensure_users
from crm.demo import seed as seed_crm
from deals import demo
from deals.models import Deal
from wfm.defaults import DealStep
from wfm.models import WorkflowStep


def test_seed_spreads_deals_over_every_step_and_is_idempotent(db):
    users = ensure_users()
    seed_crm(users, io.StringIO())
    demo.seed(users, io.StringIO())

    deals = Deal.objects.select_related("wfm_project__current_step__status", "owner")
    assert deals.count() == len(demo.DEALS) >= 30
    steps = {d.wfm_project.current_step.name for d in deals}
    assert steps == {
        s.status.name for s in WorkflowStep.objects.filter(workflow__name="Sales Pipeline")
    }
    assert {d.owner.username for d in deals} == {"rep1", "rep2", "manager"}
    assert all(d.organization_id for d in deals)
    won = deals.get(name="Acme Robotics – Line 3 retrofit")
    assert won.won_at and won.wfm_project.current_step.name == DealStep.CLOSED_WON
    assert deals.filter(lost_reason="").exclude(lost_at=None).count() == 0

    out = io.StringIO()
    demo.seed(users, out)
    assert Deal.objects.count() == len(demo.DEALS) and "(0 new)" in out.getvalue()
