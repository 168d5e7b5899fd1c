"""Predictive conversion likelihood: naive Bayes over field-value frequencies, in plain Python.

Like Odoo's predictive lead scoring: for each feature (source, industry, company size, the
score categories' bands, bucketed activity counts) and each of its values, count how often
leads that ended converted and leads that ended disqualified had it. A lead's log-odds of
converting is the prior log-odds plus, per feature, the log-likelihood ratio of its value;
those ratios are also the explanation ("for" and "against" the conversion).

Training (``train_conversion_model``) needs at least ``MIN_FINISHED`` finished leads. It
evaluates on a stratified held-out split (AUC by the Mann–Whitney statistic; calibration:
predicted against observed conversion per probability bin, and the Brier score), then refits
on every finished lead and stores the parameters as a new ``ConversionModel`` version.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from leads.models import ConversionModel, Lead
from leads.scoring.factors import LeadInputs, Settings, company_size_of, industry_of
from leads.templatetags.lead_tags import score_band

MIN_FINISHED = 50
TEST_FRACTION = 0.2
ALPHA = 1.0  # Laplace smoothing
MODELS_KEPT = 10
CALIBRATION_BINS = 5
# Fewer held-out leads than this put one or two leads in a bin: the dashboard explains
# instead of showing rates that say nothing (a fifth is held out: about 100 finished leads).
CALIBRATION_MIN_HELD_OUT = 20
UNKNOWN = "unknown"

FEATURE_LABELS = {
    "source": "Source",
    "industry": "Industry",
    "company_size": "Company size",
    "demographic": "Demographic score",
    "behavioural": "Behavioural score",
    "interaction": "Interaction score",
    "ai": "AI-derived score",
    "inbound_emails": "Inbound emails",
    "form_submissions": "Form submissions",
    "web_visits": "Web visits",
    "content_downloads": "Content downloads",
    "calls": "Calls completed",
    "meetings": "Meetings held",
    "responded": "Responded to",
}
COUNT_FEATURES = (
    "inbound_emails",
    "form_submissions",
    "web_visits",
    "content_downloads",
    "calls",
    "meetings",
)
CATEGORY_FEATURES = ("demographic", "behavioural", "interaction", "ai")
SOURCE_LABELS = dict(Lead.Source.choices)

FEATURE_VALUES = (
    "source",
    "custom_field_values",
    "organization__industry",
    "organization__size",
    "lead_score_factors",
)


# --- features -----------------------------------------------------------------------------------
def count_bucket(value: Any) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return UNKNOWN
    if value <= 1:
        return str(max(0, value))
    return "2–3" if value <= 3 else "4+"


def features_of(row: Mapping[str, Any], settings: Settings) -> dict[str, str]:
    """A lead's feature values, from a ``values(*FEATURE_VALUES)`` row (or the same keys)."""
    inputs = LeadInputs(
        created_at=None,  # not needed here
        custom_field_values=row.get("custom_field_values") or {},
        organization_industry=row.get("organization__industry") or "",
        organization_size=row.get("organization__size") or "",
    )
    breakdown = row.get("lead_score_factors") or {}
    categories = {c.get("key"): c.get("score") for c in breakdown.get("categories") or []}
    signals = breakdown.get("signals") or {}
    features = {
        "source": row.get("source") or UNKNOWN,
        "industry": industry_of(inputs, settings).strip().lower() or UNKNOWN,
        "company_size": company_size_of(inputs, settings).strip().lower() or UNKNOWN,
    }
    for key in CATEGORY_FEATURES:
        score = categories.get(key)
        features[key] = score_band(score) if isinstance(score, int | float) else UNKNOWN
    for key in COUNT_FEATURES:
        features[key] = count_bucket(signals.get(key))
    responded = signals.get("responded")
    features["responded"] = UNKNOWN if responded is None else ("yes" if responded else "no")
    return features


def describe(feature: str, value: str) -> str:
    """A feature value in words: "Source: Referral", "Calls completed: 2–3"."""
    label = FEATURE_LABELS.get(feature, feature)
    if feature == "source":
        value = SOURCE_LABELS.get(value, value)
    elif feature in ("industry", "company_size") and value != UNKNOWN:
        value = value.title() if feature == "industry" else value
    return f"{label}: {value}"


# --- naive Bayes ---------------------------------------------------------------------------------
Example = tuple[Mapping[str, str], bool]


def fit(examples: Sequence[Example], *, alpha: float = ALPHA) -> dict:
    """The model's parameters: prior log-odds and, per feature value, its log-likelihood
    ratio log P(value | converted) / P(value | disqualified), Laplace-smoothed."""
    n_pos = sum(1 for _, label in examples if label)
    n_neg = len(examples) - n_pos
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for features, label in examples:
        for feature, value in features.items():
            counts[feature][value][0 if label else 1] += 1
    table: dict[str, dict[str, list[float]]] = {}
    for feature, values in counts.items():
        size = len(values)
        table[feature] = {
            value: [
                round(
                    math.log(
                        ((pos + alpha) / (n_pos + alpha * size))
                        / ((neg + alpha) / (n_neg + alpha * size))
                    ),
                    6,
                ),
                pos,
                neg,
            ]
            for value, (pos, neg) in sorted(values.items())
        }
    return {
        "kind": "naive_bayes",
        "alpha": alpha,
        "prior_log_odds": math.log((n_pos + alpha) / (n_neg + alpha)),
        "n_converted": n_pos,
        "n_disqualified": n_neg,
        "features": table,
    }


