"""Demo leads: 200 over the last ~6.5 months, worked through the Lead Qualification
workflow by rep1, rep2 and the manager, so that every dashboard panel has something true to
show and the conversion model has finished leads to learn from.

- **Arrivals**: more on weekdays than at weekends, a growing trend, a trade-show burst of
  event leads about three months ago and an email campaign about six weeks ago.
- **Sources** convert differently (referrals and partners best, cold calls worst), and so
  does fit: the ``industry`` and ``company_size`` custom fields (``customfields.demo``) are
  what the scoring profile's demographic factors read.
- **Outcomes**: older leads have mostly finished (converted into a person, an organization and
  a deal, or disqualified with a reason); younger ones are open at every step. The deals of
  converted leads were then won or lost, or are still open in the pipeline.
- **Attribution**: marketing leads carry UTM first touches; some came back through another
  campaign later, so first and last touch differ.

Everything is done through the services, as the demo users, so permissions, workflow
history, simple-history, touch points and events are those of real use. The services stamp
``now()``; each lead's timestamps (its creation, every workflow move, qualification,
conversion, touch points, its history rows and those of the records it became) are then set
to the lead's own timeline with queryset ``update()``s, which touch timestamps only. The
activities of these leads are ``activities.demo``'s; the final rescore and the training of
the conversion model are ``finish`` below, run once every app has seeded.

Deterministic (``random.Random(42)``, dates relative to now) and idempotent (skipped once the
demo users' leads exist).
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from crm import permissions
from crm import services as crm_services
from crm.formatting import temperature
from crm.models import Organization, Person, User
from deals import demo as deals_demo
from duplicates import rules as duplicate_rules
from leads import selectors, services
from leads.models import CaptureForm, ConversionModel, Lead, TouchPoint
from leads.predictive import MIN_FINISHED, finished_leads, train_conversion_model
from leads.scoring.services import open_leads, rescore_leads
from wfm.defaults import DealStep, LeadStep
from wfm.models import Project, StatusHistory

# name, industry, company size (the domain is derived from the name: one per company)
COMPANIES = [
    ("Northwind Traders", "Retail", "201-1000"),
    ("Contoso Pharma", "Healthcare", "1000+"),
    ("Fabrikam Motors", "Manufacturing", "1000+"),
    ("Tailspin Toys", "Retail", "51-200"),
    ("Wingtip Travel", "Hospitality", "11-50"),
    ("Adventure Works", "Manufacturing", "201-1000"),
    ("Blue Yonder Air", "Logistics", "1000+"),
    ("Coho Winery", "Hospitality", "11-50"),
    ("Litware Labs", "Software", "51-200"),
    ("Proseware Systems", "Software", "201-1000"),
    ("Lucerne Publishing", "Media", "51-200"),
    ("Margie's Travel", "Hospitality", "1-10"),
    ("Trey Research", "Technology", "51-200"),
    ("Woodgrove Bank", "Financial Services", "1000+"),
    ("Alpine Ski House", "Hospitality", "11-50"),
    ("Humongous Insurance", "Financial Services", "1000+"),
    ("Wide World Importers", "Logistics", "201-1000"),
    ("Graphic Design Institute", "Education", "11-50"),
    ("Fourth Coffee", "Retail", "51-200"),
    ("School of Fine Art", "Education", "51-200"),
    ("Relecloud", "Technology", "201-1000"),
    ("VanArsdel Foods", "Manufacturing", "51-200"),
    ("Bellows College", "Education", "201-1000"),
    ("Datum Corporation", "Technology", "1000+"),
    ("Consolidated Messenger", "Logistics", "11-50"),
    ("First Up Consultants", "Financial Services", "11-50"),
    ("Lamna Healthcare", "Healthcare", "201-1000"),
    ("Munson's Pickles", "Manufacturing", "1-10"),
    ("Nod Publishers", "Media", "11-50"),
    ("Southridge Video", "Media", "51-200"),
    ("Tailwind Analytics", "Software", "11-50"),
    ("Woodland Clinic", "Healthcare", "51-200"),
]
FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Diego",
    "Emma",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Mei",
    "Noah",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
]
LAST = [
    "Andersen",
    "Brown",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Müller",
    "Novak",
    "Okafor",
    "Peters",
]
TOPICS = [
    "CRM rollout",
    "Website redesign",
    "Fleet telematics",
    "Data warehouse",
    "Support desk",
    "Marketing automation",
    "Security audit",
    "Mobile app",
    "ERP integration",
    "Training",
]
DISQUALIFY_REASONS = [
    "No budget this year",
    "Chose a competitor",
    "Not a decision maker",
    "Student project",
    "No reply after several attempts",
    "Too small for our offer",
]

TARGET = 200
DAYS = 200  # leads arrive over the last DAYS days

# source: (weight, how often it converts). Import is the importer's, not the demo's.
SOURCES = {
    Lead.Source.WEB: (26, 0.32),
    Lead.Source.REFERRAL: (10, 0.65),
    Lead.Source.PARTNER: (7, 0.55),
    Lead.Source.EVENT: (9, 0.40),
    Lead.Source.EMAIL_CAMPAIGN: (12, 0.22),
    Lead.Source.SOCIAL: (8, 0.18),
    Lead.Source.ADVERTISING: (10, 0.18),
    Lead.Source.COLD_CALL: (10, 0.08),
    Lead.Source.OTHER: (3, 0.15),
}
# Marketing sources carry UTM attribution: (utm_source, utm_medium, campaigns).
UTM = {
    Lead.Source.WEB: [("google", "organic", ""), ("google", "cpc", "brand-search")],
    Lead.Source.EMAIL_CAMPAIGN: [("newsletter", "email", "autumn-webinar")],
    Lead.Source.SOCIAL: [("linkedin", "social", "thought-leadership")],
    Lead.Source.ADVERTISING: [("google", "cpc", "competitor-terms"), ("bing", "cpc", "crm-trial")],
    Lead.Source.EVENT: [("expo", "event", "logistics-expo")],
}
# A later touch of some marketing leads: they came back through another campaign.
LATER_TOUCHES = [
    ("newsletter", "email", "monthly-digest"),
    ("linkedin", "social", "customer-story"),
    ("google", "cpc", "retargeting"),
    ("webinar", "email", "product-tour"),
]
TARGET_INDUSTRIES = {"Software", "Technology", "Financial Services", "Healthcare", "Manufacturing"}
TARGET_SIZES = {"51-200", "201-1000", "1000+"}
# How fast each worker answers a new lead: median hours to the first contact.
RESPONSE_HOURS = {"rep1": 1.5, "rep2": 7.0, "manager": 20.0}


@dataclass
class Plan:
    """One demo lead's life: who, where from, and when each move happened."""

    n: int
    creator: str
    assignee: str | None
    company: tuple[str, str, str]
    source: str
    created: datetime
    outcome: str  # converted, disqualified, open
    moves: list[tuple[str, datetime]] = field(default_factory=list)  # (step, at), in order
    touch: tuple[str, str, str] | None = None
    later_touch: tuple[tuple[str, str, str], datetime] | None = None


