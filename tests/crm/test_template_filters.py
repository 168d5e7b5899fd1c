"""The formatting filters of ``{% load crm_tags %}`` (over crm.formatting), as templates use
them."""

from __future__ import annotations

from datetime import UTC, date, timedelta
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


# --- the formatting written directly reads as Django's filters wrote it ---------------------------
@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_dates_read_as_the_date_filter_writes_them(language):
    from datetime import datetime
    from datetime import timezone as dt_timezone

    from django.template.defaultfilters import date as date_filter
    from django.utils import translation

    from crm import formatting

    with translation.override(language):
        for month in range(1, 13):
            for value in (
                datetime(2026, month, 4, 7, 5, tzinfo=UTC),
                datetime(987, month, 28, 23, 59, tzinfo=dt_timezone(timedelta(hours=-5))),
            ):
                assert formatting.exact_text(value) == date_filter(value, "M j, Y H:i")
                assert formatting.day_text(value) == date_filter(value, "M j, Y")
                assert formatting.when(value) == (
                    f'<span title="{date_filter(value, "M j, Y H:i")}">'
                    f"{date_filter(value, 'M j, Y')}</span>"
                )
                assert f'title="{date_filter(value, "M j, Y H:i")}"' in formatting.ago(value)
            assert formatting.day_text(date(2027, month, 1)) == date_filter(
                date(2027, month, 1), "M j, Y"
            )


def test_when_with_another_format_and_an_unreadable_value():
    from django.template.defaultfilters import date as date_filter

    from crm import formatting

    value = timezone.now()
    assert formatting.when(value, "M j, H:i").endswith(f">{date_filter(value, 'M j, H:i')}</span>")
    html = formatting.when(date(2027, 3, 20), "Y")
    assert html == '<span title="Mar 20, 2027">2027</span>'
    assert formatting.when("not a date") == '<span title=""></span>'


def test_badges_escape_what_they_show_and_differ_by_value():
    from crm import formatting

    step = SimpleNamespace(name="<b>Won</b>", color='"red"', outcome="won")
    html = formatting.step_badge(step)
    assert "<b>" not in html and "&lt;b&gt;Won&lt;/b&gt;" in html and "&quot;red&quot;" in html
    assert formatting.score_badge(71) != formatting.score_badge(72)
    assert 'data-score="0"' in formatting.score_badge(None)
    assert formatting.state_badge("<i>", "lost") == (
        '<span class="badge state-badge state-lost">&lt;i&gt;</span>'
    )


# --- the filter bar's inputs (record_tags.filter_input) ---------------------------------------
def _input(kind: str, value: str = "", **spec) -> str:
    from crm.records.types import Filter
    from crm.templatetags.record_tags import filter_input

    f = Filter("p", 'Label "x"', kind, **spec)
    choices = [("1", "One"), ("2", "<Two>")]
    return str(filter_input({"spec": f, "id": "f-p", "value": value, "choices": choices}))


def test_a_select_input_marks_the_chosen_value_and_escapes_labels():
    html = _input("select", "2")
    assert '<label class="form-label small mb-0" for="f-p">Label &quot;x&quot;</label>' in html
    assert '<option value="">Any</option>' in html
    assert '<option value="2" selected>&lt;Two&gt;</option>' in html
    assert '<option value="1">One</option>' in html


def test_a_user_input_offers_anyone_and_unassigned():
    html = _input("user", "0", none_value="0")
    assert '<option value="">Anyone</option>' in html
    assert '<option value="0" selected>Unassigned</option>' in html


@pytest.mark.parametrize(
    ("kind", "spec", "expected"),
    [
        ("boolean", {}, '<option value="true" selected>Yes</option><option value="false">No'),
        ("number", {"placeholder": "0"}, 'step="any"'),
        ("date", {}, 'type="date"'),
        ("text", {}, 'maxlength="200"'),
    ],
)
def test_other_inputs_keep_their_value_escaped(kind, spec, expected):
    value = "true" if kind == "boolean" else 'a"b'
    html = _input(kind, value, **spec)
    assert expected in html
    if kind != "boolean":
        assert 'value="a&quot;b"' in html and 'name="p"' in html
