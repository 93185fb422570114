"""The verdict at the end of CAE training: the guards a trained CAE must meet, each met or not, with what to try.

Is a trained CAE fit to explain its black box? ``verdict`` measures the guards (``Guard``) and returns a ``Verdict``
whose table ``python -m caelib train-cae`` prints; it backs ``train_cae(..., test=, classifier=)``'s
``TrainResult.verdict``. The numbers are those of ``caelib.swap_quality.quality_report``. Importable from
``caelib.swap`` too.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch

from .cae import CAE
from .classifier import predict_proba
from .conventions import Classifier
from .swap_quality import _sample, flip_rates, quality_report, reconstruction_report, swap_confusion
from .train_config import CRITIC_WEIGHT

__all__ = ["VERDICT_BARS", "Guard", "Verdict", "rates_on", "verdict"]

# The bars a CAE must meet on any data (issue 25 of the project: a reader's own images, 2 to 10 classes): swaps flip
# the black box (mean over ordered class pairs, and the worst pair), reconstructions keep the black box's accuracy
# within an absolute margin (read against its own accuracy on the same images: a black box right on 80% of the
# originals cannot be right on 95% of their reconstructions), and the class code changes the output at all (0: a
# collapsed CAE whose decoder ignores it).
VERDICT_BARS = {"recon_accuracy_margin": 0.02, "flip_mean": 0.90, "flip_worst": 0.75, "class_code_effect": 0.01}


@dataclass(frozen=True)
class Guard:
    """One guard of a trained CAE: the measured ``value``, the ``bar`` it must reach (``op`` ">=" or ">"),
    whether it is ``met``, and ``hint``: what to try when it is not."""

    name: str
    what: str
    value: float
    op: str
    bar: float
    hint: str

    @property
    def met(self) -> bool:
        if not np.isfinite(self.value):
            return False
        return self.value > self.bar if self.op == ">" else self.value >= self.bar - 1e-9

    def as_dict(self) -> dict:
        return {"name": self.name, "what": self.what, "value": self.value, "op": self.op, "bar": self.bar,
                "met": self.met, "hint": self.hint}


@dataclass
class Verdict:
    """Is a trained CAE fit to explain its black box? ``guards`` (each met or not, with what to try),
    measured on ``n_images`` test images sampled across the classes; ``report`` holds every number of
    ``quality_report`` on them, ``classifier_accuracy`` the black box's accuracy on the originals.
    ``str(verdict)`` is the table ``python -m caelib train-cae`` prints."""

    guards: list[Guard]
    n_images: int
    classifier_accuracy: float
    report: dict

    @property
    def failed(self) -> list[Guard]:
        return [g for g in self.guards if not g.met]

    @property
    def met(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        n, m = len(self.failed), len(self.guards)
        return f"all {m} guards met" if not n else f"{n} of {m} guards not met"

    def table(self) -> str:
        rows = [(g.what, f"{g.value:.3f}", f"{g.op} {g.bar:.3f}", "met" if g.met else "NOT MET") for g in self.guards]
        head = ("guard", "measured", "bar", "")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
        lines = [f"verdict on {self.n_images} test images (sampled across the classes):",
                 "  " + "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        if "flip_mean_right_donors" in self.report:
            lines.append(textwrap.fill(
                "  swaps take the class codes of images the black box classifies correctly; with every donor "
                f"(those it misreads too): flip mean {self.report['flip_mean']:.3f}, worst pair "
                f"{self.report['flip_worst']:.3f}", 110, subsequent_indent="    "))
        lines += [textwrap.fill(f"not met: {g.what}: {g.hint}", 110, initial_indent="  ", subsequent_indent="    ",
                                break_on_hyphens=False)
                  for g in self.failed]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table() + "\n" + self.summary()

    def as_dict(self) -> dict:
        return {"n_images": self.n_images, "classifier_accuracy": self.classifier_accuracy, "met": self.met,
                "summary": self.summary(), "guards": [g.as_dict() for g in self.guards]}


def rates_on(cae: CAE, classifier: Classifier, x: torch.Tensor, y: torch.Tensor, seed: int = 0,
             decisions: torch.Tensor | None = None) -> dict:
    """``flip_rates`` of swaps whose class-code donors the black box classifies correctly (``swap_confusion``
    with ``donors``): whether the CAE carries a class's features as the black box sees them. ``decisions``: the
    black box's classes for ``x`` when already computed."""
    if decisions is None:
        decisions = predict_proba(classifier, x).argmax(1)
    right = decisions == y
    return flip_rates(swap_confusion(cae, classifier, x, y, n_per_pair=200, seed=seed, donors=right))