def seed(users: dict[str, User], out) -> None:
    form = _seed_capture_form(users, out)
    existing = Lead.all_objects.filter(created_by__username__in=["rep1", "rep2", "manager"]).count()
    if existing >= TARGET:
        out.write(f"  {existing} leads")
        return
    rng = random.Random(42)
    plans = [_plan(n, rng) for n in range(TARGET)][existing:]
    lead_steps = {s.name: s for s in _steps()}
    deal_steps = deals_demo.steps_by_name()
    names = _ContactNames()
    outcomes = Counter()
    for plan in plans:
        _make(plan, users, rng, lead_steps, deal_steps, form, names)
        outcomes[plan.outcome] += 1
    out.write(
        f"  {Lead.all_objects.count()} leads ({outcomes['converted']} converted, "
        f"{outcomes['disqualified']} disqualified, {outcomes['open']} open)"
    )


# --- the plan -----------------------------------------------------------------------------------
def _day_weights(today) -> list[float]:
    """How many leads arrive ``d`` days ago, relatively: weekdays over weekends, a growing
    trend, a trade show (event leads) ~95 days ago and a campaign ~42 days ago."""
    weights = []
    for d in range(DAYS):
        day = today - timedelta(days=d)
        weekday = {5: 0.3, 6: 0.15}.get(day.weekday(), 1.0)
        trend = 0.4 + 0.9 * (1 - d / DAYS)
        bump = 1.8 if 92 <= d <= 96 else 1.5 if 40 <= d <= 44 else 1.0
        weights.append(weekday * trend * bump)
    return weights


