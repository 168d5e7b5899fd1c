"""The formatting filters of ``{% load crm_tags %}`` (over crm.formatting), as templates use
them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.template import Context, Template
from django.utils import timezone


def render(source: str, **context) -> str:
    return Template("{% load crm_tags %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("82600"), "EUR", "€82,600"),
        (Decimal("3600.00"), "EUR", "€3,600"),
        (Decimal("3600.50"), "USD", "$3,600.50"),
        (Decimal("0.5"), "usd", "$0.50"),
        (Decimal("1234567"), "GBP", "£1,234,567"),
        (Decimal("82600"), "SEK", "82,600 SEK"),
        (Decimal("99.90"), "SEK", "99.90 SEK"),
        (Decimal("-1200"), "EUR", "-€1,200"),
        (None, "EUR", "—"),
    ],
)
def test_money_writes_the_symbol_and_decimals_only_when_needed(amount, currency, shown):
    assert render("{{ amount|money:currency }}", amount=amount, currency=currency) == shown


def test_money_without_a_currency_is_the_grouped_number():
    assert render("{{ amount|money }}", amount=Decimal("1500")) == "1,500"


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (timedelta(seconds=20), "now"),
        (timedelta(minutes=5), "5 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(days=3), "3 d"),
        (timedelta(days=13), "13 d"),
        (timedelta(days=15), "2 w"),
        (timedelta(days=120), "4 mo"),
        (timedelta(days=800), "2 y"),
    ],
)
def test_age_is_one_short_unit(delta, shown):
    assert render("{{ value|age }}", value=timezone.now() - delta) == shown


def test_age_of_nothing_is_a_dash_and_of_a_date_counts_from_midnight():
    assert render("{{ value|age }}", value=None) == "—"
    assert render("{{ value|age }}", value=timezone.localdate() - timedelta(days=21)) == "3 w"


def test_ago_and_since_keep_the_exact_time_in_the_tooltip():
    value = timezone.now() - timedelta(days=3)
    ago = render("{{ value|ago }}", value=value)
    assert ago.startswith(f'<time datetime="{value.isoformat()}" title="') and ago.endswith(
        ">3 d</time>"
    )
    assert render("{{ value|since }}", value=value).endswith(">3 d ago</time>")
    assert render("{{ value|since }}", value=timezone.now()).endswith(">just now</time>")


def test_when_writes_the_date():
    assert render("{{ value|when }}", value=date(2027, 3, 20)) == (
        '<span title="Mar 20, 2027">Mar 20, 2027</span>'
    )
    assert render("{{ value|when }}", value=None) == "—"


def test_contact_links():
    assert render("{{ v|mailto }}", v="ann@acme.example") == (
        '<a href="mailto:ann@acme.example" class="text-truncate-link">ann@acme.example</a>'
    )
    assert render("{{ v|tel }}", v="+1 (555) 340-9807") == (
        '<a href="tel:+15553409807">+1 (555) 340-9807</a>'
    )
    assert render("{{ v|tel }}|{{ v|mailto }}", v="") == "—|—"


def test_contact_links_escape_what_they_show():
    html = render("{{ v|mailto }}", v='x"><script>@a.b')
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(("score", "band"), [(0, "cold"), (39, "cold"), (40, "warm"), (70, "hot")])
def test_score_badge_and_temperature(score, band):
    html = render("{{ s|score_badge }} {{ s|temperature }}", s=score)
    assert f'class="badge score-badge score-{band}"' in html and html.endswith(f" {band}")


def test_step_badges_carry_the_outcome_for_won_and_lost_colours():
    won = SimpleNamespace(name="Closed Won", color="#22c55e", outcome="won")
    open_step = SimpleNamespace(name="Proposal", color="#f59e0b", outcome="none")
    assert 'class="badge step-badge step-won"' in render("{{ s|step_badge }}", s=won)
    html = render("{{ s|step_badge }}", s=open_step)
    assert 'step-none" style="--step-color: #f59e0b">Proposal<' in html


def test_state_badge_takes_its_state_from_the_argument_or_the_label():
    assert render('{{ "Converted"|state_badge:"converted" }}') == (
        '<span class="badge state-badge state-converted">Converted</span>'
    )
    assert 'state-inactive">Inactive<' in render('{{ "Inactive"|state_badge }}')


def test_score_legend_lists_the_three_temperatures():
    html = Template('{% include "records/_score_legend.html" %}').render(Context({}))
    for band, label in (("cold", "Cold (0–39)"), ("warm", "Warm (40–69)"), ("hot", "Hot (70–100)")):
        assert f'score-{band} me-1">{label}</span>' in html