@torch.no_grad()
def verdict(cae: CAE, classifier: Classifier, test, *, n: int | None = 500, seed: int = 0,
            class_names=None, bars: dict | None = None) -> Verdict:
    """Measure the guards of a trained CAE against its black box on ``n`` test images sampled across the
    classes (``data.stratified_indices``; None: all): the black box beats guessing the majority class; the
    black box classifies reconstructions correctly about as often as the originals (its own accuracy less
    ``recon_accuracy_margin``); the swap flip rate, on average and for the worst ordered class pair; the class
    code changes the output. Each guard says what to try when it is not met. Backs ``train_cae(..., test=,
    classifier=)``'s ``TrainResult.verdict`` and the table at the end of ``python -m caelib train-cae``.
    The numbers are those of :func:`quality_report` (``bars``: other values for ``VERDICT_BARS``)."""
    b = {**VERDICT_BARS, **(bars or {})}
    x, y, _ = _sample(test, n, seed)
    k = cae.config.num_classes
    names = list(class_names) if class_names is not None else [str(c) for c in range(k)]
    decisions = predict_proba(classifier, x).argmax(1)
    acc = float((decisions == y).float().mean())
    majority = float(torch.bincount(y, minlength=k).max()) / max(len(y), 1)
    present = len(torch.unique(y))
    more_data = ("more training images (a larger folder, or raise --max-images; with a few hundred images a CAE "
                 "learns slowly)")
    guards = [Guard("classifier_accuracy", "black box beats the majority class", acc, ">", majority,
                    "the black box itself is no better than always answering its most frequent class on these "
                    "images: check the black box (train it longer: python -m caelib train-classifier --epochs; "
                    "check that it was trained on these classes, in this order, with this preprocessing) before "
                    "explaining it")]
    if present < 2:
        report = reconstruction_report(cae, classifier, x, y)
        for name, what in (("flip_mean", "swap flip rate, mean over class pairs"),
                           ("flip_worst", "swap flip rate, worst class pair")):
            guards.append(Guard(name, what, float("nan"), ">=", b[name], f"not measured: the test images hold "
                                f"{present} class(es); a flip rate needs test images of at least two classes"))
        effect = float("nan")
    else:
        report = quality_report(cae, classifier, SimpleNamespace(images=x, labels=y), n=None, seed=seed)
        # The guards take class codes from donors the black box classifies correctly: a donor it misreads
        # shows it another class's features, and a faithful swap carries those (swaps follow the donor's
        # decision). quality_report's rates (every donor) stay in the report as flip_mean / flip_worst.
        right = rates_on(cae, classifier, x, y, seed, decisions)
        report.update({"flip_mean_right_donors": right["mean"], "flip_worst_right_donors": right["worst"],
                       "flip_per_pair_right_donors": {f"{a}->{c}": v for (a, c), v in right["per_pair"].items()}})
        pairs = {key: v for key, v in report["flip_per_pair_right_donors"].items() if np.isfinite(v)}
        worst = min(pairs, key=pairs.get) if pairs else None
        w_name = "none" if worst is None else " -> ".join(names[int(c)] for c in worst.split("->"))
        train_more = "train longer (more --steps; train-cae resumes its checkpoint)"
        guards += [
            Guard("flip_mean", "swap flip rate, mean over class pairs", right["mean"], ">=", b["flip_mean"],
                  f"swaps do not take the class-code donor's class often enough: {train_more}; {more_data}; a "
                  "louder class head on swaps (--swap-class-weight 5) or a louder black-box critic (train-cae "
                  f"uses --critic {CRITIC_WEIGHT:g} when given --classifier: try {2 * CRITIC_WEIGHT:g})"),
            Guard("flip_worst", f"swap flip rate, worst class pair ({w_name})",
                  right["worst"] if pairs else float("nan"), ">=", b["flip_worst"],
                  f"the CAE cannot yet turn {w_name} (individual code -> class code): {train_more}; more images "
                  "of both classes; a louder black-box critic (--critic "
                  f"{2 * CRITIC_WEIGHT:g}); check how well the black box tells the "
                  "two apart"),
        ]
        effect = report["class_code_effect"]
    margin = b["recon_accuracy_margin"]
    code_acc = report["code_accuracy"]   # reconstructions take the class the code head reads (reconstruction_report)
    where = ("so the class code is what falls short: more training images (more --steps did not lift it on caelib's "
             "panel, benchmarks/results/generalisation.md)"
             if code_acc < acc - margin else
             "as well as the black box, so the decoder loses the details it looks at: train longer (more --steps); a "
             "finer individual code (--indiv-downs 1) keeps thin structures")
    guards.insert(1, Guard("recon_accuracy", f"reconstructions classified correctly (>= black box - {margin:.2f})",
                           report["recon_accuracy"], ">=", acc - margin,
                           "the black box misreads the reconstructions more often than the originals, so the CAE's "
                           "images lose what it looks at. A reconstruction takes the class its class code carries, "
                           f"and the CAE's code head reads the right class in {code_acc:.3f} of these images "
                           f"(the black box {acc:.3f}), {where}"))
    guards.append(Guard("class_code_effect", "the class code changes the output", effect, ">=",
                        b["class_code_effect"], "the decoder ignores the class code (a collapsed CAE): train longer, "
                        "or anew with another --seed or a lower --lr; check that the classes differ in the images"))
    return Verdict(guards=guards, n_images=len(y), classifier_accuracy=acc,
                   report={**report, "classifier_accuracy": acc, "majority_rate": majority,
                           "code_accuracy": code_acc})
