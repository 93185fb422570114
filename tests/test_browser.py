"""The explorer widgets in a real browser: JupyterLab (and Voila) in headless Chromium, driven by Playwright.

For the swap explorer (notebook 03), the manifold explorer (04) and the path explorer (05): open the notebook
in JupyterLab, run all cells, move the widget's controls and assert that the drawn images and the
probability read-out change (pixel difference of screenshots), that no cell shows an error and that the kernel
logged no traceback. Screenshots before/after go to ``artifacts/browser/`` (gitignored; ``CAELIB_ARTIFACTS``
moves them). Notebook 05 also runs as a Voila app.

Needs Debian's ``chromium`` and the ``playwright`` package (never ``playwright install``). Without them the
tests skip on a developer's machine, and fail under CI (``CAELIB_CI=1``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import browser_helpers as bh
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

IN_CI = os.environ.get("CAELIB_CI") == "1"
VIEWPORT = {"width": 1400, "height": 1000}
# a band changed when at least this many of its pixels changed: a redrawn image changes thousands, the
# probability marker of notebook 05 that moves one step a few hundred; an unchanged figure exactly 0
MIN_PIXELS = 40


def _missing() -> str | None:
    if not Path(bh.CHROMIUM).exists():
        return f"Chromium not found at {bh.CHROMIUM} (apt install chromium, or set CAELIB_CHROMIUM)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


def _require_browser() -> None:
    reason = _missing()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests need a browser: {reason}")


def _launch(p, tmp: Path):
    ctx = p.chromium.launch_persistent_context(str(tmp / "chromium-profile"), executable_path=bh.CHROMIUM,
                                               headless=True, args=bh.CHROMIUM_ARGS, viewport=VIEWPORT)
    ctx.set_default_timeout(60_000)
    # offline, as a student's laptop may be: Voila's page asks a CDN for Font Awesome, and on a network that drops
    # packets instead of refusing them, the page's load event would wait for it (CI waited 300 s). Refuse at once.
    ctx.route(bh.NOT_LOCAL, lambda route: route.abort())
    ctx.on("page", lambda page: page.on("dialog", lambda dialog: dialog.accept()))
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.on("dialog", lambda dialog: dialog.accept())      # e.g. "leave the page?" when moving on
    return ctx, page


@pytest.fixture(scope="module")
def pw():
    """Playwright, once for the module (its sync API cannot be started twice at a time)."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def lab(pw):
    """One JupyterLab server (on a copy of the notebooks, with a temporary settings folder) and one browser page
    for the whole module."""
    tmp = Path(tempfile.mkdtemp(prefix="caelib-browser-"))
    server = bh.start_lab(tmp, bh.copy_notebooks(tmp))
    try:
        ctx, page = _launch(pw, tmp)
        try:
            yield page, server
        finally:
            ctx.close()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _no_kernel_traceback(server: bh.Server, since: int) -> None:
    text = server.log_text()[since:]
    assert "Traceback" not in text, f"the kernel logged a traceback (a widget callback failed?):\n{text[-3000:]}"


def _no_error_output(scope) -> None:
    """No rendered error or stderr traceback inside ``scope`` (a locator or a page)."""
    stderr = scope.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
    texts = [stderr.nth(k).inner_text() for k in range(stderr.count())]
    bad = [t for t in texts if re.search(r"Traceback|Error", t)]
    assert not bad, f"error output: {bad[0][:2000]}"


def _slider_value(root) -> str:
    return root.locator(".widget-readout").first.inner_text().strip()


def _press_slider(page, handle, root, presses: int = 5) -> tuple[str, str]:
    """Move the slider whose noUiSlider ``handle`` is given by key presses (left when it can, else right)."""
    before = _slider_value(root)
    key = "ArrowLeft" if float(before) - float(_slider_min(handle)) >= presses * 0.99 else "ArrowRight"
    _press(page, handle, key, presses)
    return before, key


def _press(page, handle, key: str, presses: int) -> None:
    handle.focus()
    for _ in range(presses):
        page.keyboard.press(key)
        time.sleep(0.15)


def _slider_min(handle) -> str:
    return handle.get_attribute("aria-valuemin") or "0"


def _check_change(name: str, control: str, before: bytes, after: bytes, bands: dict[str, tuple],
                  first: bool = True) -> dict:
    """Save both screenshots (``before`` only for the first control) and assert that every band (image part,
    probability part) changed."""
    if first:
        bh.save(f"{name}-before.png", before)
    path = bh.save(f"{name}-after-{control}.png", after)
    changes = {band: bh.changed_pixels(before, after, box) for band, box in bands.items()}
    unchanged = [band for band, (n, _) in changes.items() if n < MIN_PIXELS]
    assert not unchanged, (f"{name}: moving the {control} did not change the {', '.join(unchanged)} "
                           f"(changed pixels, fraction: {changes}; see {path})")
    return changes