def _plan(n: int, rng: random.Random) -> Plan:
    now = timezone.now()
    today = timezone.localdate()
    days_ago = rng.choices(range(DAYS), weights=_day_weights(today))[0]
    company = rng.choice(COMPANIES)
    source = rng.choices(list(SOURCES), weights=[w for w, _ in SOURCES.values()])[0]
    if 92 <= days_ago <= 96 and rng.random() < 0.6:
        source = Lead.Source.EVENT
    elif 40 <= days_ago <= 44 and rng.random() < 0.5:
        source = Lead.Source.EMAIL_CAMPAIGN
    creator = rng.choices(["rep1", "rep2", "manager"], weights=[4, 4, 2])[0]
    if creator == "manager":
        assignee = rng.choices(["manager", "rep1", "rep2", None], weights=[3, 3, 3, 1])[0]
    else:
        assignee = creator if rng.random() < 0.97 else None
    local = timezone.localtime(now) - timedelta(days=days_ago)
    created = local.replace(
        hour=rng.choice([8, 9, 9, 10, 10, 11, 13, 14, 14, 15, 16, 17]),
        minute=rng.randrange(60),
        second=rng.randrange(60),
        microsecond=0,
    )
    created = min(created, now - timedelta(minutes=rng.randrange(20, 90)))
    plan = Plan(n, creator, assignee, company, source, created, "open")
    if source in UTM:
        plan.touch = rng.choice(UTM[source])
        if source == Lead.Source.EVENT:
            plan.touch = plan.touch if days_ago >= 90 else ("meetup", "event", "local-meetup")
    # The workflow: first contact, then qualified and converted, or disqualified on the way.
    _, rate = SOURCES[source]
    fit = (company[1] in TARGET_INDUSTRIES) + (company[2] in TARGET_SIZES)
    converts = rng.random() < min(0.9, rate * (0.55, 1.0, 1.45)[fit])
    if assignee is None:
        return plan  # nobody works it (yet): New
    median = RESPONSE_HOURS[assignee]
    contacted = created + timedelta(hours=median * rng.lognormvariate(0, 0.8))
    if converts:
        qualified = contacted + timedelta(days=rng.uniform(4, 30), hours=rng.uniform(0, 6))
        converted = qualified + timedelta(days=rng.uniform(3, 25), hours=rng.uniform(0, 6))
        path = [(LeadStep.CONTACTED, contacted), (LeadStep.QUALIFIED, qualified)]
        path.append((LeadStep.CONVERTED, converted))
    else:
        # Disqualified from New (never reached), Contacted or Qualified.
        stop = rng.choices([0, 1, 2], weights=[25, 55, 20])[0]
        path = [(LeadStep.CONTACTED, contacted)] if stop else []
        if stop == 2:
            path.append((LeadStep.QUALIFIED, contacted + timedelta(days=rng.uniform(4, 25))))
        last = path[-1][1] if path else created + timedelta(hours=median)
        disqualified = last + timedelta(days=rng.uniform(3, 40), hours=rng.uniform(0, 6))
        path.append((LeadStep.DISQUALIFIED, disqualified))
    # Some leads simply stall: their last planned moves never happened.
    stalls = rng.random() < 0.25
    for step, at in path:
        final = step in (LeadStep.CONVERTED, LeadStep.DISQUALIFIED)
        if at > now - timedelta(hours=2) or (stalls and final):
            break
        plan.moves.append((step, at))
    if plan.moves and plan.moves[-1][0] == LeadStep.CONVERTED:
        plan.outcome = "converted"
    elif plan.moves and plan.moves[-1][0] == LeadStep.DISQUALIFIED:
        plan.outcome = "disqualified"
    if plan.touch and rng.random() < 0.35:
        end = plan.moves[-1][1] if plan.outcome != "open" else now
        at = created + (end - created) * rng.uniform(0.2, 0.8)
        later = rng.choice([t for t in LATER_TOUCHES if t[0] != plan.touch[0]])
        plan.later_touch = (later, at)
    return plan


