"""The Sphinx project of the course website, written into a build folder: ``conf.py``, an ``index.md`` with the
course title and README's learning-path table, and *copies* of the notebooks as the table of contents, in order
(:func:`write_project`; ``caelib.site`` builds it).

The copies sit in a mirror of the notebooks' parent folder whose other entries are links to the real ones, so a
notebook's relative paths (e.g. ``../benchmarks/results/...``) work as they do in JupyterLab, while nothing is
written into ``notebooks/``. Solution cells are tagged ``hide-input`` (folded: "Show code cell source"), so a
student reading the site sees the task first.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path

BUILD = "_caelib_site_build"          # internal folder names in the build tree (never a sibling's name)


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


_CONF = '''# written by caelib.site_project (python -m caelib site): a Sphinx + myst-nb project around the notebooks
project = {title!r}
author = "caelib"
copyright = "caelib contributors, MIT licence"
extensions = ["myst_nb", "caelib.site_widgets"]
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
# no ipywidgets JavaScript from a CDN (require.js, html-manager): the pages stay offline; caelib.site_widgets renders
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


def write_project(notebooks: list[Path], build: Path, timeout: int) -> Path:
    """Write the Sphinx project: ``build/<notebooks folder name>/`` holds conf.py, index.md and the copies; the
    other entries of the notebooks' parent are linked beside it. Returns the source folder."""
    folder = notebooks[0].parent
    src = build / folder.name
    src.mkdir(parents=True)
    for entry in folder.parent.iterdir():
        if entry.name not in {folder.name, BUILD} and not (build / entry.name).exists():
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
