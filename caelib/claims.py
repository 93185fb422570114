"""Claims that cannot go stale: a notebook's prose draws a conclusion, a code cell checks it.

A markdown cell never types a number that the notebook computes (the code prints it), and where the prose
concludes something from a computed result ("the CAE map beats Integrated Gradients", "most swaps flip the
black box"), the cell below it calls :func:`claim` with the computed values. When a retrained model changes the
result, the claim fails with a readable message and nbmake fails the notebook, instead of the text silently
contradicting the output above it.

    from caelib.claims import claim
    claim(auc["cae"] < auc["ig"], "the CAE map deletes the evidence faster than Integrated Gradients",
          evidence=f"deletion AUC: CAE {auc['cae']:.3f}, IG {auc['ig']:.3f}")

:func:`table` shows a result as a real table (a pandas DataFrame with a Styler), never as Markdown typed by hand.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

__all__ = ["Checked", "ClaimFailed", "claim", "table"]


class ClaimFailed(AssertionError):
    """The text of a notebook says something that the computed result no longer supports."""


class Checked:
    """What :func:`claim` returns when the statement holds: truthy, and shown as nothing in Jupyter (the check
    has printed itself already), so a cell that ends with a claim does not also show ``True``."""

    __slots__ = ("statement", "evidence")

    def __init__(self, statement: str, evidence: str = ""):
        self.statement, self.evidence = statement, evidence

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"claim checked: {self.statement}" + (f" ({self.evidence})" if self.evidence else "")

    def _ipython_display_(self) -> None:
        """Show nothing: the check printed itself."""


def claim(holds: Any, statement: str, *, evidence: str = "", quiet: bool = False) -> Checked:
    """Check that ``statement`` (what the prose says) ``holds`` for the computed result.

    ``holds`` is anything with a truth value (a bool, a 0-d tensor or array). ``evidence`` is the computed
    figures behind the statement; it is printed with the check and put in the error. Returns a truthy
    :class:`Checked` that Jupyter shows as nothing (and prints ``claim checked: ...`` unless ``quiet``); raises
    :class:`ClaimFailed` when the statement is false."""
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("claim needs the statement the prose makes, as a non-empty string")
    try:
        ok = bool(holds)
    except (TypeError, RuntimeError, ValueError) as err:       # e.g. a tensor of many values
        raise ValueError(f"claim {statement!r}: the condition must be one truth value, got {type(holds).__name__} "
                         f"({err}); reduce it first (e.g. with .all() or a comparison of two numbers)") from None
    detail = f" ({evidence})" if evidence else ""
    if not ok:
        raise ClaimFailed(f"The text says: {statement!r}, but the computed result does not support it{detail}. "
                          "The model, the data or the code changed: rewrite the prose (and this check) to say what "
                          "the result shows now.")
    if not quiet:
        print(f"claim checked: {statement}{detail}")
    return Checked(statement, evidence)


def table(rows: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]], *, index: str | None = None,
          precision: int = 3, caption: str | None = None, highlight: Mapping[str, str] | None = None):
    """A results table as a pandas Styler, which Jupyter, nbconvert and the course website render as HTML.

    ``rows`` is ``{row_name: {column: value}}`` (the row names become the index, titled ``index``) or a list
    of ``{column: value}`` records. ``highlight`` maps a column to ``"min"`` or ``"max"``: that column's best
    value is shown in bold (the direction a metric prefers). Floats are shown with ``precision`` decimals."""
    import pandas as pd

    if isinstance(rows, Mapping):
        frame = pd.DataFrame.from_dict({k: dict(v) for k, v in rows.items()}, orient="index")
        if index:
            frame.index.name = index
    else:
        frame = pd.DataFrame([dict(r) for r in rows])
        if index:
            frame = frame.set_index(index)
    if frame.empty:
        raise ValueError("table: no rows to show")
    styler = frame.style.format(precision=precision, na_rep="-")
    for column, direction in (highlight or {}).items():
        if column not in frame.columns:
            raise ValueError(f"table: highlight names column {column!r}, which the table lacks "
                             f"(columns: {', '.join(map(str, frame.columns))})")
        if direction not in ("min", "max"):
            raise ValueError(f"table: highlight direction must be 'min' or 'max', got {direction!r}")
        styler = (styler.highlight_min if direction == "min" else styler.highlight_max)(
            subset=[column], props="font-weight: bold")
    if caption:
        styler = styler.set_caption(caption)
    return styler
