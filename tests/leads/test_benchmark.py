"""The benchmark (SPEC §10, issue 17): a dataset that is a function of its size, verified by
its fingerprint on reuse and rebuilt otherwise, the same whether built with COPY
(PostgreSQL) or bulk_create, and a command that reports every screen on a tiny dataset.
The speed itself is the command's output, not a test."""

import json
from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from activities.models import Activity
from crm.models import Event
from leads import benchmark
from leads.models import Lead, LeadUserObjectPermission
from leads.scoring.services import rescore_leads
from wfm.models import StatusHistory

SCREENS = {
    "lead table page (manager)",
    "lead table page (rep)",
    "lead table filtered by custom field (manager)",
    "kanban board (manager)",
    "kanban board (rep)",
    "API list (manager)",
    "API list (rep)",
    "API list filtered and sorted (manager)",
    "API list filtered by custom field (manager)",
    "peer: table rows partial, step, by score (manager)",
    "peer: API page of 50 leads (manager)",
    "peer: leads board (manager)",
}
# What the generator makes for 300 leads, on every database. A change of the generator that
# moves these must bump benchmark.GENERATOR (so that datasets built before are rebuilt).
FINGERPRINT_300 = benchmark.Fingerprint(leads=300, activities=711, value=30_973_917)

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")


def quiet(_line: str) -> None:
    pass


def snapshot(anchor: datetime) -> dict:
    """The dataset as the database holds it, times as offsets from its anchor, users by name
    (ids differ between databases)."""
    leads = {
        lead.pk: (
            lead.name,
            lead.source,
            lead.priority,
            lead.estimated_value,
            lead.owner.username,
            lead.assigned_to.username if lead.assigned_to else None,
            lead.wfm_project.current_step_id,
            lead.is_qualified,
            lead.custom_field_values,
            anchor - lead.created_at,
            lead.first_activity_at and anchor - lead.first_activity_at,
            lead.last_activity_at and anchor - lead.last_activity_at,
        )
        for lead in Lead.all_objects.select_related("owner", "assigned_to", "wfm_project").filter(
            name__startswith=benchmark.BENCH_PREFIX
        )
    }
    activities = {
        a.pk: (
            a.lead_id,
            a.type,
            a.subject,
            a.direction,
            a.is_done,
            a.metadata,
            a.assigned_to.username,
            anchor - a.created_at,
            a.due_at and anchor - a.due_at,
            a.done_at and anchor - a.done_at,
        )
        for a in Activity.objects.select_related("assigned_to").filter(lead_id__in=leads)
    }
    permissions = sorted(
        LeadUserObjectPermission.objects.filter(content_object_id__in=leads).values_list(
            "content_object_id", "user__username", "permission__codename"
        )
    )
    history = sorted(
        StatusHistory.objects.filter(project__lead__in=leads).values_list(
            "project__lead__id", "to_step_id", "reason", "at"
        )
    )
    history = [(lead, step, reason, anchor - at) for lead, step, reason, at in history]
    return {
        "leads": leads,
        "activities": activities,
        "permissions": permissions,
        "history": history,
    }


def generated(n: int, anchor: datetime) -> dict:
    """The same view of what the generator draws, without a database write."""
    context = benchmark.Context.load()
    names = {u.pk: u.username for u in benchmark.ensure_users()[1]}
    leads, activities = {}, {}
    for g in benchmark.generate(n, context, anchor):
        lead = g.lead
        leads[lead["id"]] = (
            lead["name"],
            lead["source"],
            lead["priority"],
            lead["estimated_value"],
            names[lead["owner_id"]],
            names.get(lead["assigned_to_id"]),
            g.step.pk,
            lead["is_qualified"],
            lead["custom_field_values"],
            anchor - lead["created_at"],
            lead["first_activity_at"] and anchor - lead["first_activity_at"],
            lead["last_activity_at"] and anchor - lead["last_activity_at"],
        )
        for a in g.activities:
            activities[a["id"]] = (
                a["lead_id"],
                a["type"],
                a["subject"],
                a["direction"],
                a["is_done"],
                a["metadata"],
                names[a["assigned_to_id"]],
                anchor - a["created_at"],
                a["due_at"] and anchor - a["due_at"],
                a["done_at"] and anchor - a["done_at"],
            )
    return {"leads": leads, "activities": activities}


