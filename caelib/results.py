"""Result tables for the notebooks: live scores and the benchmarks' stored results, shown as real tables.

Every table is a pandas Styler made by :func:`caelib.claims.table` (Jupyter, nbconvert and the course website
render it as HTML; nothing is printed as Markdown text). The cells show the mean; where a 95% bootstrap
interval is known it is the cell's tooltip (hover over a cell). Column titles carry the metric's direction
(↑ higher is better, ↓ lower is better) and the best value of each column with a direction is bold.

- :func:`scores_table`: ``{row: {metric: per-image values}}`` (what ``caelib.scoring.score`` and
  ``caelib.evaluate`` return) as a table of means with their intervals;
- :func:`benchmark_rows` / :func:`benchmark_table`: a CSV of ``benchmarks/results/`` (long format: one row per
  method and metric), read back and pivoted to one row per method;
- :func:`benchmark_value`: one stored number, for the notebooks' :func:`caelib.claims.claim` checks;
- :func:`recorded_table`: a table of a benchmark's Markdown report (``benchmarks/results/<name>.md``) read back,
  so that a notebook shows the recorded figures instead of typing them into its prose.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .claims import table
from .scoring import COLUMN_TITLES

__all__ = ["RESULTS", "benchmark_rows", "benchmark_table", "benchmark_value", "column_title", "recorded_table",
           "scores_table"]

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"

# baselines' column titles, with the randomisation columns spelt out (no "ρ" to explain) and the cost column
_TITLES = {**COLUMN_TITLES, "randomisation_top": "rand. top layer", "randomisation_all": "rand. all layers",
           "ms_per_image": "ms per image"}


def _direction(metric: str) -> bool | None:
    """The metric's direction (``caelib.evaluate.higher_is_better``; the cost column: lower is better)."""
    from .evaluate import higher_is_better

    return higher_is_better(metric)


def column_title(metric: str) -> str:
    """The column title of ``metric``: a readable name and its direction (↑ / ↓, none for the masses)."""
    arrow = {True: " ↑", False: " ↓", None: ""}[_direction(metric)]
    return _TITLES.get(metric, metric.replace("_", " ")) + arrow


def _styled(records: list[dict], index: str, metrics: list[str], tips: list[dict] | None, *,
            precision: int, caption: str | None):
    """A Styler of ``records`` (columns ``index``, the labels, then the metric titles) with the best of each
    directed column in bold and ``tips`` (the same shape, strings) as cell tooltips."""
    import pandas as pd

    highlight = {column_title(m): ("max" if _direction(m) else "min") for m in metrics
                 if _direction(m) is not None and m != "ms_per_image"}
    present = {c for r in records for c in r}
    styler = table(records, index=index, precision=precision, caption=caption,
                   highlight={c: d for c, d in highlight.items() if c in present})
    if tips:
        frame = styler.data
        tip = pd.DataFrame([{c: t.get(c, "") for c in frame.columns} for t in tips], index=frame.index)
        styler = styler.set_tooltips(tip)
    return styler


def scores_table(rows: Mapping[Any, Mapping[str, Any]], *, metrics: list[str] | None = None,
                 labels: Callable[[Any], Mapping[str, str]] | None = None, interval: bool = True,
                 precision: int = 3, caption: str | None = None, seed: int = 0):
    """A table of ``{row key: {metric: per-image values (tensor)}}``: one row per key, one column per metric
    (``metrics``, default all, in order), each cell the mean over the images; with ``interval`` the 95%
    bootstrap interval (``caelib.evaluate.mean_ci``) is the cell's tooltip. ``labels(key)`` gives the row's
    label columns (default: ``{"method": key}``, or ``{"method": key[0], "baseline": key[1]}`` for pairs)."""
    import torch

    from . import evaluate as ev

    metrics = metrics or list(dict.fromkeys(k for s in rows.values() for k in s))
    records, tips, head = [], [], "method"
    for key, scores in rows.items():
        if labels is not None:
            lab = dict(labels(key))
        elif isinstance(key, tuple) and len(key) == 2:
            lab = {"method": str(key[0]), "baseline": str(key[1])}
        else:
            lab = {"method": str(key)}
        head = " · ".join(lab)
        rec, tip = {"row": " · ".join(lab.values())}, {}
        for m in metrics:
            v = scores.get(m)
            if v is None:
                continue
            v = torch.as_tensor(v, dtype=torch.float32).flatten()
            v = v[torch.isfinite(v)]
            if not len(v):
                continue
            mean, lo, hi = ev.mean_ci(v, seed=seed) if interval else (float(v.mean()), math.nan, math.nan)
            rec[column_title(m)] = float(mean)
            if interval:
                tip[column_title(m)] = f"95% interval [{lo:.{precision}f}, {hi:.{precision}f}], {len(v)} images"
        records.append(rec)
        tips.append(tip)
    cap = caption
    if interval:
        cap = (caption + " " if caption else "") + "(hover over a cell for its 95% bootstrap interval)"
    records = [{head if k == "row" else k: v for k, v in r.items()} for r in records]
    return _styled(records, head, metrics, tips if interval else None, precision=precision, caption=cap)


