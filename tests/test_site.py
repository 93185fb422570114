"""The course as a website (``python -m caelib site``): built once, every page checked, in HTML and in Chromium.

The module builds the whole site once (every notebook executed by myst-nb: a few minutes on 2 CPU cores), then
for every notebook page:

- in the HTML files (no browser): at least one figure, no raw pipe table (a Markdown table whose header holds an
  unescaped ``|`` renders as a paragraph of pipes; a table printed as text shows pipe rows), no error or warning
  output, and nothing requested from another host (``<script>``, ``<link>``, ``<img>``, ``<iframe>``);
- in headless Chromium (Debian's ``chromium`` + ``playwright``, as in ``tests/test_browser.py``), served from
  127.0.0.1 with every outside request refused: the page loads (HTTP 200, its title), no script error, no failed
  local request, at least one drawn figure, no raw pipe table in the text a reader sees, no error or warning output.

Screenshots of the index and of notebook 05 land in ``artifacts/site/`` (beside ``CAELIB_ARTIFACTS``' folder when
that is set), with ``summary.json``: the build time, the page count and each page's findings.
The fast tests at the top check the detectors themselves on small HTML snippets.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import threading
from pathlib import Path

import browser_helpers as bh
import pytest

from caelib import site, site_project

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = bh.ARTIFACTS.parent / "site"
IN_CI = os.environ.get("CAELIB_CI") == "1"
SCREENSHOTS = {"index": "index.png", "05_paths": "05_paths.png"}
#: the build executes every notebook: about 5 minutes on 2 idle cores, but 40 on 2 cores shared with four other test
#: runs (measured); each notebook cell has its own 600 s limit, so a stalled cell fails long before this
BUILD_TIMEOUT = 3600

# ------------------------------------------------------------------------- the detectors, on snippets

BROKEN_TABLE = """<div class="cell_output docutils container"><p>| method | rand. |ρ| | deletion |
|---|---|---|
| cae | 0.31 | 0.12 |</p></div>"""


def test_pipe_rows_of_a_broken_markdown_table_are_found():
    assert site.raw_pipe_tables(BROKEN_TABLE)
    assert site.raw_pipe_tables("<p>| a | b |\n| :-- | --: |\n| 1 | 2 |</p>")
    assert site.raw_pipe_tables("<p>a | b\n---|---\n1 | 2</p>")                     # no outer pipes


def test_pipe_rows_in_a_browsers_text_of_a_paragraph_are_found():
    # innerText joins a paragraph's lines: the separator row is found in the middle of a line
    joined = "| method | rand. |ρ| | deletion | |---|---|---| | cae | 0.31 | 0.12 |"
    assert site.pipe_table_rows(joined)
    # rendered as a paragraph, smart quotes have turned the separator's dashes into em dashes
    assert site.pipe_table_rows("| method | rand. |ρ| top ↓ | |—|—|—| | cae | 0.31 | 0.12 |")
    assert site.raw_pipe_tables("<p>| a | b |\n|–|–|\n| 1 | 2 |</p>")


def test_a_table_printed_as_text_in_an_output_is_found():
    printed = ('<div class="cell_output docutils container"><div class="output stream highlight-myst-ansi">'
               '<div class="highlight"><pre><span></span>| a | b |\n|---|---|\n| 1 | 2 |\n</pre></div></div></div>')
    assert site.raw_pipe_tables(printed)
    # rows without a separator still count when there are two of them
    assert site.raw_pipe_tables('<div class="cell_output"><pre>| a | b |\n| 1 | 2 |</pre></div>')


def test_rendered_tables_prose_and_code_are_not_raw_tables():
    table = ("<table><thead><tr><th>method</th><th>rand. |ρ|</th></tr></thead>"
             "<tbody><tr><td>cae</td><td>0.31</td></tr></tbody></table>")
    assert site.raw_pipe_tables(table) == []
    assert site.raw_pipe_tables("<p>the rank correlation |ρ| and |x| are small; a|b is fine</p>") == []
    assert site.pipe_table_rows("| one row | only |") == []
    code = ('<div class="cell_input docutils container"><div class="highlight"><pre>print("| a | b |")\n'
            'print("|---|---|")</pre></div></div>')
    assert site.raw_pipe_tables(code) == []
    # a code block in the text (not a cell's output) shows code, not a table
    assert site.raw_pipe_tables('<div class="highlight-text"><pre>| a | b |\n|---|---|</pre></div>') == []


def test_progress_bars_are_not_warnings():
    bar = ("training CAE:   0%|          | 0/300 [00:00<?, ?it/s]\rtraining CAE:  50%|#####     | 150/300 "
           "[00:02<00:02, 60.1it/s]\rtraining CAE: 100%|##########| 300/300 [00:05<00:00, 59.8it/s]\n")
    assert site.is_progress_text(bar)
    assert site.is_progress_text("120it [00:01, 95.20it/s]\n")
    assert not site.is_progress_text("/x/y.py:3: UserWarning: something is off\n  warnings.warn(...)\n")
    assert not site.is_progress_text(bar + "UserWarning: something is off\n")
    assert not site.is_progress_text("")


def _out(classes: str, text: str) -> str:
    return (f'<div class="cell_output docutils container"><div class="{classes}"><div class="highlight"><pre>'
            f"{text}</pre></div></div></div>")


def test_page_report_finds_figures_errors_and_warnings_but_not_progress_bars():
    img = '<div class="cell_output docutils container"><img alt="_images/a.png" src="_images/a.png" /></div>'
    clean = site.page_report(img + _out("output stream highlight-myst-ansi", "accuracy 0.97\n")
                             + _out("output stderr highlight-myst-ansi", "100%|##########| 10/10 [00:01<00:00]"))
    assert clean.ok and clean.figures == 1 and clean.progress_bars == 1
    assert site.page_report('<p><img src="logo.png"></p>').figures == 0      # only figures in cell outputs count
    warned = site.page_report(img + _out("output stderr highlight-myst-ansi", "x.py:1: UserWarning: careful"))
    assert not warned.ok and "UserWarning" in warned.bad_outputs[0]
    error = site.page_report(img + _out("output traceback highlight-ipythontb", "ValueError: bad"))
    assert not error.ok and error.bad_outputs[0].startswith("error output")
    printed = site.page_report(img + _out("output stream", "Traceback (most recent call last):\n  ..."))
    assert not printed.ok


def test_the_site_refuses_a_folder_that_is_not_a_site(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="--force"):
        site.build_site(out, log=None)
    assert (out / "mine.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="notebooks folder"):
        site.build_site(ROOT / "notebooks" / "site", log=None, force=True)


# --------------------------------------------------------------------------------------- the whole site

def _report(request, line: str) -> None:
    """A line on the terminal now, past pytest's output capture (the build's progress, its time and pages)."""
    plugins = request.config.pluginmanager
    reporter, capman = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capman is None:
        print(line)
        return
    with capman.global_and_fixture_disabled():
        reporter.write_line(line)


def _load(out: Path) -> site.SiteBuild:
    """A site built before (``CAELIB_SITE_PREBUILT=FOLDER``, never under CI), as :func:`site.build_site` returns it."""
    meta = json.loads((out / site.MARKER).read_text())
    reports = {n: site.page_report((out / f"{n}.html").read_text(encoding="utf-8"))
               for n in ["index"] + meta["notebooks"] if (out / f"{n}.html").exists()}
    return site.SiteBuild(out, meta["notebooks"], sorted(out.glob("*.html")), meta["seconds"],
                          meta["sphinx_warnings"], reports)


@pytest.fixture(scope="module")
def built(request, tmp_path_factory):
    """The whole course built once (every notebook executed), into a temporary folder."""
    prebuilt = os.environ.get("CAELIB_SITE_PREBUILT")      # a developer's shortcut while editing these tests
    if prebuilt and not IN_CI:
        result = _load(Path(prebuilt))
    else:
        out = tmp_path_factory.mktemp("caelib-site") / "site"
        result = site.build_site(out, log=lambda s: _report(request, "site: " + s))
    pages = [p.relative_to(result.out_dir).as_posix() for p in result.pages]
    _report(request, f"site: built in {result.seconds:.0f} s, {len(pages)} HTML pages ({len(result.notebooks)} "
            f"notebooks + index, search, genindex); {len(result.warnings)} Sphinx warnings")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    summary = {"seconds": round(result.seconds, 1), "pages": pages, "notebooks": result.notebooks,
               "caelib_ci": IN_CI, "sphinx_warnings": result.warnings,
               "html_checks": {name: {"figures": r.figures, "raw_tables": r.raw_tables,
                                      "bad_outputs": r.bad_outputs, "progress_bars": r.progress_bars}
                               for name, r in result.reports.items()}}
    (ARTIFACTS / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    return result


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT)
def test_the_site_has_every_notebook_in_order(built):
    assert built.notebooks == NOTEBOOKS
    names = {p.name for p in built.pages}
    assert {"index.html", "search.html"} <= names and {f"{n}.html" for n in NOTEBOOKS} <= names
    index = (built.out_dir / "index.html").read_text(encoding="utf-8")
    # the navigation lists the notebooks in the course's order, and the learning path table is a real table
    order = [index.find(f'href="{n}.html"') for n in NOTEBOOKS]
    assert all(k >= 0 for k in order) and order == sorted(order), order
    assert "<table" in index and "Learning path" in index
    assert (built.out_dir / site.MARKER).exists()


#: a request for another host from the page's markup (scripts, styles, images, frames)
EXTERNAL = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=[\"'](?:https?:)?//(?!127\.0\.0\.1|"
                      r"localhost)[^\"']*", re.I)


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT)
@pytest.mark.parametrize("name", ["index"] + NOTEBOOKS)
def test_page_html(built, name):
    """The rendered HTML of each page: figures, no raw pipe tables, no error/warning outputs, offline."""
    text = (built.out_dir / f"{name}.html").read_text(encoding="utf-8")
    report = site.page_report(text)
    problems = [f"raw pipe table: {t!r}" for t in report.raw_tables] + report.bad_outputs
    if name != "index" and report.figures == 0:
        problems.append("no figure (<img>) in the cell outputs")
    problems += [f"asks another host: {m}" for m in EXTERNAL.findall(text)]
    assert not problems, f"{name}.html:\n  " + "\n  ".join(problems)


# ------------------------------------------------------------------------------------------ in Chromium

def _require_browser() -> None:
    reason = None
    if not Path(bh.CHROMIUM).exists():
        reason = f"Chromium not found at {bh.CHROMIUM} (apt install chromium, or set CAELIB_CHROMIUM)"
    elif importlib.util.find_spec("playwright") is None:
        reason = "the playwright package is not installed (pip install -e '.[dev]')"
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests need a browser: {reason}")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(built):
    """The site over HTTP on 127.0.0.1 (a thread of this process)."""
    handler = functools.partial(_Quiet, directory=str(built.out_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(built, tmp_path_factory):
    """One headless Chromium for the module; every request to another host is refused and recorded."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    outside: list[str] = []

    def refuse(route):
        outside.append(route.request.url)
        route.abort()

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path_factory.mktemp("chromium") / "profile"),
                                                   executable_path=bh.CHROMIUM, headless=True,
                                                   args=bh.CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        ctx.set_default_timeout(60_000)
        ctx.route(bh.NOT_LOCAL, refuse)
        try:
            yield ctx, outside
        finally:
            ctx.close()