@pytest.mark.django_db
def test_the_fingerprint_is_the_generators_on_every_database():
    assert benchmark.expected_fingerprint(300) == FINGERPRINT_300

    dataset = benchmark.prepare(300, log=quiet)

    assert dataset.built
    assert benchmark.current_fingerprint() == FINGERPRINT_300
    assert Lead.objects.count() == 300
    assert Activity.objects.count() == FINGERPRINT_300.activities


@pytest.mark.django_db
def test_the_built_dataset_is_what_the_generator_draws():
    dataset = benchmark.prepare(300, log=quiet)

    built = snapshot(dataset.anchor)
    expected = generated(300, dataset.anchor)
    assert built["leads"] == expected["leads"]
    assert built["activities"] == expected["activities"]
    # Owner permissions (view, change, delete) and one first history row per lead, at the
    # anchor.
    assert len(built["permissions"]) == 3 * 300
    assert {row[2:] for row in built["history"]} == {(benchmark.BENCH_REASON, timedelta(0))}


@on_postgres
@pytest.mark.django_db
def test_copy_and_bulk_create_build_the_same_dataset():
    copied = benchmark.prepare(300, log=quiet, method="copy")
    by_copy = snapshot(copied.anchor)

    inserted = benchmark.prepare(300, log=quiet, method="bulk", rebuild=True)

    assert (copied.method, inserted.method) == ("copy", "bulk")
    assert snapshot(inserted.anchor) == by_copy


@pytest.mark.django_db
def test_a_reuse_keeps_the_dataset_and_its_anchor():
    first = benchmark.prepare(300, log=quiet)
    ids = set(Lead.objects.values_list("pk", flat=True))

    again = benchmark.prepare(300, log=quiet)

    assert not again.built
    assert again.anchor == first.anchor
    assert again.fingerprint == FINGERPRINT_300
    assert set(Lead.objects.values_list("pk", flat=True)) == ids


@pytest.mark.django_db
def test_a_changed_dataset_is_rebuilt():
    benchmark.prepare(300, log=quiet)
    lead = Lead.objects.get(name=f"{benchmark.BENCH_PREFIX} Lead 7")
    Lead.objects.filter(pk=lead.pk).update(estimated_value=lead.estimated_value + 1)
    assert benchmark.current_fingerprint() != FINGERPRINT_300

    dataset = benchmark.prepare(300, log=quiet)

    assert dataset.built
    assert benchmark.current_fingerprint() == FINGERPRINT_300
    assert Lead.objects.get(pk=lead.pk).estimated_value == lead.estimated_value


@pytest.mark.django_db
def test_another_size_or_a_foreign_dataset_is_rebuilt():
    benchmark.prepare(300, log=quiet)
    smaller = benchmark.prepare(200, log=quiet)
    assert smaller.built
    assert benchmark.current_fingerprint() == benchmark.expected_fingerprint(200)
    assert Lead.all_objects.count() == 200
    assert not StatusHistory.objects.filter(project__lead__isnull=True).exists()

    # A [bench] lead that the generator did not make (an older generator, a hand edit).
    lead = Lead.objects.get(name=f"{benchmark.BENCH_PREFIX} Lead 0")
    Lead.objects.filter(pk=lead.pk).update(name=f"{benchmark.BENCH_PREFIX} Lead x")
    Activity.objects.filter(lead=lead).first().delete()

    assert benchmark.prepare(200, log=quiet).built
    assert benchmark.current_fingerprint() == benchmark.expected_fingerprint(200)


@pytest.mark.django_db
def test_a_second_rescore_at_the_anchor_changes_no_score():
    dataset = benchmark.prepare(200, log=quiet)
    first = rescore_leads(Lead.objects.all(), now=dataset.anchor, dispatch_events=False)
    scores = dict(Lead.objects.values_list("pk", "lead_score"))

    second = rescore_leads(Lead.objects.all(), now=dataset.anchor, dispatch_events=False)

    assert first.changed > 0
    assert second.changed == 0
    assert dict(Lead.objects.values_list("pk", "lead_score")) == scores


def test_board_cards_are_counted_by_their_class():
    html = (
        '<article class="board-card card" id="card-1"><a class="board-card-title">x</a></article>'
        '<article class="card board-card">y</article><div class="board-cards">z</div>'
    )
    assert benchmark.count_cards(html) == 2