def benchmark_rows(name: str, **where: str) -> list[dict]:
    """The rows of ``benchmarks/results/<name>`` (a CSV) whose columns equal ``where`` (e.g.
    ``dataset="lesions"``); numbers are converted to floats where they parse."""
    path = RESULTS / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it is written by the benchmark named in its notebook cell")
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if all(row.get(k) == v for k, v in where.items()):
                for k, v in row.items():
                    try:
                        row[k] = float(v)
                    except (TypeError, ValueError):
                        pass
                out.append(row)
    if not out:
        raise ValueError(f"{name}: no rows with {where}")
    return out


def benchmark_table(name: str, *, row: str | Iterable[str] = "method", metrics: list[str] | None = None,
                    precision: int = 3, caption: str | None = None, **where: str):
    """A benchmark CSV in long format (columns ``row``..., ``metric``, ``mean``, ``low``, ``high``) as a table:
    one row per ``row`` value (several columns are joined with " · "), one column per metric (``metrics``,
    default all, in order), the means in the cells and the intervals as tooltips. ``where`` selects rows."""
    keys = [row] if isinstance(row, str) else list(row)
    data = benchmark_rows(name, **where)
    metrics = metrics or list(dict.fromkeys(r["metric"] for r in data))
    records: dict[str, dict] = {}
    tips: dict[str, dict] = {}
    for r in data:
        if r["metric"] not in metrics:
            continue
        label = " · ".join(str(r[k]) for k in keys)
        records.setdefault(label, {" · ".join(keys): label})[column_title(r["metric"])] = r["mean"]
        lo, hi = r.get("low"), r.get("high")
        if isinstance(lo, float) and isinstance(hi, float) and not (math.isnan(lo) or math.isnan(hi)):
            tips.setdefault(label, {})[column_title(r["metric"])] = (
                f"95% interval [{lo:.{precision}f}, {hi:.{precision}f}], n = {int(r.get('n', 0) or 0)}")
    order = list(records)
    return _styled([records[k] for k in order], " · ".join(keys), metrics, [tips.get(k, {}) for k in order],
                   precision=precision, caption=caption)


def benchmark_value(name: str, column: str = "mean", **where: str) -> float:
    """One number of a benchmark CSV: ``column`` of the single row matching ``where``."""
    rows = benchmark_rows(name, **where)
    if len(rows) != 1:
        raise ValueError(f"{name}: {len(rows)} rows match {where}, expected one")
    return float(rows[0][column])


def benchmark_means(name: str, *, key: Iterable[str] = ("method", "metric"), column: str = "mean",
                    **where: str) -> dict:
    """``{(method, metric): mean}`` of a benchmark CSV (``key``: the columns that name a value; one column gives
    plain keys), for the notebooks' claims about the stored results."""
    key = list(key)
    return {(tuple(r[k] for k in key) if len(key) > 1 else r[key[0]]): float(r[column])
            for r in benchmark_rows(name, **where)}


def best_table(means: Mapping[tuple, float], groups: Mapping[str, Iterable[str]], *, metrics: list[str] | None = None,
               precision: int = 3, caption: str | None = None):
    """Per metric (rows), the best method of each group of methods (columns, e.g. the CAE maps, the other
    methods, the model-free baselines) with its value, from ``means`` {(method, metric): value}; "best" follows
    the metric's direction (metrics without one are left out)."""
    metrics = metrics or [m for m in dict.fromkeys(k[1] for k in means) if _direction(m) is not None]
    records = []
    for m in metrics:
        sign = 1 if _direction(m) else -1
        rec = {"metric": column_title(m)}
        for group, methods in groups.items():
            have = [(means[g, m], g) for g in methods if (g, m) in means]
            if have:
                v, g = max(have, key=lambda t: sign * t[0])
                rec[group] = f"{v:.{precision}f}  {g}"
        records.append(rec)
    return table(records, index="metric", caption=caption)


def recorded_table(name: str, index: int = 0) -> list[dict]:
    """The ``index``-th Markdown table of ``benchmarks/results/<name>`` as records (``{column: value}``, numbers
    as floats), e.g. to show it with :func:`caelib.claims.table` and check the prose against it."""
    path = RESULTS / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it is written by the benchmark named in its notebook cell")
    tables, rows = [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("|") and line.rstrip().endswith("|"):
            rows.append([c.strip() for c in line.strip()[1:-1].split("|")])
        elif rows:
            tables.append(rows)
            rows = []
    if not 0 <= index < len(tables):
        raise ValueError(f"{name} holds {len(tables)} Markdown tables; there is no table {index}")
    head, *body = tables[index]
    body = [r for r in body if not all(set(c) <= set("-: ") for c in r)]   # drop the |---| rule

    def value(text: str):
        try:
            return float(text)
        except ValueError:
            return text

    return [{h: value(c) for h, c in zip(head, r)} for r in body]
