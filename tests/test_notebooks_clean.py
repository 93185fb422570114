"""Notebooks are committed clean and course-shaped: no outputs, the shared skeleton, exercises."""

from __future__ import annotations

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
    start = next(i for i, s in enumerate(sources) if s.startswith("## Exercises"))
    exercises = [c.source for c in nb.cells[start:] if c.cell_type == "code"]
    assert 2 <= len(exercises) <= 4
    for src in exercises:
        assert "### BEGIN SOLUTION" in src and "### END SOLUTION" in src
        assert "assert" in src.split("### END SOLUTION")[1], "each exercise ends with a check"
