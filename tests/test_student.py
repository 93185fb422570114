"""Student versions (``python -m caelib student-notebooks``): solutions replaced by nbgrader's stub, everything
else kept; each student notebook runs up to its first exercise and stops there with NotImplementedError."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import nbformat
import pytest

from caelib import cli
from caelib.student import CODE_STUB, is_solution_cell, strip_solutions, student_version, write_student_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_strip_solutions_keeps_indentation_and_the_rest():
    src = "x = 1\nif True:\n    ### BEGIN SOLUTION\n    y = 2\n    z = 3\n    ### END SOLUTION\nprint(y)\n"
    new, n = strip_solutions(src)
    assert n == 1
    assert new == "x = 1\nif True:\n    # YOUR CODE HERE\n    raise NotImplementedError()\nprint(y)\n"
    ast.parse(new)
    two = "### BEGIN SOLUTION\na\n### END SOLUTION\nb\n### BEGIN SOLUTION\nc\n### END SOLUTION"
    assert strip_solutions(two)[1] == 2
    with pytest.raises(ValueError, match="without its"):
        strip_solutions("### BEGIN SOLUTION\nanswer = 1\n")


def test_a_solution_cell_without_a_region_is_an_error():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]})])
    with pytest.raises(ValueError, match="no '### BEGIN SOLUTION'"):
        student_version(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_version_hides_every_solution_and_keeps_the_rest(path):
    nb = nbformat.read(path, as_version=4)
    student, cells, regions, removed = student_version(nb)
    nbformat.validate(student)
    assert cells >= 2 and regions >= cells and removed >= regions
    assert len(student.cells) == len(nb.cells)
    for orig, new in zip(nb.cells, student.cells):
        assert new.metadata == orig.metadata            # nbgrader's metadata and the tags stay
        if new.cell_type == "code":
            assert not new.outputs and new.execution_count is None
            ast.parse(new.source)                       # still Python (stubs indented like the region)
        if is_solution_cell(orig):
            assert "BEGIN SOLUTION" not in new.source and "raise NotImplementedError()" in new.source
            assert new.source.split("raise NotImplementedError()")[-1] == orig.source.split("### END SOLUTION")[-1], \
                "the lines after the solution (the exercises.check call) are kept"
            assert orig.source.split("### BEGIN SOLUTION")[0] in new.source
        else:
            assert new.source == orig.source


def test_cli_writes_student_notebooks_and_refuses_to_overwrite(tmp_path, capsys):
    assert cli.main(["student-notebooks", str(tmp_path / "students")]) == 0
    out = capsys.readouterr().out
    written = sorted(p.name for p in (tmp_path / "students").glob("*.ipynb"))
    assert written == [p.name for p in NOTEBOOKS]
    assert "solution regions replaced" in out
    assert cli.main(["student-notebooks", str(tmp_path / "students")]) == 2
    assert "--force" in capsys.readouterr().err
    assert cli.main(["student-notebooks", str(tmp_path / "students"), "--force"]) == 0
    assert cli.main(["student-notebooks", str(tmp_path / "x"), "--notebooks", str(tmp_path / "nowhere")]) == 2
    with pytest.raises(ValueError, match="another folder"):
        write_student_notebooks(ROOT / "notebooks", ROOT / "notebooks", force=True)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_notebook_runs_up_to_its_first_exercise(path, tmp_path):
    """Execute the student version up to its first solution cell: every cell before it runs, and the first
    solution cell stops at the stub (NotImplementedError), not earlier (e.g. a NameError)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    [done] = write_student_notebooks(path, tmp_path)
    nb = nbformat.read(done.written, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if is_solution_cell(c) and c.cell_type == "code")
    assert CODE_STUB.split("\n")[1] in nb.cells[first].source
    nb.cells = nb.cells[:first + 1]
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})   # runs in notebooks/, like nbmake
    t0 = time.perf_counter()
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    assert info.value.ename == "NotImplementedError", f"stopped by another error:\n{info.value}"
    errors = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
              and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert errors == [first], f"cells with errors: {errors}; the first exercise is cell {first}"
    print(f"{path.name}: ran to the first exercise (cell {first}) in {time.perf_counter() - t0:.1f} s")
