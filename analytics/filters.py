"""The dashboard's and the metrics API's filters: one parser for both.

``period`` (a preset) or ``date_from`` / ``date_to`` (ISO dates, a custom range), ``compare``
(against the previous period of equal length), ``owner`` (a user id), ``source`` (a lead
source) and ``workflow`` (a workflow id; it narrows the records of that workflow's kind).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django import forms

from analytics import periods
from analytics.periods import Period
from leads.models import Lead

MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Filters:
    period: Period
    compare: bool = True
    owner: int | None = None
    source: str | None = None
    workflow: int | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def previous(self) -> Period | None:
        return self.period.previous() if self.compare else None

    def query(self) -> dict[str, str]:
        """These filters as dashboard query parameters (the links between periods)."""
        params: dict[str, str] = {}
        if self.period.key == "custom":
            if self.period.start:
                params["date_from"] = self.period.start.isoformat()
            if self.period.end:
                params["date_to"] = self.period.end.isoformat()
        else:
            params["period"] = self.period.key
        if not self.compare:
            params["compare"] = "0"
        for name in ("owner", "source", "workflow"):
            value = getattr(self, name)
            if value:
                params[name] = str(value)
        return params


class FilterForm(forms.Form):
    period = forms.ChoiceField(choices=list(periods.PRESETS.items()), required=False)
    date_from = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    date_to = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    compare = forms.TypedChoiceField(
        choices=[("1", "yes"), ("0", "no"), ("true", "yes"), ("false", "no")],
        required=False,
        coerce=lambda v: v in {"1", "true"},
        empty_value=True,
    )
    owner = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    source = forms.ChoiceField(choices=Lead.Source.choices, required=False)
    workflow = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)

    def __init__(self, data=None, *, default_period: str = periods.DEFAULT_PRESET, **kwargs):
        super().__init__(data if data is not None else {}, **kwargs)
        self.default_period = default_period

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end of the period is before its start.")
        return data

    def filters(self) -> Filters:
        """The parsed filters; call after ``is_valid()``."""
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        key = data.get("period") or ""
        if key == "custom" or (not key and (start or end)):
            period = periods.custom(start, end)
        else:
            period = periods.preset(key or self.default_period)
        return Filters(
            period=period,
            compare=data.get("compare", True) if data.get("compare") is not None else True,
            owner=data.get("owner"),
            source=data.get("source") or None,
            workflow=data.get("workflow"),
        )
