"""The benchmark command (SPEC §10) on a tiny dataset: it builds the data, measures every
screen and endpoint and writes the figures; the speed itself is its output, not a test."""

import json

import pytest
from django.core.management import call_command

from leads.models import Lead

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
}


# Transactional: on PostgreSQL the command runs VACUUM, which no transaction may hold.
@pytest.mark.django_db(transaction=True)
def test_benchmark_builds_the_dataset_and_reports_every_screen(tmp_path, capsys):
    out = tmp_path / "figures.json"
    call_command("benchmark", "--leads", "60", "--requests", "20", "--json", str(out))

    figures = {f["name"]: f for f in json.loads(out.read_text())}
    assert set(figures) >= SCREENS
    for name in SCREENS:
        figure = figures[name]
        assert 1 <= figure["queries"] <= 10, (name, figure)  # SPEC §11: ≤ 10 per page
        assert 0 < figure["p50_ms"] <= figure["p95_ms"], (name, figure)
        assert figure["sql_ms"] >= 0, (name, figure)
    rescore = figures["full rescore"]
    assert rescore["leads"] == Lead.objects.count() == 60
    printed = capsys.readouterr().out
    assert "kanban board (rep)" in printed and "full rescore" in printed


@pytest.mark.django_db(transaction=True)
def test_benchmark_reuses_the_dataset(tmp_path):
    call_command("benchmark", "--leads", "30", "--requests", "20", "--no-rescore")
    call_command("benchmark", "--leads", "30", "--requests", "20", "--no-rescore")
    assert Lead.objects.count() == 30
