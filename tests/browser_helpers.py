"""Drive JupyterLab and Voila in headless Chromium (Debian's ``chromium`` + the ``playwright`` package).

Used by ``tests/test_browser.py``. Facts this relies on (``/work/shared/ENVIRONMENT.md``): never
``playwright install``, launch the system Chromium with ``executable_path``; JupyterLab as root needs
``--allow-root`` and an empty token via ``--IdentityProvider.token=``; a settings folder turns off the news
pop-up (and here autosave and notebook windowing too); stop the server by signalling its own process.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CAELIB_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
#: every URL that is not on this machine (the tests' servers listen on 127.0.0.1)
NOT_LOCAL = re.compile(r"^https?://(?!(127\.0\.0\.1|localhost)[:/])")
#: screenshots land here (``/artifacts/`` is gitignored); CI keeps the folder as the tests' artifacts
ARTIFACTS = Path(os.environ.get("CAELIB_ARTIFACTS", ROOT / "artifacts" / "browser"))

# JupyterLab user settings: no news/update pop-up over the page, no autosave into the notebooks, every
# cell kept in the DOM (no windowing) so that locators find cells that are off screen
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                          "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except Exception:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@dataclass
class Server:
    """A Jupyter server (``jupyter lab`` or ``voila``) on 127.0.0.1, logging into ``log``."""

    proc: subprocess.Popen
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)      # the server asks to confirm a first ^C; twice stops it
            time.sleep(0.3)
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               IPYTHONDIR=str(tmp / "ipython"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="module://"
               "matplotlib_inline.backend_inline", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                                                        env.get("PYTHONPATH")])))
    return env


def copy_notebooks(tmp: Path) -> Path:
    """A copy of ``notebooks/`` (so that nothing the browser does can write into the repository)."""
    dest = tmp / "notebooks"
    shutil.copytree(ROOT / "notebooks", dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return dest


def _serve(cmd_for_port, log: Path, ready_path: str, cwd: Path, tmp: Path, timeout: float, tries: int = 3) -> Server:
    """Start the server ``cmd_for_port(port)`` on a free port and wait until ``ready_path`` answers over HTTP.
    A port that another process took first (the server exits saying so) is retried on a new port; any other
    failure raises with the server's log."""
    for attempt in range(tries):
        port = free_port()
        with open(log, "w") as fh:
            proc = subprocess.Popen(cmd_for_port(port), stdout=fh, stderr=subprocess.STDOUT, env=_env(tmp), cwd=cwd)
        server = Server(proc, f"http://127.0.0.1:{port}", log)
        try:
            wait_http(server.url + ready_path, proc, log, timeout)
            return server
        except RuntimeError:
            server.stop()
            if "already in use" not in server.log_text() or attempt == tries - 1:
                raise
        except BaseException:
            server.stop()
            raise
    raise AssertionError("unreachable")


# kernels talk to their server over Unix sockets beside their connection files, not TCP ports: a port that
# jupyter_client found free can be taken by another kernel before its own binds it (seen here: a notebook's kernel
# died on "ZMQError: Address already in use" while two test runs on the machine started kernels)
KERNEL_IPC = ["--KernelManager.transport=ipc"]


def start_lab(tmp: Path, root_dir: Path, timeout: float = 120) -> Server:
    settings = tmp / "settings"
    for name, value in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))

    def cmd(port: int) -> list[str]:
        return [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
                "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root_dir}",
                f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
                "--LabApp.expose_app_in_browser=True", "--LabServerApp.news_url=", "--allow-root", *KERNEL_IPC]

    return _serve(cmd, tmp / "jupyterlab.log", "/api/status", root_dir, tmp, timeout)


def start_voila(tmp: Path, notebook: Path, timeout: float = 120) -> Server:
    def cmd(port: int) -> list[str]:
        return [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
                "--Voila.ip=127.0.0.1", "--Voila.port_retries=0", *KERNEL_IPC]

    # not GET /: that would already run the notebook. A static file proves that this voila answers (not some
    # other process that took the port first, which made voila exit)
    return _serve(cmd, tmp / "voila.log", "/voila/static/favicon.ico", notebook.parent, tmp, timeout)


# ---------------------------------------------------------------------------------------------- images

def png(data: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(data)).convert("RGB")


def changed_pixels(before: bytes, after: bytes, box: tuple[float, float] = (0.0, 1.0)) -> tuple[int, float]:
    """(number, fraction) of pixels that differ between two screenshots, within the horizontal band ``box``
    (fractions of the width: (0, 0.6) is the left 60 %). Screenshots of different sizes count as fully changed.
    Matplotlib draws the same figure pixel for pixel, so an unchanged figure gives exactly 0."""
    import numpy as np

    a, b = png(before), png(after)
    w = a.size[0]
    lo, hi = int(box[0] * w), int(box[1] * w)
    if a.size != b.size:
        return (hi - lo) * a.size[1], 1.0
    da = np.asarray(a, dtype=np.int16)[:, lo:hi]
    db = np.asarray(b, dtype=np.int16)[:, lo:hi]
    diff = np.abs(da - db).max(axis=2) > 16
    return int(diff.sum()), float(diff.mean())


