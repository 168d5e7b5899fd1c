"""A read-only picture of a workflow, laid out on the server and drawn as inline SVG.

Open steps sit left to right in their order; final steps sit in a second row below them.
Transitions are arrows: neighbours in a row get straight arrows, steps further apart an arc
above the row, and moves between the rows a straight arrow. When a move and its reverse both
exist, the two arrows are drawn side by side instead of on top of each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wfm.models import Workflow, WorkflowStep, WorkflowTransition

BOX_W = 150
BOX_H = 48
GAP_X = 56
ROW_GAP = 110
PAD = 24
PAIR_OFFSET = 7  # distance between a move's arrow and its reverse's
ARC_BASE = 26
ARC_PER_COLUMN = 14


@dataclass(frozen=True)
class Box:
    step_id: int
    name: str
    subtitle: str
    x: float
    y: float
    fill: str
    text_color: str
    is_initial: bool
    is_final: bool
    width: int = BOX_W
    height: int = BOX_H

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2

    @property
    def text_x(self) -> str:
        return _n(self.cx)

    @property
    def name_y(self) -> str:
        return _n(self.y + 20)

    @property
    def subtitle_y(self) -> str:
        return _n(self.y + 37)


@dataclass(frozen=True)
class Arrow:
    path: str
    title: str


@dataclass(frozen=True)
class Diagram:
    key: str  # makes the SVG's element ids unique when a page shows several diagrams
    title: str
    width: int
    height: int
    boxes: list[Box]
    arrows: list[Arrow]


def workflow_diagram(workflow: Workflow) -> Diagram:
    steps = list(workflow.steps.select_related("status").order_by("order"))
    transitions = list(workflow.transitions.all())
    return layout(f"wf{workflow.pk}", workflow.name, steps, transitions)


def layout(
    key: str, title: str, steps: list[WorkflowStep], transitions: list[WorkflowTransition]
) -> Diagram:
    rows = [[s for s in steps if not s.is_final], [s for s in steps if s.is_final]]
    rows = [row for row in rows if row]
    widest = max((len(row) for row in rows), default=0)
    row_width = widest * BOX_W + max(widest - 1, 0) * GAP_X

    place: dict[int, tuple[int, int]] = {}  # step id -> (row, column)
    for r, row in enumerate(rows):
        for c, step in enumerate(row):
            place[step.pk] = (r, c)

    # Room above the first row for the arcs between steps that are not neighbours.
    spans = [
        abs(place[t.from_step_id][1] - place[t.to_step_id][1])
        for t in transitions
        if t.from_step_id in place
        and t.to_step_id in place
        and place[t.from_step_id][0] == place[t.to_step_id][0] == 0
    ]
    longest = max((s for s in spans if s > 1), default=0)
    top = PAD + (ARC_BASE + ARC_PER_COLUMN * longest + PAIR_OFFSET if longest else 0)

    boxes: dict[int, Box] = {}
    for r, row in enumerate(rows):
        width = len(row) * BOX_W + (len(row) - 1) * GAP_X
        left = PAD + (row_width - width) / 2
        for c, step in enumerate(row):
            boxes[step.pk] = _box(step, x=left + c * (BOX_W + GAP_X), y=top + r * (BOX_H + ROW_GAP))

    pairs = {(t.from_step_id, t.to_step_id) for t in transitions}
    arrows = []
    for t in transitions:
        a, b = boxes.get(t.from_step_id), boxes.get(t.to_step_id)
        if a is None or b is None or a is b:
            continue
        two_way = (t.to_step_id, t.from_step_id) in pairs
        label = f"{a.name} → {b.name}" + (f": {t.name}" if t.name else "")
        arrows.append(Arrow(path=_path(a, b, place, two_way), title=label))

    height = top + len(rows) * BOX_H + max(len(rows) - 1, 0) * ROW_GAP + PAD
    return Diagram(
        key=key,
        title=title,
        width=int(row_width + 2 * PAD),
        height=int(height),
        boxes=list(boxes.values()),
        arrows=arrows,
    )


def _box(step: WorkflowStep, *, x: float, y: float) -> Box:
    bits = []
    if step.is_initial:
        bits.append("start")
    if step.outcome != WorkflowStep.Outcome.NONE:
        bits.append(step.get_outcome_display().lower())
    bits.append(f"{step.probability}%")
    return Box(
        step_id=step.pk,
        name=step.name,
        subtitle=" · ".join(bits),
        x=x,
        y=y,
        fill=step.color,
        text_color=_text_color(step.color),
        is_initial=step.is_initial,
        is_final=step.is_final,
    )


def _path(a: Box, b: Box, place: dict[int, tuple[int, int]], two_way: bool) -> str:
    (ra, ca), (rb, cb) = place[a.step_id], place[b.step_id]
    if ra == rb and abs(ca - cb) > 1:
        # Arc over the boxes in between; the reverse move starts and ends a little apart.
        shift = PAIR_OFFSET if (two_way and ca > cb) else 0
        x1, x2 = a.cx + (shift if ca < cb else -shift), b.cx + (shift if ca < cb else -shift)
        y = a.y if ra == 0 else a.y + a.height
        lift = (ARC_BASE + ARC_PER_COLUMN * abs(ca - cb)) * (1 if ra == 0 else -1)
        return (
            f"M{_n(x1)},{_n(y)} C{_n(x1)},{_n(y - lift)} {_n(x2)},{_n(y - lift)} {_n(x2)},{_n(y)}"
        )

    dx, dy = b.cx - a.cx, b.cy - a.cy
    length = math.hypot(dx, dy) or 1.0
    # Shift to the right of the direction of travel, so a move and its reverse sit apart.
    ox, oy = (-dy / length * PAIR_OFFSET, dx / length * PAIR_OFFSET) if two_way else (0.0, 0.0)
    x1, y1 = _border(a, dx, dy, ox, oy)
    x2, y2 = _border(b, -dx, -dy, ox, oy)
    return f"M{_n(x1)},{_n(y1)} L{_n(x2)},{_n(y2)}"


def _border(box: Box, dx: float, dy: float, ox: float, oy: float) -> tuple[float, float]:
    """Where a ray from the box's centre (shifted by ox, oy) towards (dx, dy) leaves it."""
    half_w, half_h = box.width / 2, box.height / 2
    candidates = []
    if dx:
        candidates.append((half_w - (ox if dx > 0 else -ox)) / abs(dx))
    if dy:
        candidates.append((half_h - (oy if dy > 0 else -oy)) / abs(dy))
    t = min(candidates) if candidates else 0.0
    return box.cx + ox + dx * t, box.cy + oy + dy * t


def _text_color(color: str) -> str:
    """The text colour (near-black or white) with the better WCAG contrast on ``color``."""
    try:
        r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    except (TypeError, ValueError):
        return "#0f172a"

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    return "#0f172a" if luminance > 0.179 else "#ffffff"


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")
