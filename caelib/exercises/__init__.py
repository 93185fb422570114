"""Exercise checks for the notebooks: a student calls ``caelib.exercises.check("03.1", answer, ...)``.

Every notebook ends with 2-4 exercises. In the notebook an exercise is a markdown cell (the task) and a
code cell, the **solution cell**: tagged ``solution``, carrying nbgrader's metadata (``"nbgrader":
{"solution": true, "grade_id": "ex03-1", ...}``), with the instructor's answer between nbgrader's markers
``### BEGIN SOLUTION`` and ``### END SOLUTION``, and ending with ``exercises.check("03.1", answer,
**context)``. The check prints that the answer is right, or raises :class:`WrongAnswer` whose message
says what to look at again (so a wrong answer also fails the notebook under nbmake).
``python -m caelib student-notebooks OUT_DIR`` (like nbgrader) replaces the solution region with
``raise NotImplementedError()``.

Checks live in one module per notebook (``nb03.py`` ...), registered with :func:`exercise`. Each
registration also gives two small demonstrations, a right and a wrong answer with their context, so
that the tests can prove every check accepts the one and rejects the other.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Exercise", "Result", "WrongAnswer", "exercise", "check", "registry"]


class WrongAnswer(AssertionError):
    """Raised by a check function: its message tells the student what is wrong (never the answer)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: ``check(answer, **context)`` raises :class:`WrongAnswer` or returns (optionally a remark).

    ``demo_right()`` / ``demo_wrong()`` return ``(answer, context)`` pairs that the check must accept /
    reject (used by ``tests/test_exercises.py``)."""

    id: str
    question: str
    check: Callable[..., str | None]
    demo_right: Callable[[], tuple[Any, dict]]
    demo_wrong: Callable[[], tuple[Any, dict]]
    accepts_none: bool = False      # None can be a right answer (e.g. "None if it never happens")

    @property
    def notebook(self) -> str:
        return self.id.split(".")[0]


@dataclass(frozen=True)
class Result:
    """A verdict on an answer: truthy when right; prints itself readably."""

    id: str
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        mark = "correct" if self.ok else "not yet"
        return f"Exercise {self.id}: {mark}. {self.message}".strip()

    __repr__ = __str__

    def _ipython_display_(self) -> None:
        """Show nothing: :func:`check` has printed the verdict already, so a cell ending in the check call
        shows it once (not a second time as the cell's value)."""


_REGISTRY: dict[str, Exercise] = {}


def exercise(id: str, question: str, *, demo_right: Callable[[], tuple[Any, dict]],
             demo_wrong: Callable[[], tuple[Any, dict]], accepts_none: bool = False) -> Callable:
    """Decorator that registers a check function under ``id`` ("NN.k": notebook NN, exercise k).

    ``accepts_none``: ``None`` is a possible answer and goes to the check (otherwise ``None`` means "no answer
    yet")."""
    if id.count(".") != 1 or not all(part.isdigit() for part in id.split(".")):
        raise ValueError(f"exercise ids look like '03.1' (notebook.number), got {id!r}")

    def register(fn: Callable[..., str | None]) -> Callable[..., str | None]:
        if id in _REGISTRY and _REGISTRY[id].check is not fn:
            raise ValueError(f"exercise {id} is registered twice")
        _REGISTRY[id] = Exercise(id, question, fn, demo_right, demo_wrong, accepts_none)
        return fn

    return register


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("nb"):
            importlib.import_module(f"{__name__}.{info.name}")


def registry() -> dict[str, Exercise]:
    """Every exercise of every notebook, by id."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def check(id: str, answer: Any, *, quiet: bool = False, **context: Any) -> Result:
    """Check a student's ``answer`` to exercise ``id``: prints and returns a :class:`Result` when it is
    right, raises :class:`WrongAnswer` (with a hint, never the answer) when it is not.

    ``context`` carries what the check needs to recompute the truth (the models, the images ...): the
    notebook's check cell passes it."""
    exercises = registry()
    if id not in exercises:
        raise KeyError(f"no exercise {id!r}; known: {', '.join(exercises)}")
    if answer is Ellipsis or (answer is None and not exercises[id].accepts_none):
        result = Result(id, False, "No answer yet: set the answer variable in the cell above and run it.")
    else:
        try:
            remark = exercises[id].check(answer, **context)
            result = Result(id, True, remark or "")
        except WrongAnswer as wrong:
            result = Result(id, False, str(wrong))
    if not result.ok:
        raise WrongAnswer(str(result))
    if not quiet:
        print(result)
    return result
