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


# ---- claims that cannot go stale: no computed figure typed into the prose ---------------------------------

_DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![.\d])")      # 0.80, 5.5; not versions (0.4.1) or ids (ex05-2)


def _prose(source: str) -> str:
    """A markdown cell's text without what may hold numbers: code (inline `...` and fenced blocks: constants,
    parameter values), link targets and URLs, and arXiv identifiers."""
    source = re.sub(r"```.*?```", " ", source, flags=re.S)
    source = re.sub(r"`[^`\n]*`", " ", source)
    source = re.sub(r"\]\([^)]*\)", "]", source)
    source = re.sub(r"https?://\S+", " ", source)
    return re.sub(r"arXiv[: ]\s*\d{4}\.\d{4,5}", " ", source, flags=re.I)


def stale_decimals(nb) -> list[tuple[int, str, str]]:
    """(cell index, number, context) for every decimal number typed into the prose of ``nb``'s markdown cells.

    A computed figure (an accuracy, a flip rate, a timing) belongs in a code cell's output, where a retrained
    model changes it; the prose points to it (and ``caelib.claims.claim`` checks any conclusion drawn from it).
    Allowed: decimals inside inline code or code blocks (constants: `sigma=2.0`, `lr 2e-3`), and any decimal in
    a markdown cell whose metadata says ``"caelib": {"numbers": "literature"}``: figures cited from a paper or
    from a recorded result the notebook does not compute (``benchmarks/results/...``), named as such."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or cell.metadata.get("caelib", {}).get("numbers") == "literature":
            continue
        text = _prose(cell.source)
        for match in _DECIMAL.finditer(text):
            context = " ".join(text[max(0, match.start() - 50):match.end() + 30].split())
            found.append((index, match.group(), context))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_types_no_computed_decimal(path):
    found = stale_decimals(nbformat.read(path, as_version=4))
    assert not found, (
        f"{path.name}: decimal numbers typed into markdown (a retrained model makes them stale): "
        + "; ".join(f"cell {i}: {number} in '...{context}...'" for i, number, context in found)
        + ". Print the figure from a code cell and point to it (check a conclusion with caelib.claims.claim), put "
          "a constant in backticks, or, for figures cited from a paper or a recorded benchmark result, mark the "
          'cell\'s metadata {"caelib": {"numbers": "literature"}}')


def test_the_decimal_rule_catches_a_stale_figure_and_spares_constants_and_citations():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("The flip rate is 0.93, and the table above shows it."),
                nbformat.v4.new_markdown_cell("Smoothing `sigma=2.0`; rex-xai 0.4.1; arXiv 2406.07961; "
                                              "[paper](https://arxiv.org/abs/2406.07961); exercise ex05-2."),
                nbformat.v4.new_markdown_cell("The paper reports 0.91.",
                                              metadata={"caelib": {"numbers": "literature"}})]
    assert [(i, n) for i, n, _ in stale_decimals(nb)] == [(0, "0.93")]
