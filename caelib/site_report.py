"""Checks of a rendered page of the course website, without a browser: its figures, raw pipe tables and error or
warning outputs (:func:`page_report`; ``caelib.site`` runs it on every page it builds, ``tests/test_site.py`` too).

A raw pipe table is a Markdown table whose header holds an unescaped ``|``, e.g. ``rand. |ρ|``: it renders as a
paragraph of pipes; a table printed with ``print`` shows as pipe rows too. A stderr output that holds only tqdm
progress-bar lines is counted, not reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["PageReport", "page_report", "pipe_table_rows", "raw_pipe_tables", "is_progress_text"]

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
