"""The server-side layout of the workflow diagram."""

import re

import pytest

from tests.wfm.factories import build_workflow
from wfm.defaults import SALES_PIPELINE
from wfm.diagram import workflow_diagram
from wfm.models import Workflow

pytestmark = pytest.mark.django_db


def endpoints(path: str) -> list[tuple[float, float]]:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path)]
    pairs = list(zip(numbers[::2], numbers[1::2], strict=True))
    return [pairs[0], pairs[-1]]


def on_border(point, box) -> bool:
    x, y = point
    inside_x = box.x - 0.2 <= x <= box.x + box.width + 0.2
    inside_y = box.y - 0.2 <= y <= box.y + box.height + 0.2
    on_edge = min(
        abs(x - box.x), abs(x - box.x - box.width), abs(y - box.y), abs(y - box.y - box.height)
    )
    return inside_x and inside_y and on_edge < 0.2


def test_open_steps_in_one_row_final_steps_below():
    diagram = workflow_diagram(Workflow.objects.get(name=SALES_PIPELINE))

    rows = {}
    for box in diagram.boxes:
        rows.setdefault(box.is_final, []).append(box)
    assert len({b.y for b in rows[False]}) == 1
    assert len({b.y for b in rows[True]}) == 1
    assert rows[True][0].y > rows[False][0].y
    xs = [b.x for b in rows[False]]
    assert xs == sorted(xs)
    assert all(
        b.x + b.width <= diagram.width and b.y + b.height <= diagram.height for b in diagram.boxes
    )


def test_every_arrow_runs_from_its_step_to_its_step():
    workflow, steps = build_workflow(
        ["A", "B", "C", "D", "X"],
        [("A", "B"), ("B", "A"), ("A", "C"), ("C", "A"), ("B", "X"), ("X", "B"), ("C", "D")],
        final=("X",),
    )
    diagram = workflow_diagram(workflow)
    boxes = {b.name: b for b in diagram.boxes}

    assert len(diagram.arrows) == 7
    paths = set()
    for arrow in diagram.arrows:
        names = arrow.title.split(": ")[0].split(" → ")
        start, end = endpoints(arrow.path)
        assert on_border(start, boxes[names[0]]), arrow
        assert on_border(end, boxes[names[1]]), arrow
        paths.add(arrow.path)
    assert len(paths) == 7  # a move and its reverse are not drawn on top of each other


def test_light_colours_get_dark_text():
    workflow, steps = build_workflow(["Pale", "Dark"], [])
    steps["Pale"].status.color = "#fef3c7"
    steps["Pale"].status.save()
    steps["Dark"].status.color = "#1e293b"
    steps["Dark"].status.save()

    colours = {b.name: b.text_color for b in workflow_diagram(workflow).boxes}

    assert colours == {"Pale": "#0f172a", "Dark": "#ffffff"}
