"""Every exercise check accepts its right demo answer and rejects its wrong one, and the notebooks call exactly
the registered exercises (``exercises.check("NN.K", ...)`` in a solution cell)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest

from caelib import exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REGISTRY = exercises.registry()
CALL = re.compile(r"""exercises\.check\(\s*["'](\d\d\.\d+)["']""")


def _used_ids() -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                for ex_id in CALL.findall(cell.source):
                    used.setdefault(ex_id, []).append(path.name)
    return used


def test_there_are_exercises():
    assert len(REGISTRY) >= 2 * len([p for p in NOTEBOOKS if _ids_of(p)])


def _ids_of(path: Path) -> list[str]:
    return [i for i, names in _used_ids().items() if path.name in names]


@pytest.mark.parametrize("ex_id", list(REGISTRY))
def test_check_accepts_the_right_answer_and_rejects_the_wrong_one(ex_id, capsys):
    ex = REGISTRY[ex_id]
    t0 = time.perf_counter()
    answer, context = ex.demo_right()
    result = exercises.check(ex_id, answer, **context)
    assert result and result.ok
    assert "correct" in capsys.readouterr().out
    wrong, context = ex.demo_wrong()
    with pytest.raises(exercises.WrongAnswer) as info:
        exercises.check(ex_id, wrong, **context)
    message = str(info.value)
    assert message.startswith(f"Exercise {ex_id}: not yet.") and len(message) > 40, message
    if not ex.accepts_none:
        with pytest.raises(exercises.WrongAnswer, match="No answer yet"):
            exercises.check(ex_id, None, **context)
    with pytest.raises(exercises.WrongAnswer, match="No answer yet"):
        exercises.check(ex_id, ..., **context)
    assert time.perf_counter() - t0 < 60, "demos should be quick"


def test_notebooks_call_exactly_the_registered_exercises():
    used = _used_ids()
    notebooks = {p.name[:2] for p in NOTEBOOKS}
    unknown = sorted(set(used) - set(REGISTRY))
    assert not unknown, f"notebooks check exercises that are not registered: {unknown}"
    unused = sorted(i for i in REGISTRY if i.split(".")[0] in notebooks and i not in used)
    assert not unused, f"registered exercises that no notebook checks: {unused}"
    twice = {i: names for i, names in used.items() if len(names) > 1}
    assert not twice, f"exercise ids used by more than one notebook: {twice}"
    for ex_id, names in used.items():
        assert names[0].startswith(ex_id.split(".")[0]), f"{ex_id} is checked in {names[0]}: ids start with its number"


def test_unknown_exercise_is_a_clear_error():
    with pytest.raises(KeyError, match="no exercise"):
        exercises.check("99.9", 1)


def test_a_check_at_the_end_of_a_cell_shows_its_verdict_once(capsys):
    """``check`` prints the verdict; the Result it returns displays nothing: a cell ending in the call shows it once."""
    from IPython.core.formatters import DisplayFormatter

    ex_id = next(iter(REGISTRY))
    answer, context = REGISTRY[ex_id].demo_right()
    result = exercises.check(ex_id, answer, **context)
    assert capsys.readouterr().out.count("correct") == 1
    assert DisplayFormatter().format(result) == ({}, {})
