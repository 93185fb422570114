"""The course-material commands of ``python -m caelib`` (``caelib.cli``): ``student-notebooks`` (the notebooks
without their solutions) and ``site`` (the course as a static website)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_args import PROG, UsageError, check_writable, log


def _default_notebooks() -> Path | None:
    folder = Path(__file__).resolve().parents[1] / "notebooks"
    return folder if folder.is_dir() else None


def cmd_student_notebooks(args: argparse.Namespace) -> int:
    """Write the student versions of the notebooks: solution regions replaced by nbgrader's stub."""
    from .student import write_student_notebooks

    src = args.notebooks or _default_notebooks()
    if src is None:
        raise UsageError("no notebooks/ folder next to the caelib package: pass --notebooks FOLDER")
    if not Path(src).exists():
        raise UsageError(f"--notebooks {src}: no such file or folder")
    check_writable(args.out_dir, "OUT_DIR", folder=True)
    done = write_student_notebooks(src, args.out_dir, force=args.force)
    for d in done:
        note = "" if d.regions else "   (no solution regions: copied without outputs)"
        print(f"{d.written}: {d.exercises} exercises, {d.regions} solution regions replaced "
              f"({d.lines_removed} solution lines removed){note}")
    print(f"{len(done)} student notebooks in {args.out_dir}: each solution region reads '# YOUR CODE HERE' / "
          "'raise NotImplementedError()'; exercises.check(...) tells a student whether an answer is right")
    return 0


def cmd_site(args: argparse.Namespace) -> int:
    """Build the course website: the notebooks executed and rendered by Sphinx + myst-nb (caelib/site.py)."""
    from .site import build_site

    try:
        built = build_site(args.out_dir, notebooks=args.notebooks, force=args.force, timeout=args.timeout,
                           log=None if args.quiet else log)
    except RuntimeError as err:                  # the build failed (e.g. a notebook cell raised): Sphinx's log
        print(f"{PROG} site: error: {err}", file=sys.stderr)
        return 1
    for name, r in built.reports.items():
        problems = [f"{len(r.raw_tables)} raw pipe tables"] * bool(r.raw_tables) + \
            [f"{len(r.bad_outputs)} error/warning outputs"] * bool(r.bad_outputs) + \
            ["no figure"] * (r.figures == 0 and name != "index")
        log(f"  {name}: {r.figures} figures" + (f"; check: {', '.join(problems)}" if problems else ""))
    if built.warnings:
        log(f"  Sphinx warnings ({len(built.warnings)}): " + "; ".join(built.warnings[:5]))
    print(f"site built in {built.seconds:.0f} s: {len(built.pages)} pages ({len(built.notebooks)} notebooks, the "
          f"index, search and general index) in {built.out_dir}; open {Path(built.out_dir) / 'index.html'}")
    return 0
