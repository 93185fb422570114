"""Notebooks are committed clean and course-shaped: no outputs, the shared skeleton, exercises."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_follows_the_skeleton(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.get("outputs") for c in code), "stored outputs: strip them (nbstripout)"
    assert not any(c.get("execution_count") for c in code), "stored execution counts: strip them (nbstripout)"
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    for heading in ("What you will learn", "Prerequisites", "Run time"):
        assert heading in first.source, f"the first cell lacks {heading!r}"
    sources = [c.source for c in nb.cells]
    start = next((i for i, s in enumerate(sources) if s.startswith("## Exercises")), None)
    assert start is not None, "no markdown cell starting with '## Exercises' (2-4 exercises end every notebook)"
    exercises = [c for c in nb.cells[start:] if c.cell_type == "code"]
    assert 2 <= len(exercises) <= 4
    number = path.name[:2]
    for k, cell in enumerate(exercises, 1):
        src = cell.source
        assert "### BEGIN SOLUTION" in src and "### END SOLUTION" in src
        # nbgrader's solution-cell metadata (so that courses using nbgrader take the notebook as is) and our tag
        assert "solution" in cell.metadata.get("tags", []), f"exercise {k}: tag the solution cell 'solution'"
        grader = cell.metadata.get("nbgrader", {})
        assert grader.get("solution") is True and grader.get("grade") is False and grader.get("task") is False, \
            f"exercise {k}: nbgrader metadata {{'solution': true, 'grade': false, 'task': false, ...}} missing"
        assert grader.get("grade_id") == f"ex{number}-{k}" and grader.get("schema_version") == 3, grader
        assert grader.get("locked") is False
        tail = src.split("### END SOLUTION")[1]
        assert f'exercises.check("{number}.{k}"' in tail, \
            f'exercise {k} ends with exercises.check("{number}.{k}", answer, ...) after the solution'
    setup = next(c.source for c in nb.cells if c.cell_type == "code")
    assert re.search(r"^from caelib import .*\bexercises\b", setup, re.M), \
        "import the exercise checks in the set-up cell (from caelib import exercises)"