# --- making it true -----------------------------------------------------------------------------
class _ContactNames:
    """The contact names already at each company, so that a generated contact is never by
    chance alike another there (the duplicate finder would list the pair, and the demo's
    duplicates are only the ones entered on purpose, ``duplicates.demo``)."""

    def __init__(self) -> None:
        self.by_company: dict[str, list[str]] = {}
        for company, contact in Lead.all_objects.values_list("company_name", "contact_name"):
            self.add(company, contact)
        for company, first, last in Person.all_objects.values_list(
            "organization__name", "first_name", "last_name"
        ):
            self.add(company or "", f"{first} {last}")

    def add(self, company: str, contact: str) -> None:
        key = duplicate_rules.normalise_company(company)
        self.by_company.setdefault(key, []).append(duplicate_rules.normalise_name(contact))

    def pick(self, company: str, rng: random.Random, n: int) -> tuple[str, str]:
        """A first and last name for a new contact at ``company``: ``rng``'s draw, or where
        that is taken, a draw of the lead's own (so the other leads' draws stay the same)."""
        taken = self.by_company.get(duplicate_rules.normalise_company(company), [])
        first, last = rng.choice(FIRST), rng.choice(LAST)
        redraw = random.Random(f"contact-{n}")
        while any(duplicate_rules.names_alike(f"{first} {last}", other) for other in taken):
            first, last = redraw.choice(FIRST), redraw.choice(LAST)
        self.add(company, f"{first} {last}")
        return first, last


def _make(plan: Plan, users, rng, lead_steps, deal_steps, form, names: _ContactNames) -> None:
    creator = users[plan.creator]
    assignee = users[plan.assignee] if plan.assignee else None
    name, industry, size = plan.company
    first, last = names.pick(name, rng, plan.n)
    domain = _domain(name)
    touch = {}
    channel = TouchPoint.Channel.MANUAL
    if plan.touch:
        utm_source, utm_medium, utm_campaign = plan.touch
        touch = {"utm_source": utm_source, "utm_medium": utm_medium, "utm_campaign": utm_campaign}
        touch = {k: v for k, v in touch.items() if v}
    extra = {}
    if plan.source == Lead.Source.WEB and form is not None:
        channel = TouchPoint.Channel.CAPTURE
        extra = {"touch": {"form": form}, "landing_page": "https://pipecrm.example/pricing"}
    value = Decimal(rng.randrange(30, 900) * 100)
    marks = _Marks()
    lead = services.lead_create(
        by=creator,
        name=f"{name} – {rng.choice(TOPICS)}",
        source=plan.source,
        company_name=name,
        contact_name=f"{first} {last}",
        contact_email=f"{_ascii(first)}.{_ascii(last)}{plan.n}@{domain}",
        contact_phone=f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
        estimated_value=value,
        estimated_close_date=(plan.created + timedelta(days=rng.randrange(30, 150))).date(),
        priority=rng.choices([c for c, _ in Lead.Priority.choices], weights=[3, 5, 3, 1])[0],
        assigned_to=assignee,
        custom_field_values={"industry": industry, "company_size": size},
        channel=channel,
        **touch,
        **extra,
    )
    marks.stamp(lead, plan.created)
    if lead.last_touch_at:  # the first touch was the lead's arrival
        TouchPoint.objects.filter(lead=lead).update(at=plan.created)
        Lead.all_objects.filter(pk=lead.pk).update(last_touch_at=plan.created)
    worker = assignee or creator
    later_done = False
    for step, at in plan.moves:
        if plan.later_touch and not later_done and plan.later_touch[1] < at:
            _later_touch(worker, lead, plan, marks)
            later_done = True
        if step == LeadStep.CONTACTED:
            services.lead_transition(by=worker, lead=lead, to_step=lead_steps[step])
        elif step == LeadStep.QUALIFIED:
            services.lead_qualify(by=worker, lead=lead, notes=_qualification_notes(rng))
        elif step == LeadStep.DISQUALIFIED:
            services.lead_disqualify(by=worker, lead=lead, reason=rng.choice(DISQUALIFY_REASONS))
        elif step == LeadStep.CONVERTED:
            _convert(worker, lead, plan, at, users, rng, deal_steps)
        marks.stamp(lead, at)
    if plan.later_touch and not later_done and plan.outcome == "open":
        _later_touch(worker, lead, plan, marks)
    _backdate(lead, plan)


