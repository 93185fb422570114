"""The course as a static website: the notebooks executed and rendered by Sphinx with myst-nb.

    python -m caelib site course-site/              # then open course-site/index.html (no server needed)

:func:`build_site` writes a Sphinx project into a temporary build folder (``conf.py``, an ``index.md`` with the
course title and README's learning-path table, and *copies* of the notebooks as the table of contents, in
order) and runs ``sphinx-build``. myst-nb executes every notebook during the build (``nb_execution_mode =
"force"``, a per-cell timeout; a cell that raises fails the build). The copies sit in a mirror of the notebooks'
parent folder whose other entries are links to the real ones, so a notebook's relative paths (e.g.
``../benchmarks/results/...``) work as they do in JupyterLab, while nothing is written into ``notebooks/``.
The environment (e.g. ``CAELIB_CI=1``) reaches the kernels.

The pages need no network: the theme (sphinx-book-theme) ships its fonts and scripts, and the widget
JavaScript that myst-nb would take from a CDN is left out. Interactive explorers need a kernel, so a static page
shows the first frame they drew and a note; a tqdm progress bar (a widget in a kernel) is shown as its final
text line. Solution cells are folded ("Show code cell source"), so a student reading the site sees the task first.

The site folder holds ``.caelib-site.json`` (what was built, when, in how many seconds, which entries it wrote):
a later build replaces those entries once it has succeeded; any other non-empty folder is refused unless ``force``
(then the site is written over it, nothing else is deleted).

:func:`page_report` checks a rendered page without a browser: figures, raw pipe tables (a Markdown table whose
header holds an unescaped ``|``, e.g. ``rand. |ρ|``, renders as a paragraph of pipes; a table printed with
``print`` shows as pipe rows too) and error or warning outputs.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

__all__ = ["MARKER", "SiteBuild", "PageReport", "build_site", "page_report", "pipe_table_rows", "raw_pipe_tables",
           "is_progress_text", "find_notebooks"]

MARKER = ".caelib-site.json"
_BUILD = "_caelib_site_build"          # internal folder names in the build tree (never a sibling's name)
_NB = re.compile(r"^\d\d_.*\.ipynb$")

# ------------------------------------------------------------------------------------ raw pipe tables

#: a Markdown table's separator row: at least two cells of dashes (optional alignment colons) between pipes,
#: e.g. ``|---|---|``, ``| :-- | --: |``, or ``---|---`` without the outer pipes. Prose never has it; every
#: Markdown table does. Once a broken table is rendered as a paragraph, smart quotes turn ``---`` into an em dash
#: and ``--`` into an en dash: ``|—|—|``
_DASHES = r"\s*:?(?:-+|-*[—–][-—–]*):?\s*"
_SEPARATOR = re.compile(rf"(?:\|{_DASHES}){{2,}}\||:?-{{3,}}:?\s*\|\s*:?-{{3,}}:?")
#: a table row on a line of its own: starts and ends with a pipe, at least two cells (``| a | b |``)
_ROW = re.compile(r"^\s*\|(?:[^|\n]*\|){2,}\s*$")


def pipe_table_rows(text: str) -> list[str]:
    """The table-like pipe rows of ``text``: separator rows (``|---|---|``, anywhere in a line, because a
    browser's text of a paragraph joins its lines) and, when a block has a separator or at least two of them,
    rows of the form ``| a | b |``. A lone ``|ρ|`` or ``|x| and |y|`` in prose is no table."""
    lines = text.splitlines()
    seps = [ln.strip() for ln in lines if _SEPARATOR.search(ln)]
    rows = [ln.strip() for ln in lines if _ROW.match(ln) and not _SEPARATOR.search(ln)]
    if seps or len(rows) >= 2:
        return seps + rows
    return []


class _Blocks(HTMLParser):
    """Text of the blocks a reader sees as prose or as printed output: ``<p>``, ``<li>``, headings, and
    ``<pre>`` inside a cell's output. Code a cell shows as its input (and code blocks in the text) are skipped:
    a table built in code is not a raw table."""

    PROSE = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "dd", "dt"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, set[str]]] = []
        self.blocks: list[tuple[str, str]] = []     # (kind, text)
        self._open: list[tuple[str, list[str]]] = []

    def _in(self, cls: str) -> bool:
        return any(cls in classes for _, classes in self.stack)

    def handle_starttag(self, tag, attrs):
        if tag in {"br", "img", "hr", "meta", "link", "input"}:
            if tag == "br" and self._open:
                self._open[-1][1].append("\n")
            return
        classes = set((dict(attrs).get("class") or "").split())
        self.stack.append((tag, classes))
        if tag in self.PROSE and not self._in("cell_input"):
            self._open.append((tag, []))
        elif tag == "pre" and self._in("cell_output"):
            self._open.append(("pre", []))

    def handle_endtag(self, tag):
        if tag in {"br", "img", "hr", "meta", "link", "input"}:
            return
        # pop to the matching tag (HTML from docutils is well formed; be lenient anyway)
        while self.stack:
            t, _ = self.stack.pop()
            if self._open and self._open[-1][0] == t:
                kind, parts = self._open.pop()
                text = "".join(parts)         # a nested block (a <p> in an <li>) is its own block
                self.blocks.append(("output" if kind == "pre" else "text", text))
            if t == tag:
                break

    def handle_data(self, data):
        if self._open:
            self._open[-1][1].append(data)


def raw_pipe_tables(html_text: str) -> list[str]:
    """The raw pipe tables of an HTML page: for each prose block (paragraph, list item, ...) or printed
    output block that holds table-like pipe rows (:func:`pipe_table_rows`), its first 160 characters.
    A rendered ``<table>``'s cells hold no such rows, so a correct table is never reported."""
    parser = _Blocks()
    parser.feed(html_text)
    parser.close()
    found = []
    for _, text in parser.blocks:
        if pipe_table_rows(text):
            found.append(" ".join(text.split())[:160])
    return found


# ------------------------------------------------------------------------- error and warning outputs

#: one tqdm meter line: "desc: 42%|####      | 42/100 [00:01<00:02, 30.1it/s]" or "300it [00:05, 55.2it/s]"
_TQDM = re.compile(r"(\d+%\|.*\|\s*)?[\d.]+[kMG]?(/[\d.]+[kMG]?)?\s*\w*\s*\[\d+:\d\d(:\d\d)?([<,].*)?\]\s*$")


def is_progress_text(text: str) -> bool:
    """Is ``text`` (a stderr output) nothing but tqdm progress-bar lines? tqdm redraws its bar with ``\\r``
    on stderr; each redraw is one meter line. Anything else on stderr (a warning, a traceback) is not."""
    lines = [ln for ln in re.split(r"[\r\n]+", text) if ln.strip()]
    return bool(lines) and all(_TQDM.search(ln) for ln in lines)


#: text in an output that says something went wrong, whatever stream printed it
_BAD_TEXT = re.compile(r"Traceback \(most recent call last\)|^\s*(\S+:\d+: )?[A-Z]\w*(Warning|Error): ", re.M)


@dataclass
class PageReport:
    """What :func:`page_report` found on one page."""

    figures: int                                   # <img> in cell outputs
    raw_tables: list[str] = field(default_factory=list)
    bad_outputs: list[str] = field(default_factory=list)    # error / warning outputs (progress bars excluded)
    progress_bars: int = 0                         # stderr outputs that are only progress bars

    @property
    def ok(self) -> bool:
        return self.figures > 0 and not self.raw_tables and not self.bad_outputs


class _Outputs(HTMLParser):
    """Figures and the text of each output block, with its classes (myst-nb marks a stderr stream with
    ``output stderr``, an error with ``output traceback``)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth_output = 0
        self.stack: list[tuple[str, bool]] = []
        self.images = 0
        self.outputs: list[tuple[set[str], list[str]]] = []
        self._current: list[tuple[int, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if tag == "img":
            if self.depth_output:
                self.images += 1
            return
        if tag in {"br", "hr", "meta", "link", "input"}:
            return
        is_out = "cell_output" in classes
        self.stack.append((tag, is_out))
        self.depth_output += is_out
        if "output" in classes and ({"stderr", "traceback", "stream", "text_plain"} & classes):
            self.outputs.append((classes, []))
            self._current.append((len(self.stack), self.outputs[-1][1]))

    def handle_endtag(self, tag):
        if tag in {"img", "br", "hr", "meta", "link", "input"}:
            return
        while self.stack:
            depth = len(self.stack)
            t, is_out = self.stack.pop()
            self.depth_output -= is_out
            if self._current and self._current[-1][0] == depth:
                self._current.pop()
            if t == tag:
                break

    def handle_data(self, data):
        for _, parts in self._current:
            parts.append(data)


def page_report(html_text: str) -> PageReport:
    """Figures, raw pipe tables and error or warning outputs of one rendered page."""
    p = _Outputs()
    p.feed(html_text)
    p.close()
    bad, bars = [], 0
    for classes, parts in p.outputs:
        text = "".join(parts)
        if "traceback" in classes:
            bad.append("error output: " + " ".join(text.split())[:200])
        elif "stderr" in classes:
            # tqdm draws its progress bars on stderr: expected and harmless, so a stderr output that holds only
            # meter lines is counted, not reported; anything else on stderr (a warning, a log line) is reported
            if is_progress_text(text):
                bars += 1
            else:
                bad.append("stderr output: " + " ".join(text.split())[:200])
        elif _BAD_TEXT.search(text):
            bad.append("warning or traceback printed: " + " ".join(text.split())[:200])
    return PageReport(figures=p.images, raw_tables=raw_pipe_tables(html_text), bad_outputs=bad, progress_bars=bars)


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


def _readme_parts(readme: Path | None) -> tuple[str, str, str, str]:
    """(title, first paragraph, learning-path table, short-course line) from README.md, '' where absent."""
    if readme is None or not readme.exists():
        return "", "", "", ""
    lines = readme.read_text(encoding="utf-8").splitlines()
    title = next((ln[2:].strip() for ln in lines if ln.startswith("# ")), "")
    intro: list[str] = []
    if title:
        i = next(i for i, ln in enumerate(lines) if ln.startswith("# ")) + 1
        while i < len(lines) and not lines[i].strip():
            i += 1
        while i < len(lines) and lines[i].strip() and not lines[i].startswith("#"):
            intro.append(lines[i])
            i += 1
    table: list[str] = []
    start = next((i for i, ln in enumerate(lines) if ln.startswith("**Learning path.**")), None)
    if start is not None:
        i = start + 1
        while i < len(lines) and not lines[i].startswith("|"):
            i += 1
        while i < len(lines) and lines[i].startswith("|"):
            table.append(lines[i])
            i += 1
    short = next((ln for ln in lines if ln.startswith("A short course takes")), "")
    return title, "\n".join(intro), "\n".join(table), short


def _title_of(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return nb_path.stem


def _link_learning_path(table: str, names: dict[str, str]) -> str:
    """README's learning-path table with each '01 · Title' linked to its page."""
    out = []
    for line in table.splitlines():
        m = re.match(r"^\|\s*(\d\d)\s*·\s*([^|]*?)\s*\|(.*)$", line)
        if m and m.group(1) in names:
            line = f"| [{m.group(1)} · {m.group(2)}]({names[m.group(1)]}.ipynb) |{m.group(3)}"
        out.append(line)
    return "\n".join(out)


def _index_md(title: str, intro: str, table: str, short: str, notebooks: list[Path]) -> str:
    names = {p.name[:2]: p.stem for p in notebooks}
    if not table:
        table = "| notebook |\n|---|\n" + "\n".join(f"| {_title_of(p)} |" for p in notebooks)
        short = ""
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    ci = " with `CAELIB_CI=1`" if os.environ.get("CAELIB_CI") == "1" else ""
    toc = "\n".join(p.stem for p in notebooks)
    return f"""# {title}

{intro}

## Learning path

{_link_learning_path(table, names)}

{short}

## About these pages

Every notebook was executed top to bottom when this site was built, on {when} by `python -m caelib site`{ci},
solutions included: an exercise's solution cell is folded ("Show code cell source"). The interactive explorers
need a running Python kernel: here they show their first frame; open the notebook in JupyterLab
(`jupyter lab notebooks/`) to use them, or notebook 05 as an app with Voila. The pages load nothing from the
network.

```{{toctree}}
:maxdepth: 1
:caption: Notebooks

{toc}
```
"""


_CONF = '''# written by caelib.site (python -m caelib site): a Sphinx + myst-nb project around copies of the notebooks
project = {title!r}
author = "caelib"
copyright = "caelib contributors, MIT licence"
extensions = ["myst_nb", "caelib.site"]
master_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "*.md.txt"]
language = "en"

# execution: every notebook, every build; a failing cell fails the build (with its traceback)
nb_execution_mode = "force"
nb_execution_timeout = {timeout}
nb_execution_allow_errors = False
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# Markdown outputs (IPython.display.Markdown) as JupyterLab renders them: GitHub-flavoured, with tables (myst-nb's
# default, CommonMark, has no tables: every table a notebook displays would show as a paragraph of pipes)
nb_render_markdown_format = "gfm"
# no ipywidgets JavaScript from a CDN (require.js, html-manager): the pages stay offline; caelib.site renders
# widgets statically (a progress bar as text, an explorer as its first frame and a note)
nb_ipywidgets_js = {{}}

html_theme = "sphinx_book_theme"
html_title = {title!r}
html_static_path = ["_static"]
html_css_files = ["caelib-site.css"]
html_show_sourcelink = True
html_last_updated_fmt = ""
# light by default (figures are drawn on white); also keeps the theme from logging "invalid theme mode" on a first visit
html_context = {{"default_mode": "light"}}
html_theme_options = {{
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
}}
'''

_CSS = """/* caelib.site: static stand-ins for the interactive widgets */
.caelib-widget { border: 1px dashed #999; padding: 0.5em; margin: 0.5em 0; }
.caelib-widget p.caelib-widget-note { font-style: italic; color: #555; margin: 0 0 0.5em 0; }
.caelib-widget img { max-width: 100%; }
"""


def _prepare(notebooks: list[Path], build: Path, timeout: int) -> Path:
    """Write the Sphinx project: ``build/<notebooks folder name>/`` holds conf.py, index.md and the copies; the
    other entries of the notebooks' parent are linked beside it. Returns the source folder."""
    folder = notebooks[0].parent
    src = build / folder.name
    src.mkdir(parents=True)
    for entry in folder.parent.iterdir():
        if entry.name not in {folder.name, _BUILD} and not (build / entry.name).exists():
            try:
                os.symlink(entry.resolve(), build / entry.name, target_is_directory=entry.is_dir())
            except OSError:
                pass      # no symlinks here: relative paths outside the notebooks folder then fail loudly
    for nb_path in notebooks:
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            meta = cell.setdefault("metadata", {})
            tags = meta.get("tags", [])
            is_solution = "solution" in tags or meta.get("nbgrader", {}).get("solution")
            if cell.get("cell_type") == "code" and is_solution and "hide-input" not in tags:
                meta["tags"] = [*tags, "hide-input"]
        (src / nb_path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    readme = folder.parent / "README.md"
    title, intro, table, short = _readme_parts(readme)
    title = title or "caelib: explaining image classifiers with counterfactuals"
    (src / "index.md").write_text(_index_md(title, intro, table, short, notebooks), encoding="utf-8")
    (src / "conf.py").write_text(_CONF.format(title=title, timeout=int(timeout)), encoding="utf-8")
    (src / "_static").mkdir()
    (src / "_static" / "caelib-site.css").write_text(_CSS, encoding="utf-8")
    return src


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
    ipy = build / _BUILD / "ipython" / "profile_default"
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
        src = _prepare(nbs, build, timeout)
        html_dir, doctrees = build / _BUILD / "out" / "html", build / _BUILD / "out" / "doctrees"
        warn_file = build / _BUILD / "warnings.txt"
        log_file = build / _BUILD / "sphinx.log"
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


# ----------------------------------------------------------------------------- widgets, statically

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _widget_state(env, docname: str) -> dict:
    try:
        _, kwargs = env.nb_metadata[docname]["js_files"]["ipywidgets_state"]
        return json.loads(kwargs["body"]).get("state", {})
    except (AttributeError, KeyError, TypeError, ValueError):
        return {}


def _ref(value) -> str | None:
    return value[len("IPY_MODEL_"):] if isinstance(value, str) and value.startswith("IPY_MODEL_") else None


def _progress_line(state: dict, model_id: str) -> str | None:
    """tqdm's notebook bar (an HBox of HTML, a progress bar, HTML) as the text line tqdm prints in a terminal."""
    box = state.get(model_id, {})
    if box.get("model_name") != "HBoxModel":
        return None
    kids = [state.get(_ref(k) or "", {}) for k in box.get("state", {}).get("children", [])]
    names = [k.get("model_name") for k in kids]
    if len(kids) != 3 or names[1] not in {"FloatProgressModel", "IntProgressModel"} or names[0] != "HTMLModel":
        return None
    left = html.unescape(kids[0]["state"].get("value", "")).strip()
    right = html.unescape(kids[2].get("state", {}).get("value", "")).strip()
    bar = kids[1]["state"]
    frac = (bar.get("value") or 0) / (bar.get("max") or 1)
    filled = max(0, min(20, round(20 * frac)))
    return f"{left}|{'█' * filled}{' ' * (20 - filled)}| {right}".strip()


def _frames(state: dict, model_id: str, seen: set | None = None) -> list[str]:
    """The PNG images (base64) that the Output widgets inside a widget held when the notebook finished."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in state:
        return []
    seen.add(model_id)
    model = state[model_id]
    st = model.get("state", {})
    found = []
    if model.get("model_name") == "OutputModel":
        for out in st.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png:
                found.append(png if isinstance(png, str) else "".join(png))
    for value in st.values():
        for v in value if isinstance(value, list) else [value]:
            ref = _ref(v)
            if ref:
                found += _frames(state, ref, seen)
    return found


def setup(app):
    """Sphinx extension (``extensions = [..., "caelib.site"]``): widget outputs rendered without JavaScript."""
    from docutils import nodes
    from sphinx.transforms.post_transforms import SphinxPostTransform

    class StaticWidgets(SphinxPostTransform):
        default_priority = 3           # before myst-nb picks each output's mime type (priority 4)

        def run(self, **kwargs):
            state = _widget_state(self.env, self.env.docname)
            for node in list(self.document.findall(nodes.container)):
                if node.get("nb_element") != "mime_bundle":
                    continue
                kinds = [child.get("mime_type") for child in node.children]
                if _WIDGET_VIEW not in kinds:
                    continue
                raw = node.children[kinds.index(_WIDGET_VIEW)].astext()
                m = re.search(r'"model_id":\s*"([^"]+)"', raw)
                model_id = m.group(1) if m else ""
                line = _progress_line(state, model_id)
                if line is not None:
                    new = nodes.literal_block(line, line, classes=["output", "stream", "caelib-progress"])
                else:
                    frames = _frames(state, model_id)
                    imgs = "".join(f'<img src="data:image/png;base64,{f.strip()}" alt="the widget\'s first frame">'
                                   for f in frames)
                    note = ("Interactive widget: it needs a running Python kernel. Open this notebook in "
                            "JupyterLab to use it" + (" (its first frame below)." if frames else "."))
                    new = nodes.raw("", f'<div class="caelib-widget"><p class="caelib-widget-note">{note}</p>'
                                        f"{imgs}</div>", format="html")
                node.replace_self(nodes.container("", new, classes=["cell_output_widget"]))

    app.add_post_transform(StaticWidgets)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