@pytest.mark.django_db
def test_scenarios_are_timed_in_interleaved_rounds_as_production_serves_them(
    client, settings, monkeypatch
):
    """Every round requests every scenario once (a moment of noise lands on all of them, not
    on one), with ``DEBUG`` off; the machine's own speed is timed in the same rounds."""
    settings.DEBUG = True
    seen: list[tuple[str, bool]] = []
    real_get = client.get

    def get(path, **headers):
        from django.conf import settings as live

        seen.append((path, live.DEBUG))
        return real_get(path, **headers)

    monkeypatch.setattr(client, "get", get)
    scenarios = [
        benchmark.Request("a", client, "/accounts/login/"),
        benchmark.Request("b", client, "/accounts/login/?b"),
    ]

    figures = benchmark.measure_all(scenarios, requests=3)

    assert [f.name for f in figures] == ["a", "b", benchmark.CALIBRATION]
    timed = seen[-6:]  # the three rounds, after the warm-ups and captured runs
    assert [path for path, _ in timed] == ["/accounts/login/", "/accounts/login/?b"] * 3
    assert not any(debug for _, debug in seen)
    assert all(f.p50_ms > 0 and f.p95_ms >= f.p50_ms for f in figures)


# Transactional: on PostgreSQL the command runs VACUUM, which no transaction may hold.
@pytest.mark.django_db(transaction=True)
def test_the_command_reports_every_screen_and_compares_with_a_previous_run(tmp_path, capsys):
    previous = tmp_path / "previous.json"
    previous.write_text(
        json.dumps(
            [
                {"name": "API list (manager)", "p50_ms": 10.0, "p95_ms": 20.0},
                {"name": benchmark.CALIBRATION, "p50_ms": 4.0, "p95_ms": 5.0},
                {"name": "full rescore", "seconds": 1.0},
            ]
        )
    )
    out = tmp_path / "figures.json"

    call_command(
        "benchmark",
        "--leads",
        "200",
        "--requests",
        "20",
        "--json",
        str(out),
        "--compare",
        str(previous),
    )

    rows = json.loads(out.read_text())
    figures = {f["name"]: f for f in rows}
    assert set(figures) >= SCREENS
    for name in SCREENS:
        figure = figures[name]
        assert 1 <= figure["queries"] <= 10, (name, figure)  # SPEC §11: ≤ 10 per page
        assert 0 < figure["p50_ms"] <= figure["p95_ms"], (name, figure)
        assert figure["sql_ms"] >= 0 and figure["sql_total_ms"] >= 0, (name, figure)
        assert figure["app_ms"] == round(figure["p50_ms"] - figure["sql_total_ms"], 1)
    for board in ("kanban board (manager)", "peer: leads board (manager)"):
        assert figures[board]["cards"] > 0
    dataset = figures["dataset"]
    assert (dataset["leads"], dataset["built"]) == (200, True)
    assert dataset["fingerprint"] == str(benchmark.expected_fingerprint(200))
    assert figures["environment"]["cpus"] >= 1
    assert figures["full rescore"]["leads"] == Lead.objects.count() == 200
    assert figures["full rescore"]["changed"] > 0
    # Its outbox events are removed once measured: the database does not grow run by run.
    assert not Event.objects.filter(name="lead.score_changed").exists()
    printed = capsys.readouterr().out
    assert "Machine: " in printed and "load average" in printed
    assert "goal ≤ 40 ms" in printed and "goal ≤ 26 ms" in printed
    compared = printed.split("Compared with", 1)[1]
    api = next(line for line in compared.splitlines() if line.startswith("API list (manager)"))
    was, now = 10.0, figures["API list (manager)"]["p50_ms"]
    assert f"{(now - was) / was * 100:+.0f}%" in api
    # The change at equal machine speed: the calibration row's change taken out.
    speed = figures[benchmark.CALIBRATION]["p50_ms"] / 4.0
    assert f"(fixed Python work) changed by {speed - 1:+.0%}" in compared
    assert api.rstrip().endswith(f"{now / was / speed - 1:+.0%}")
    new = next(line for line in compared.splitlines() if line.startswith("API list (rep)"))
    assert "new" in new
