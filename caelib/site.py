"""The course as a static website: the notebooks executed and rendered by Sphinx with myst-nb.

    python -m caelib site course-site/              # then open course-site/index.html (no server needed)

:func:`build_site` writes a Sphinx project into a temporary build folder (``caelib.site_project``: ``conf.py``,
an ``index.md`` with the course title and README's learning-path table, and *copies* of the notebooks as the
table of contents, in order) and runs ``sphinx-build``. myst-nb executes every notebook during the build
(``nb_execution_mode = "force"``, a per-cell timeout; a cell that raises fails the build). The environment (e.g.
``CAELIB_CI=1``) reaches the kernels.

The pages need no network: the theme (sphinx-book-theme) ships its fonts and scripts, and the widget
JavaScript that myst-nb would take from a CDN is left out. Interactive explorers need a kernel, so a static page
shows the first frame they drew and a note (``caelib.site_widgets``, a Sphinx extension); a tqdm progress bar
(a widget in a kernel) is shown as its final text line. Solution cells are folded ("Show code cell source"), so a
student reading the site sees the task first.

The site folder holds ``.caelib-site.json`` (what was built, when, in how many seconds, which entries it wrote):
a later build replaces those entries once it has succeeded; any other non-empty folder is refused unless ``force``
(then the site is written over it, nothing else is deleted).

Each page built is checked with :func:`page_report` (``caelib.site_report``, re-exported here): figures, raw pipe
tables and error or warning outputs.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .site_project import BUILD, write_project
from .site_report import PageReport, is_progress_text, page_report, pipe_table_rows, raw_pipe_tables

__all__ = ["MARKER", "SiteBuild", "PageReport", "build_site", "page_report", "pipe_table_rows", "raw_pipe_tables",
           "is_progress_text", "find_notebooks"]

MARKER = ".caelib-site.json"
_NB = re.compile(r"^\d\d_.*\.ipynb$")

# ------------------------------------------------------------------------------------------ the build


@dataclass
class SiteBuild:
    """What :func:`build_site` built."""

    out_dir: Path
    notebooks: list[str]                    # page names of the notebooks, in order (e.g. "01_data_and_black_box")
    pages: list[Path]                       # every HTML page written (index, notebooks, search, genindex)
    seconds: float
    warnings: list[str]                     # Sphinx's warnings
    reports: dict[str, PageReport]          # per notebook page (and "index")


def find_notebooks(src: str | Path) -> list[Path]:
    """The course notebooks ``NN_*.ipynb`` of a folder, in order."""
    src = Path(src)
    if src.is_file():
        return [src]
    found = sorted(p for p in src.glob("*.ipynb") if _NB.match(p.name))
    if not found:
        raise FileNotFoundError(f"no notebooks named NN_*.ipynb in {src}")
    return found



def _check_out_dir(out: Path, notebooks: list[Path], force: bool) -> bool:
    """May the site go into ``out``? Returns True when ``out`` holds a previous site (to be replaced)."""
    out_r = out.resolve()
    folder = notebooks[0].parent.resolve()
    if out_r == folder or folder in out_r.parents or out_r in folder.parents:
        raise ValueError(f"{out} would put the site into (or around) the notebooks folder {folder}: pick another "
                         "folder")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return False
    try:
        json.loads((out / MARKER).read_text(encoding="utf-8"))["entries"]
        return True
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if not force:
        raise FileExistsError(f"{out} is not empty and holds no site built by caelib: pick an empty folder, or "
                              "pass --force to write the site over it (nothing else in it is deleted)")
    return False


def _remove_previous(out: Path) -> None:
    """Remove what a previous build wrote into ``out`` (the entries its marker lists), nothing else."""
    entries = json.loads((out / MARKER).read_text(encoding="utf-8")).get("entries", [MARKER])
    for name in entries:
        path = out / name
        if "/" in name or name in {"", ".", ".."} or not (path.exists() or path.is_symlink()):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _kernel_env(build: Path) -> dict[str, str]:
    env = dict(os.environ)
    ipy = build / BUILD / "ipython" / "profile_default"
    ipy.mkdir(parents=True, exist_ok=True)
    # plain tracebacks in the build log (no colour codes); no user start-up files in the kernels
    (ipy / "ipython_kernel_config.py").write_text('c.InteractiveShell.colors = "nocolor"\n')
    env["IPYTHONDIR"] = str(ipy.parent)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env["PYTHONUNBUFFERED"] = "1"            # Sphinx's progress lines arrive as they are printed
    return env


_READ = re.compile(r"reading sources\.\.\. \[\s*(\d+)%\] (\S+)")


def _follow(proc: subprocess.Popen, fh, say: Callable[[str], None], n: int, t0: float) -> int:
    """Copy Sphinx's output into the log ``fh`` and turn it into progress lines; returns its exit code."""
    n_done, current, t_nb = 0, None, time.perf_counter()
    for line in proc.stdout:
        fh.write(line)
        m = _READ.search(line)
        if m and m.group(2) != "index":
            current, t_nb = m.group(2), time.perf_counter()
            say(f"  [{n_done + 1}/{n}] executing {current} ... ({time.perf_counter() - t0:.0f} s so far)")
        elif "Executed notebook in" in line and current:
            n_done += 1
            say(f"        {current}: done in {time.perf_counter() - t_nb:.0f} s")
        elif line.startswith("writing output... [") and n_done == n:
            say("  writing the HTML pages ...")
            n_done += 1
    return proc.wait()