class _Marks:
    """Stamps the simple-history rows each service call wrote with the demo time of the call
    (the services stamp now(); the rows stamped before are in the past by then)."""

    def __init__(self):
        self.since = timezone.now()

    def stamp(self, lead: Lead, at: datetime) -> None:
        history = Lead.history.model.objects.filter(id=lead.pk, history_date__gte=self.since)
        history.update(history_date=at)
        self.since = timezone.now()


def _later_touch(worker: User, lead: Lead, plan: Plan, marks: _Marks) -> None:
    (utm_source, utm_medium, utm_campaign), at = plan.later_touch
    touch = services.touch_point_add(
        by=worker,
        lead=lead,
        channel=TouchPoint.Channel.CAPTURE if utm_medium == "email" else TouchPoint.Channel.API,
        attribution={
            "utm_source": utm_source,
            "utm_medium": utm_medium,
            "utm_campaign": utm_campaign,
        },
    )
    TouchPoint.objects.filter(pk=touch.pk).update(at=at)
    Lead.all_objects.filter(pk=lead.pk).update(last_touch_at=at)
    marks.stamp(lead, at)


def _convert(worker, lead, plan, at, users, rng, deal_steps) -> None:
    """Convert as a rep would: into a person, a deal and the company's organization, linked
    when the company is already one (no second organization for the same domain). The deal
    then went down the pipeline: won or lost for older conversions, still open for recent."""
    now = timezone.now()
    domain = _domain(plan.company[0])
    organization = Organization.objects.filter(domain=domain).first()
    by = worker
    if organization is not None and not permissions.can_view(by, organization):
        by = users["manager"]  # the company is another rep's account: the manager links it
    age = (now - at).days
    close = at + timedelta(days=rng.uniform(8, 60))
    if close < now - timedelta(days=1):
        target = DealStep.CLOSED_WON if rng.random() < 0.6 else DealStep.CLOSED_LOST
        close_date = timezone.localtime(close).date()
    else:
        target = deals_demo.OPEN_PATH[min(4, age // 6)]
        close_date = timezone.localdate() + timedelta(days=rng.randrange(3, 120))
        close = at if target == DealStep.QUALIFICATION else at + (now - at) * 0.6
    result = services.lead_convert(
        by=by,
        lead=lead,
        organization=organization or True,
        deal={"expected_close_date": close_date},
    )
    deal = result.deal
    deals_demo.walk(deal, target, by, deal_steps, plan.n)
    deals_demo.backdate(deal, created=at, entered=close)
    if result.created["organization"]:
        # The rep filled in the new account's industry and size from the lead.
        crm_services.organization_update(
            by=by,
            organization=result.organization,
            data={"industry": plan.company[1], "size": plan.company[2]},
        )
        Organization.all_objects.filter(pk=result.organization.pk).update(
            created_at=at, updated_at=at
        )
        result.organization.history.update(history_date=at)
    if result.created["person"]:
        Person.all_objects.filter(pk=result.person.pk).update(created_at=at, updated_at=at)
        result.person.history.update(history_date=at)


def _backdate(lead: Lead, plan: Plan) -> None:
    """The lead's own timeline: creation, assignment, every workflow move (the first row of
    its status history is its creation), qualification, conversion and first touch."""
    times = [plan.created, *(at for _, at in plan.moves)]
    moves = StatusHistory.objects.filter(project_id=lead.wfm_project_id).order_by("at", "pk")
    for move, at in zip(moves, times, strict=False):
        StatusHistory.objects.filter(pk=move.pk).update(at=at)
    last = times[-1]
    Project.objects.filter(pk=lead.wfm_project_id).update(created_at=plan.created, updated_at=last)
    fields = {"created_at": plan.created, "updated_at": last}
    if plan.assignee:
        fields["assigned_at"] = plan.created
    for step, at in plan.moves:
        if step == LeadStep.QUALIFIED:
            fields["qualified_at"] = at
        elif step == LeadStep.CONVERTED:
            fields["converted_at"] = at
    Lead.all_objects.filter(pk=lead.pk).update(**fields)


def _qualification_notes(rng: random.Random) -> str:
    return rng.choice(
        [
            "Budget approved for this quarter; the COO decides; wants to start next month.",
            "Budget and timeline confirmed on the call; IT lead is our champion.",
            "Clear pain with manual reporting; budget confirmed, decision this quarter.",
        ]
    )


def _domain(company: str) -> str:
    return _ascii(company).replace("'", "").replace(" ", "") + ".example"


def _seed_capture_form(users: dict[str, User], out) -> CaptureForm:
    """An active "Website contact" form (hosted at /f/website-contact/) to try capture at once;
    its leads go to the assignment rules."""
    from leads.capture import services as capture_services

    form = CaptureForm.objects.filter(slug="website-contact").first()
    if form is None:
        form = capture_services.capture_form_create(
            by=users["manager"],
            name="Website contact",
            slug="website-contact",
            default_sub_source="Contact page",
            thank_you_message="Thank you! Our team will reply within one business day.",
        )
    out.write(f"  capture form “{form.name}”: /f/{form.slug}/ (key {form.key})")
    return form


def _ascii(name: str) -> str:
    """An email-safe spelling of a name (García → garcia)."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def _steps():
    workflow = selectors.lead_project_type().default_workflow
    from wfm.selectors import step_list

    return step_list(workflow=workflow)


# --- after every app has seeded ------------------------------------------------------------------
def finish(users: dict[str, User], out) -> None:
    """Score the demo leads as they stand and train the conversion model.

    A finished lead keeps the score it finished with (the nightly rescore leaves it alone),
    so each is scored at the moment it finished; the open leads are scored now. Then the
    conversion model is trained on the finished leads, unless a model exists already.
    """
    unscored = finished_leads().filter(score_updated_at__isnull=True)
    ends = StatusHistory.objects.filter(
        project__lead__in=unscored, to_step__is_final=True
    ).values_list("project__lead__pk", "at")
    for lead_id, at in ends:
        rescore_leads(Lead.objects.filter(pk=lead_id), now=at)
    rescore_leads(open_leads())
    bands = Counter(temperature(s) for s in open_leads().values_list("lead_score", flat=True))
    out.write(
        f"  open leads by temperature: {bands['cold']} cold, {bands['warm']} warm, "
        f"{bands['hot']} hot"
    )
    if ConversionModel.objects.exists():
        return
    finished = finished_leads().count()
    if finished < MIN_FINISHED:
        out.write(f"  conversion model not trained: {finished} finished leads")
        return
    report = train_conversion_model(seed=0)
    out.write(f"  conversion model: {report.message}")
