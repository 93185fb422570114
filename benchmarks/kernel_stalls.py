"""Does the Jupyter kernel answer every cell? A stress test of the notebook machinery, not of caelib.

    python benchmarks/kernel_stalls.py [--runs 200] [--cells 200] [--cell-timeout 30]

Runs a synthetic notebook (numpy work on every core, an inline matplotlib figure, a widget, a printed line and a
plain value, in turn) again and again with nbclient, the engine under nbmake and the student-notebook test, and
counts the runs that end without an answer: a cell past its timeout (a stall: the kernel never replied) or a dead
kernel. It runs with whatever ipykernel is installed and prints its version, so two versions can be compared by
running it in two environments. Why it exists: ipykernel 7 stalled a notebook cell of our CI for 600 s once and a
Voila render for 300 s once; see benchmarks/results/kernel_stalls.md for what this measured.
"""

from __future__ import annotations

import argparse
import time

import ipykernel
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

SETUP = """import ipywidgets as w, numpy as np, matplotlib
matplotlib.use("module://matplotlib_inline.backend_inline")
import matplotlib.pyplot as plt
a = np.random.rand(400, 400)"""


def cell_source(i: int) -> str:
    return [f"for _ in range(20):\n    b = a @ a\nprint({i}, float(b[0, 0]))",
            "plt.figure(figsize=(2, 2)); plt.imshow(a[:32, :32]); plt.show()",
            f"s = w.VBox([w.IntSlider(value={i}), w.Output()])\ns",
            f"y = {i}\ny"][i % 4]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--cells", type=int, default=200)
    p.add_argument("--cell-timeout", type=int, default=30, help="seconds before a cell counts as stalled")
    a = p.parse_args(argv)
    cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(cell_source(i)) for i in range(a.cells)]
    failed: dict[str, int] = {"stall": 0, "dead kernel": 0, "other": 0}
    t0 = time.perf_counter()
    for run in range(a.runs):
        nb = nbformat.v4.new_notebook(cells=[c.copy() for c in cells])
        try:
            NotebookClient(nb, timeout=a.cell_timeout, kernel_name="python3").execute()
        except CellTimeoutError as e:
            failed["stall"] += 1
            print(f"run {run}: stall: {str(e)[:200]}", flush=True)
        except DeadKernelError as e:
            failed["dead kernel"] += 1
            print(f"run {run}: dead kernel: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - counted and reported, the next run goes on
            failed["other"] += 1
            print(f"run {run}: {type(e).__name__}: {str(e)[:200]}", flush=True)
    total = sum(failed.values())
    print(f"ipykernel {ipykernel.__version__}: {a.runs} runs x {len(cells)} cells, {total} failed ({failed}), "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