def _stop(proc: subprocess.Popen) -> None:
    """Stop Sphinx and the kernels it started (jupyter_client gives each kernel a session of its own, so they are
    found as Sphinx's child processes, not through its process group)."""
    try:
        import psutil  # ipykernel's dependency: present wherever myst-nb runs notebooks

        kids = psutil.Process(proc.pid).children(recursive=True)
    except Exception:
        kids = []
    for p in kids:
        try:
            p.terminate()
        except Exception:
            pass
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for p in kids:
        try:
            p.wait(5)
        except Exception:
            try:
                p.kill()
            except Exception:
                pass


def build_site(out_dir: str | Path, *, notebooks: str | Path | None = None, force: bool = False,
               timeout: int = 600, log: Callable[[str], None] | None = print,
               keep_build: bool = False) -> SiteBuild:
    """Build the course website into ``out_dir`` (see the module's docstring); returns what was built.

    ``notebooks``: a folder of ``NN_*.ipynb`` (default: ``notebooks/`` beside the package). ``timeout``: seconds
    per cell. ``log``: progress lines (``None``: quiet). Raises ``RuntimeError`` with the end of Sphinx's log
    when the build fails (e.g. a cell raised); ``out_dir`` is then left as it was."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    src_folder = Path(notebooks) if notebooks is not None else Path(__file__).resolve().parents[1] / "notebooks"
    if not src_folder.exists():
        raise FileNotFoundError(f"{src_folder}: no such folder (pass the notebooks' folder)")
    nbs = [p.resolve() for p in find_notebooks(src_folder)]
    previous = _check_out_dir(out, nbs, force)
    say = log or (lambda s: None)

    build = Path(tempfile.mkdtemp(prefix="caelib-site-"))
    ok = False
    try:
        src = write_project(nbs, build, timeout)
        html_dir, doctrees = build / BUILD / "out" / "html", build / BUILD / "out" / "doctrees"
        warn_file = build / BUILD / "warnings.txt"
        log_file = build / BUILD / "sphinx.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-d", str(doctrees), "-w", str(warn_file), "-T",
               "--no-color", str(src), str(html_dir)]
        say(f"building the site of {len(nbs)} notebooks (each is executed: a few minutes on 2 CPU cores) ...")
        with open(log_file, "w", encoding="utf-8", buffering=1) as fh:       # line by line: tail -f works
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                    env=_kernel_env(build), cwd=build)
            assert proc.stdout is not None
            try:
                rc = _follow(proc, fh, say, len(nbs), t0)
            except BaseException:       # interrupted (^C, a test's timeout): stop Sphinx and its notebook kernels
                _stop(proc)
                raise

        if rc != 0:
            text = log_file.read_text(encoding="utf-8", errors="replace")
            cell = re.search(r"CellExecutionError: (An error occurred while executing.*?)\n\s*\n\s*The above exception"
                             r".*?ExecutionError: (\S+)", text, re.S)
            if cell:       # a notebook cell raised: say which notebook, and show the cell and its error
                what = f"notebook {Path(cell.group(2)).name} failed: {cell.group(1)[-5000:]}"
            else:
                what = f"the end of its log:\n{text[-6000:]}"
            raise RuntimeError(f"sphinx-build failed (exit code {rc}); {what}\n(Sphinx's log: {log_file}; the build "
                               "folder is kept)")
        warnings = [w for w in warn_file.read_text(encoding="utf-8", errors="replace").splitlines() if w.strip()] \
            if warn_file.exists() else []

        # the new site replaces a previous one only now that it is complete; only what that build wrote is removed
        if previous:
            _remove_previous(out)
        out.mkdir(parents=True, exist_ok=True)
        before = set(os.listdir(out))
        shutil.copytree(html_dir, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".buildinfo"))
        entries = sorted((set(os.listdir(out)) - before) | {MARKER})
        pages = sorted(out.glob("*.html"))      # the notebooks are flat; _static holds templates, not pages
        reports = {}
        for name in ["index"] + [p.stem for p in nbs]:
            page = out / f"{name}.html"
            if page.exists():
                reports[name] = page_report(page.read_text(encoding="utf-8"))
        seconds = time.perf_counter() - t0
        (out / MARKER).write_text(json.dumps({
            "built": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(seconds, 1), "notebooks": [p.stem for p in nbs], "pages": len(pages),
            "caelib_ci": os.environ.get("CAELIB_CI") == "1", "sphinx_warnings": warnings,
            "entries": entries}, indent=1) + "\n")
        ok = True
        return SiteBuild(out, [p.stem for p in nbs], pages, seconds, warnings, reports)
    finally:
        if ok and not keep_build:
            shutil.rmtree(build, ignore_errors=True)