@dataclass(frozen=True)
class Contribution:
    feature: str
    value: str
    llr: float  # log-likelihood ratio: > 0 speaks for converting

    @property
    def label(self) -> str:
        return describe(self.feature, self.value)

    @property
    def odds_ratio(self) -> float:
        return math.exp(self.llr)


def contributions(params: Mapping, features: Mapping[str, str]) -> list[Contribution]:
    """Each known feature value's log-likelihood ratio; values never seen in training say
    nothing and are left out."""
    table = params.get("features") or {}
    out = []
    for feature, value in features.items():
        entry = (table.get(feature) or {}).get(value)
        if entry is not None:
            out.append(Contribution(feature, value, float(entry[0])))
    return out


def log_odds(params: Mapping, features: Mapping[str, str]) -> float:
    return float(params.get("prior_log_odds", 0.0)) + sum(
        c.llr for c in contributions(params, features)
    )


def probability(params: Mapping, features: Mapping[str, str]) -> float:
    z = log_odds(params, features)
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve by the Mann–Whitney U statistic (ties share their mean rank).
    None when one class is missing."""
    n_pos = sum(1 for label in labels if label)
    n_neg = len(labels) - n_pos
    if not n_pos or not n_neg:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1  # ranks are 1-based
        for k in range(i, j + 1):
            ranks[order[k]] = mean_rank
        i = j + 1
    rank_sum = sum(r for r, label in zip(ranks, labels, strict=True) if label)
    u = rank_sum - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def calibration(
    scores: Sequence[float], labels: Sequence[bool], *, bins: int = CALIBRATION_BINS
) -> dict | None:
    """How far the predicted probabilities are from what happened, on held-out leads.

    ``bins`` equal-width probability bins (``low`` included, ``high`` excluded, except 1.0 in
    the last): per bin the number of leads, their mean predicted probability and the share
    that converted (both None in an empty bin). ``brier``: the mean squared difference
    between probability and outcome (0 is perfect; always saying 50 % scores 0.25). None
    without leads."""
    if not scores:
        return None
    groups: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for score, label in zip(scores, labels, strict=True):
        groups[min(int(score * bins), bins - 1)].append((score, label))
    rows = []
    for i, group in enumerate(groups):
        n = len(group)
        rows.append(
            {
                "low": round(i / bins, 4),
                "high": round((i + 1) / bins, 4),
                "count": n,
                "predicted": round(sum(p for p, _ in group) / n, 4) if n else None,
                "observed": round(sum(1 for _, y in group if y) / n, 4) if n else None,
            }
        )
    brier = sum((p - (1.0 if y else 0.0)) ** 2 for p, y in zip(scores, labels, strict=True))
    return {"bins": rows, "brier": round(brier / len(scores), 4), "n": len(scores)}


def split(
    examples: Sequence[Example], *, test_fraction: float = TEST_FRACTION, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """A stratified, reproducible train/test split."""
    rng = random.Random(seed)
    train, test = [], []
    for label in (True, False):
        group = [e for e in examples if e[1] is label]
        rng.shuffle(group)
        cut = round(len(group) * test_fraction)
        test.extend(group[:cut])
        train.extend(group[cut:])
    return train, test


# --- training from the database ------------------------------------------------------------------
def finished_leads() -> QuerySet[Lead]:
    """Leads that ended: converted (positive) or in a lost-outcome step (negative)."""
    return Lead.objects.filter(
        Q(converted_at__isnull=False) | Q(wfm_project__current_step__outcome="lost")
    )


def training_examples(settings: Settings | None = None) -> list[Example]:
    from leads.scoring.selectors import active_settings

    settings = settings or active_settings()
    rows = finished_leads().values("converted_at", *FEATURE_VALUES).order_by("pk")
    return [
        (features_of(row, settings), row["converted_at"] is not None)
        for row in rows.iterator(chunk_size=5000)
    ]


@dataclass
class TrainingReport:
    model: ConversionModel | None
    message: str
    finished: int
    auc: float | None = None
    n_train: int = 0
    n_test: int = 0


@dataclass
class Evaluation:
    auc: float | None
    calibration: dict | None
    n_train: int
    n_test: int


def evaluate(
    examples: Sequence[Example], *, seed: int = 0, test_fraction: float = TEST_FRACTION
) -> Evaluation:
    """AUC and calibration on the held-out split of a model fitted on the rest."""
    train, test = split(examples, seed=seed, test_fraction=test_fraction)
    params = fit(train)
    scores = [probability(params, f) for f, _ in test]
    labels = [label for _, label in test]
    return Evaluation(auc(scores, labels), calibration(scores, labels), len(train), len(test))


@transaction.atomic
def train_conversion_model(
    *, examples: Iterable[Example] | None = None, seed: int = 0
) -> TrainingReport:
    """Train and store a new model version, if there are ``MIN_FINISHED`` finished leads with
    both outcomes; otherwise say what is missing."""
    examples = list(training_examples() if examples is None else examples)
    finished = len(examples)
    converted = sum(1 for _, label in examples if label)
    if finished < MIN_FINISHED:
        return TrainingReport(
            None,
            f"Not trained: {finished} finished leads, {MIN_FINISHED - finished} more needed "
            f"(converted or disqualified).",
            finished,
        )
    if converted == 0 or converted == finished:
        return TrainingReport(
            None, "Not trained: it needs both converted and disqualified leads.", finished
        )
    held_out = evaluate(examples, seed=seed)
    params = fit(examples)
    version = (ConversionModel.objects.aggregate(v=Max("version"))["v"] or 0) + 1
    model = ConversionModel.objects.create(
        version=version,
        trained_at=timezone.now(),
        parameters=params,
        auc=held_out.auc,
        calibration=held_out.calibration or {},
        n_train=held_out.n_train,
        n_test=held_out.n_test,
        n_converted=converted,
        n_disqualified=finished - converted,
    )
    ConversionModel.objects.filter(version__lte=version - MODELS_KEPT).delete()
    quality = [f"AUC {held_out.auc:.3f}" if held_out.auc is not None else "AUC n/a"]
    if held_out.calibration:
        quality.append(f"Brier {held_out.calibration['brier']:.3f}")
    return TrainingReport(
        model,
        f"Trained v{version} on {finished} finished leads ({converted} converted); "
        f"{', '.join(quality)} on {held_out.n_test} held-out leads.",
        finished,
        held_out.auc,
        held_out.n_train,
        held_out.n_test,
    )


# --- likelihood of one lead ----------------------------------------------------------------------
def latest_model() -> ConversionModel | None:
    return ConversionModel.objects.order_by("-version").first()


def likelihood_for(lead: Lead, *, model: ConversionModel | None = None) -> dict | None:
    """What the score panel shows: the likelihood with its top 3 factors for and against, or
    how many finished leads are still needed. None for a finished lead."""
    if lead.is_converted or lead.wfm_project.current_step.is_final:
        return None
    model = model or latest_model()
    if model is None:
        finished = finished_leads().count()
        if finished < MIN_FINISHED:
            return {
                "state": "needs_history",
                "finished": finished,
                "needed": MIN_FINISHED - finished,
                "minimum": MIN_FINISHED,
            }
        return {"state": "not_trained", "finished": finished}
    from leads.scoring.selectors import active_settings

    organization = lead.organization
    row = {
        "source": lead.source,
        "custom_field_values": lead.custom_field_values,
        "organization__industry": organization.industry if organization else "",
        "organization__size": organization.size if organization else "",
        "lead_score_factors": lead.lead_score_factors,
    }
    features = features_of(row, active_settings())
    params = model.parameters
    parts = sorted(contributions(params, features), key=lambda c: c.llr)
    return {
        "state": "ready",
        "percent": round(probability(params, features) * 100),
        "for": [c for c in reversed(parts) if c.llr > 0][:3],
        "against": [c for c in parts if c.llr < 0][:3],
        "model": model,
    }


# --- before a model exists: a transparent estimate ----------------------------------------------
# Until enough leads have finished to train the model, the lead intelligence panel shows an
# estimate whose every term is on screen: the score, the current step's probability and the
# engagement (the behavioural and interaction categories of the score), weighted as below.
ESTIMATE_WEIGHTS = (("score", 0.5), ("step", 0.3), ("engagement", 0.2))
ENGAGEMENT_CATEGORIES = ("behavioural", "interaction")


def estimate_for(lead: Lead) -> dict | None:
    """``{"percent", "factors": [{"label", "value", "weight_pct", "points"}]}``: a weighted
    mean of the score, the step's probability and the engagement; None for a finished lead."""
    step = lead.wfm_project.current_step
    if lead.is_converted or step.is_final:
        return None
    categories = {
        c.get("key"): float(c.get("score") or 0)
        for c in (lead.lead_score_factors or {}).get("categories") or []
        if isinstance(c, dict)
    }
    engaged = [categories[k] for k in ENGAGEMENT_CATEGORIES if k in categories]
    values = {
        "score": (f"Score {lead.lead_score}", float(lead.lead_score or 0)),
        "step": (f"“{step.name}” step probability {step.probability}%", float(step.probability)),
        "engagement": (
            "Engagement (behavioural and interaction scores) "
            + (f"{sum(engaged) / len(engaged):.0f}" if engaged else "unknown: 0"),
            sum(engaged) / len(engaged) if engaged else 0.0,
        ),
    }
    factors = [
        {
            "key": key,
            "label": values[key][0],
            "value": round(values[key][1]),
            "weight_pct": round(weight * 100),
            "points": round(weight * values[key][1], 1),
        }
        for key, weight in ESTIMATE_WEIGHTS
    ]
    percent = round(sum(weight * values[key][1] for key, weight in ESTIMATE_WEIGHTS))
    return {"percent": max(0, min(100, percent)), "factors": factors}