def changed_fraction(before: bytes, after: bytes, box: tuple[float, float] = (0.0, 1.0)) -> float:
    """Fraction of pixels that differ (see :func:`changed_pixels`)."""
    return changed_pixels(before, after, box)[1]


def shot(locator, timeout: float = 60) -> bytes:
    """A screenshot of the area of ``locator`` (a page screenshot clipped to its box: unlike an element
    screenshot it does not wait for the element to hold still, which a widget that redraws may never do).
    While a widget redraws, its output is briefly replaced or empty: wait for it to come back."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            locator.evaluate("e => e.scrollIntoView({block: 'center'})", timeout=5_000)   # no stability wait
            box = locator.bounding_box(timeout=5_000)
        except Exception:                      # detached or missing for a moment
            box = None
        if box is not None and box["width"] >= 2 and box["height"] >= 2:
            return locator.page.screenshot(clip=box, animations="disabled")
        if time.monotonic() > deadline:
            raise AssertionError(f"{locator} is not visible")
        time.sleep(0.3)


def stable_screenshot(locator, *, timeout: float = 90, settle: float = 0.7, differs_from: bytes | None = None,
                      idle=None) -> bytes:
    """A screenshot of ``locator`` once two shots ``settle`` seconds apart agree (each slider key press redraws,
    so wait until the image stops changing) and ``idle()`` (if given, e.g. "the kernel is idle") is true,
    and, if given, once it differs from ``differs_from``."""
    deadline = time.monotonic() + timeout
    last = shot(locator)
    while True:
        time.sleep(settle)
        new = shot(locator)
        same = changed_fraction(last, new) == 0.0 and (idle is None or idle())
        shot_ = new
        if same and (differs_from is None or changed_fraction(differs_from, shot_) > 0):
            return shot_
        if time.monotonic() > deadline:
            return shot_         # the caller's assertion says what went wrong
        last = shot_


def save(name: str, data: bytes) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------------------- JupyterLab

JS_STATE = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.content || !w.sessionContext) return {ready: false};
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w.content.widgets;
  let errors = [], pending = 0, code = 0;
  cells.forEach((c, i) => {
    if (c.model.type !== 'code') return;
    code += 1;
    if (c.model.executionCount === null) pending += 1;
    for (let k = 0; k < c.model.outputs.length; k++) {
      const o = c.model.outputs.get(k).toJSON();
      if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
    }
  });
  return {ready: true, status: kernel ? kernel.status : 'none', pending, code, errors,
          busy: w.sessionContext.kernelDisplayStatus};
}"""


def lab_state(page) -> dict:
    return page.evaluate(JS_STATE)


def kernel_idle(page) -> bool:
    """Is the notebook's kernel idle (all widget callbacks done)?"""
    return lab_state(page).get("status") == "idle"


def open_notebook(page, server: Server, relpath: str, timeout: float = 120) -> None:
    """Open ``relpath`` in JupyterLab and wait until its kernel is idle (and the status bar says so)."""
    workspace = re.sub(r"[^A-Za-z0-9]", "-", relpath)         # a fresh workspace: no other notebook reopened
    page.goto(f"{server.url}/lab/workspaces/{workspace}/tree/{relpath}", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = lab_state(page)
        if state.get("ready") and state["status"] == "idle":
            break
        time.sleep(0.5)
    else:
        raise TimeoutError(f"the kernel of {relpath} was not idle within {timeout:.0f} s: {lab_state(page)}")
    page.wait_for_function("() => (document.querySelector('#jp-main-statusbar') || {innerText: ''})"
                           ".innerText.includes('Idle')", timeout=30_000)


def shutdown_kernels(server: Server) -> None:
    """Delete every session of the server (its kernels stop), through the REST API."""
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/api/sessions", timeout=30) as r:
        sessions = json.load(r)
    for s in sessions:
        req = urllib.request.Request(f"{server.url}/api/sessions/{s['id']}", method="DELETE")
        urllib.request.urlopen(req, timeout=60).close()


def run_all(page, timeout: float = 300) -> dict:
    """Run all cells and wait until every code cell has run and the kernel is idle; fails on the first error."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    time.sleep(2)
    deadline = time.monotonic() + timeout
    while True:
        state = lab_state(page)
        if state["errors"]:
            raise AssertionError(f"error output while running the notebook: {state['errors']}")
        if state["pending"] == 0 and state["status"] == "idle":
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"run-all did not finish within {timeout:.0f} s: {state}")
        time.sleep(1)


def mark_cell(page, needle: str, mark: str) -> None:
    """Give the cell whose source contains ``needle`` the attribute ``data-caelib=mark`` and scroll to it."""
    found = page.evaluate("""([needle, mark]) => {
      const nb = window.jupyterapp.shell.currentWidget.content;
      const i = nb.widgets.findIndex(c => c.model.sharedModel.getSource().includes(needle));
      if (i < 0) return false;
      nb.widgets[i].node.setAttribute('data-caelib', mark);
      nb.widgets[i].node.scrollIntoView();
      return true;
    }""", [needle, mark])
    if not found:
        raise AssertionError(f"no cell contains {needle!r}")