#: the text blocks a reader sees as prose or printed output (not code shown as a cell's input)
JS_BLOCKS = """() => Array.from(document.querySelectorAll('article p, article li, article .cell_output pre'))
  .filter(e => !e.closest('.cell_input'))
  .map(e => e.innerText)"""

JS_OUTPUTS = """() => ({
  tracebacks: Array.from(document.querySelectorAll('.cell_output .output.traceback')).map(e => e.innerText),
  stderr: Array.from(document.querySelectorAll('.cell_output .output.stderr')).map(e => e.innerText),
  figures: Array.from(document.querySelectorAll('.cell_output img'))
    .filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0).length,
})"""


def _title(name: str) -> str:
    """The heading a page must carry: the notebook's first '# ' heading, README's title for the index."""
    if name == "index":
        return next(ln[2:].strip() for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith("# "))
    return site_project._title_of(ROOT / "notebooks" / f"{name}.ipynb")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT)
@pytest.mark.parametrize("name", ["index"] + NOTEBOOKS)
def test_page_in_chromium(built, served, browser, name):
    """Each page in headless Chromium: loads (200, title), no script error, no failed request, a drawn
    figure, no raw pipe table in the text a reader sees, no error or warning output, nothing from outside."""
    ctx, outside = browser
    page = ctx.new_page()
    js_errors: list[str] = []
    failed: list[str] = []
    page.on("pageerror", lambda err: js_errors.append(str(err)))
    page.on("console", lambda msg: js_errors.append(msg.text) if msg.type == "error" else None)
    page.on("requestfailed", lambda req: failed.append(req.url) if not bh.NOT_LOCAL.match(req.url) else None)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    n_outside = len(outside)
    try:
        response = page.goto(f"{served}/{name}.html", wait_until="load")
        page.wait_for_load_state("networkidle")
        problems = []
        if response is None or response.status != 200:
            problems.append(f"HTTP status {response and response.status}")
        title, heading = _title(name), page.locator("article h1").first.inner_text().strip().rstrip("#").strip()
        if title not in page.title() or heading != title:
            problems.append(f"title {page.title()!r} / heading {heading!r}: expected {title!r}")
        state = page.evaluate(JS_OUTPUTS)
        if name != "index" and state["figures"] == 0:
            problems.append("no figure drawn")
        for text in page.evaluate(JS_BLOCKS):
            if site.pipe_table_rows(text):
                problems.append(f"raw pipe table in the page's text: {' '.join(text.split())[:160]!r}")
        problems += [f"error output: {t[:300]!r}" for t in state["tracebacks"]]
        # tqdm's progress bars go to stderr: expected, not a warning; any other stderr text is reported
        problems += [f"stderr output: {t[:300]!r}" for t in state["stderr"] if not site.is_progress_text(t)]
        problems += [f"script error: {e[:300]}" for e in js_errors]
        problems += [f"failed request: {u}" for u in failed]
        problems += [f"asked another host: {u}" for u in outside[n_outside:]]
        if name in SCREENSHOTS:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / SCREENSHOTS[name]), full_page=True)
        assert not problems, f"{name}.html in Chromium:\n  " + "\n  ".join(problems)
    finally:
        page.close()


def test_screenshot_names_are_pages():
    assert set(SCREENSHOTS) <= {"index", *NOTEBOOKS}


def test_the_command_line_refuses_a_folder_that_is_not_a_site(tmp_path, capsys):
    from caelib.cli import main

    (tmp_path / "notes.txt").write_text("mine")
    assert main(["site", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"
