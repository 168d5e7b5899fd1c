"""Reads of scoring: the active profile, and what the score panel of a lead shows."""

from __future__ import annotations

from dataclasses import dataclass

from leads.models import Lead, LeadScoreSnapshot, ScoringProfile
from leads.scoring.defaults import DEFAULT_PROFILE_NAME
from leads.scoring.factors import NEUTRAL, Settings
from leads.templatetags.lead_tags import score_band

SPARKLINE_POINTS = 30


def active_profile() -> ScoringProfile:
    """The active profile; without one, an unsaved profile with the default settings."""
    profile = ScoringProfile.objects.filter(is_active=True).first()
    return profile or ScoringProfile(name=f"{DEFAULT_PROFILE_NAME} (built-in)")


def active_settings() -> Settings:
    return Settings.from_profile(active_profile())


def qualified_step_orders() -> dict[int, int]:
    """Per workflow id, the order of its qualified step (workflows without one are absent)."""
    from leads.selectors import qualified_step
    from wfm.models import Workflow

    orders = {}
    for workflow in Workflow.objects.all():
        step = qualified_step(workflow)
        if step is not None:
            orders[workflow.pk] = step.order
    return orders


def score_history(*, lead: Lead, limit: int = SPARKLINE_POINTS) -> list[LeadScoreSnapshot]:
    """The lead's latest score changes, oldest first."""
    return list(
        reversed(LeadScoreSnapshot.objects.filter(lead=lead).order_by("-at", "-pk")[:limit])
    )


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    points: str  # for <polyline points="…">
    dots: tuple[tuple[float, float], ...]  # each change, when there are few enough to show
    last_x: float
    last_y: float
    first_score: int
    last_score: int
    count: int
    title: str


def sparkline(
    history: list[LeadScoreSnapshot], *, width: int = 160, height: int = 36, pad: float = 3
) -> Sparkline | None:
    """An inline SVG line of the scores (0 at the bottom, 100 at the top), drawn on the
    server; None with fewer than two points."""
    if len(history) < 2:
        return None
    step = (width - 2 * pad) / (len(history) - 1)
    coords = [
        (pad + i * step, pad + (100 - s.score) / 100 * (height - 2 * pad))
        for i, s in enumerate(history)
    ]
    first, last = history[0], history[-1]
    return Sparkline(
        width=width,
        height=height,
        points=" ".join(f"{x:.1f},{y:.1f}" for x, y in coords),
        dots=tuple((round(x, 1), round(y, 1)) for x, y in coords) if len(coords) <= 12 else (),
        last_x=round(coords[-1][0], 1),
        last_y=round(coords[-1][1], 1),
        first_score=first.score,
        last_score=last.score,
        count=len(history),
        title=(
            f"Score {first.score} on {first.at:%b %-d} → {last.score} on {last.at:%b %-d} "
            f"({len(history)} changes)"
        ),
    )


def score_panel(*, lead: Lead) -> dict:
    """The context of ``leads/_score_panel.html``: categories with bars and reasons, the
    decay, the history sparkline and the conversion likelihood (or why it is not shown)."""
    from leads import predictive

    breakdown = lead.lead_score_factors or {}
    categories = []
    for category in breakdown.get("categories") or []:
        score = float(category.get("score") or 0)
        weight = float(category.get("weight") or 0)
        categories.append(
            {
                **category,
                "band": score_band(score),
                "width": max(0, min(100, round(score))),
                "weight_pct": round(weight * 100),
                "points": round(weight * score, 1),
            }
        )
    history = score_history(lead=lead)
    return {
        "lead": lead,
        "breakdown": breakdown,
        "categories": categories,
        "decay": breakdown.get("decay"),
        "history": history,
        "sparkline": sparkline(history),
        "likelihood": predictive.likelihood_for(lead),
    }


def top_reasons(breakdown: dict | None, *, limit: int = 3) -> list[dict]:
    """The factors that move the score most, with their reasons: a counted factor brings
    its category's weight × its score ÷ the category's counted factors (``points``); ranked
    by how far that is from what a neutral 50 would bring (``lift``, negative below it), so
    a neutral factor ("no analysis yet") is never a top reason."""
    reasons = []
    for category in (breakdown or {}).get("categories") or []:
        counted = [f for f in category.get("factors") or [] if f.get("counted")]
        weight = float(category.get("weight") or 0)
        for factor in counted:
            score = float(factor.get("score") or 0)
            share = weight / len(counted)
            reasons.append(
                {
                    "category": category.get("name", ""),
                    "name": factor.get("name", ""),
                    "score": factor.get("score", 0),
                    "reason": factor.get("reason", ""),
                    "points": round(share * score, 1),
                    "lift": round(share * (score - NEUTRAL), 1),
                }
            )
    reasons = [r for r in reasons if r["lift"]]
    reasons.sort(key=lambda r: -abs(r["lift"]))
    return reasons[:limit]