# Each explorer figure: images on the left, the black box's probabilities on the right (viz.plot_*_explorer)
CASES = {
    "03_swapping": ("widgets.SwapExplorer(", {"images": (0.0, 0.6), "probabilities": (0.75, 1.0)}),
    "04_manifold": ("widgets.ManifoldExplorer(", {"decision map and image": (0.0, 0.6),
                                                   "probabilities": (0.7, 1.0)}),
    "05_paths": ("widgets.PathExplorer(", {"images": (0.0, 0.6), "probabilities": (0.65, 1.0)}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_explorer_widget_in_jupyterlab(lab, name):
    page, server = lab
    needle, bands = CASES[name]
    t0 = time.perf_counter()
    notebook = next(p.name for p in (bh.ROOT / "notebooks").glob(f"{name}*.ipynb"))
    log_start = len(server.log_text())
    try:
        bh.open_notebook(page, server, notebook)
        bh.run_all(page)
        t_run = time.perf_counter() - t0
        bh.mark_cell(page, needle, name)
        cell = page.locator(f"[data-caelib='{name}']")
        figure = cell.locator(".widget-output .jp-OutputArea-output").first
        figure.wait_for(state="visible", timeout=60_000)
        idle = lambda: bh.kernel_idle(page)                                   # noqa: E731
        shot0 = bh.stable_screenshot(figure, idle=idle)
        changes = {}
        if name == "03_swapping":
            select = cell.locator(".widget-dropdown select").nth(1)          # "class code from"
            labels = select.locator("option").all_inner_texts()
            current = select.locator("option:checked").inner_text()
            indiv = cell.locator(".widget-dropdown select").nth(0).locator("option:checked").inner_text()
            cls = lambda text: text.split("(")[-1]                            # noqa: E731
            other = next(t for t in labels if cls(t) not in (cls(current), cls(indiv)))
            select.select_option(label=other)
            shot1 = bh.stable_screenshot(figure, differs_from=shot0, idle=idle)
            changes["dropdown"] = _check_change(name, "dropdown", shot0, shot1, bands)
            cell.get_by_role("button", name="random pair").click()
            shot2 = bh.stable_screenshot(figure, differs_from=shot1, idle=idle)
            changes["button"] = _check_change(name, "button", shot1, shot2, {"images": bands["images"]},
                                              first=False)
        else:
            root = cell.locator(".widget-slider").first                        # step (05) or PC 1 (04)
            handle = root.locator(".noUi-handle").first
            presses = 5 if name == "05_paths" else 15
            value, key = _press_slider(page, handle, root, presses=presses)
            shot1 = bh.stable_screenshot(figure, differs_from=shot0, idle=idle)
            assert _slider_value(root) != value, f"{name}: {key} did not move the slider from {value}"
            if name == "04_manifold" and bh.changed_pixels(shot0, shot1, bands["probabilities"])[0] < MIN_PIXELS:
                # the move stayed inside one class region of this CAE's map (the black box's probabilities
                # are the same there): go as far the other way, across the start point
                _press(page, handle, "ArrowRight" if key == "ArrowLeft" else "ArrowLeft", 2 * presses)
                shot1 = bh.stable_screenshot(figure, differs_from=shot1, idle=idle)
            changes["slider"] = _check_change(name, "slider", shot0, shot1, bands)
        _no_error_output(cell)
        _no_error_output(page)
        assert not bh.lab_state(page)["errors"]
        _no_kernel_traceback(server, log_start)
        print(f"{name}: notebook ran in {t_run:.1f} s, whole test {time.perf_counter() - t0:.1f} s; changed {changes}")
    except BaseException:
        bh.save(f"{name}-failure-page.png", page.screenshot(full_page=True))
        raise
    finally:
        bh.shutdown_kernels(server)


def test_path_explorer_as_a_voila_app(pw):
    """``voila notebooks/05_paths.ipynb``: the traversal widget works as a stand-alone app."""
    tmp = Path(tempfile.mkdtemp(prefix="caelib-voila-"))
    notebook = next((bh.copy_notebooks(tmp)).glob("05_*.ipynb"))
    t0 = time.perf_counter()
    server = bh.start_voila(tmp, notebook)
    try:
        ctx, page = _launch(pw, tmp)
        try:
            # the page streams while voila runs the notebook: wait for the response, then for the widget
            page.goto(server.url, timeout=120_000, wait_until="commit")
            root = page.locator(".widget-vbox:has(.widget-slider)").first
            root.wait_for(state="visible", timeout=300_000)
            figure = root.locator(".widget-output img").first
            figure.wait_for(state="visible", timeout=120_000)
            t_app = time.perf_counter() - t0
            idle = None                               # no JupyterLab here: stable screenshots only
            shot0 = bh.stable_screenshot(figure, idle=idle)
            slider = root.locator(".widget-slider").first
            value, key = _press_slider(page, slider.locator(".noUi-handle").first, slider)
            shot1 = bh.stable_screenshot(figure, differs_from=shot0, idle=idle)
            assert _slider_value(slider) != value, f"voila: {key} did not move the slider from {value}"
            change = _check_change("voila-05_paths", "slider", shot0, shot1, CASES["05_paths"][1])
            _no_error_output(page)
            assert "Traceback" not in server.log_text(), server.log_text()[-3000:]
            print(f"voila: app ready in {t_app:.1f} s, test {time.perf_counter() - t0:.1f} s; changed {change}")
        except Exception as exc:
            bh.save("voila-failure-page.png", page.screenshot(full_page=True))
            alive = "running" if server.proc.poll() is None else f"exited with code {server.proc.returncode}"
            raise AssertionError(f"voila app failed after {time.perf_counter() - t0:.0f} s ({exc}); voila {alive}, "
                                 f"its log:\n{server.log_text()[-4000:]}") from exc
        finally:
            ctx.close()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
