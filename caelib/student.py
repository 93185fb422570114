"""Student versions of the notebooks: the solutions removed, the way nbgrader does it.

An exercise's solution cell carries nbgrader's metadata (``"nbgrader": {"solution": true, ...}``) and the tag
``solution``; its answer sits between the lines ``### BEGIN SOLUTION`` and ``### END SOLUTION``. The student
version replaces each such region (markers included) with nbgrader's stub, indented like the
``### BEGIN SOLUTION`` line::

    # YOUR CODE HERE
    raise NotImplementedError()

(``YOUR ANSWER HERE`` in a markdown cell), keeps everything else of the cell (the set-up lines above the
region, the print and the ``exercises.check(...)`` call below it) and clears all outputs. Courses that use
nbgrader can take the notebooks as they are (``nbgrader generate_assignment`` does the same replacement);
without nbgrader::

    python -m caelib student-notebooks students/            # every notebook in notebooks/
    python -m caelib student-notebooks students/ --notebooks my_course/ --force
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BEGIN", "END", "CODE_STUB", "MARKDOWN_STUB", "StudentNotebook", "is_solution_cell", "strip_solutions",
           "student_version", "write_student_notebooks"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
MARKDOWN_STUB = "YOUR ANSWER HERE"
_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)


def is_solution_cell(cell) -> bool:
    """A cell marked as a solution by nbgrader's metadata or the ``solution`` tag."""
    meta = cell.get("metadata", {})
    return bool(meta.get("nbgrader", {}).get("solution")) or "solution" in meta.get("tags", [])


def strip_solutions(source: str, *, markdown: bool = False) -> tuple[str, int]:
    """``source`` with every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region replaced by the stub;
    returns (new source, number of regions). An unclosed region is an error (nothing would be hidden)."""
    stub = MARKDOWN_STUB if markdown else CODE_STUB

    def replace(match: re.Match) -> str:
        indent = match.group(1)
        return "\n".join(indent + line for line in stub.split("\n"))

    new, n = _REGION.subn(replace, source)
    if BEGIN in new or END in new:
        raise ValueError("a '### BEGIN SOLUTION' without its '### END SOLUTION' (or the other way round): every "
                         "region needs both marker lines")
    return new, n


@dataclass
class StudentNotebook:
    """What :func:`write_student_notebooks` wrote for one notebook."""

    source: Path
    written: Path
    exercises: int        # solution cells
    regions: int          # solution regions replaced
    lines_removed: int    # solution lines hidden


def student_version(nb):
    """A student version of the notebook ``nb`` (an ``nbformat`` node; not modified): solution regions
    replaced by stubs, outputs and execution counts cleared. Returns (notebook, solution cells, regions,
    solution lines removed)."""
    nb = copy.deepcopy(nb)
    cells = regions = removed = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
        marked = is_solution_cell(cell)
        if not marked and BEGIN not in cell.source:
            continue
        before = cell.source
        cell.source, n = strip_solutions(before, markdown=cell.cell_type == "markdown")
        if marked and n == 0:
            raise ValueError(f"cell {index} is marked as a solution but has no '{BEGIN}' ... '{END}' region")
        cells += marked or n > 0
        regions += n
        removed += len(before.splitlines()) - len(cell.source.splitlines())   # region - markers = 2 stub lines
    return nb, cells, regions, removed


def write_student_notebooks(src: str | Path, out: str | Path, *, force: bool = False,
                            pattern: str = "[0-9][0-9]_*.ipynb") -> list[StudentNotebook]:
    """Write the student version of every notebook ``src/pattern`` (or of the notebook ``src``) into the folder
    ``out``, under the same names. Refuses to replace existing files unless ``force``."""
    import nbformat

    src, out = Path(src), Path(out)
    paths = [src] if src.is_file() else sorted(src.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no notebooks {pattern} in {src}; pass the folder of the course's notebooks")
    if src.is_dir() and out.resolve() == src.resolve():
        raise ValueError("the student versions would replace the notebooks with the solutions: choose another folder")
    targets = [out / p.name for p in paths]
    taken = [t for t in targets if t.exists()]
    if taken and not force:
        raise FileExistsError(f"{taken[0]} exists (and {len(taken) - 1} more); choose another folder, or pass --force")
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for path, target in zip(paths, targets):
        nb = nbformat.read(path, as_version=4)
        student, cells, regions, removed = student_version(nb)
        nbformat.validate(student)
        nbformat.write(student, target)
        done.append(StudentNotebook(path, target, cells, regions, removed))
    return done
