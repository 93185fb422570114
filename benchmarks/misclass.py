"""Why was it misclassified? Notebook 09's measurements on whole test sets.

    OMP_NUM_THREADS=1 python benchmarks/misclass.py [--threads 1] [--out benchmarks/results/misclass]

Two black boxes that make real mistakes: the shipped mnist classifier (its natural errors on the 1000 test
digits) and the deliberately weak lesions classifier ``data/lesions-weak-classifier.pt`` (1000 training
images, 3 epochs; most of its errors are lesions it misses). For every misclassified test image:
11-step counterfactual paths towards the *true* class from 5 references of that class (the shipped CAE;
a bank of training images that the explained black box assigns to their label), with two reference rules:
``DiverseReference`` (the 2 nearest + 3 spread by farthest-point sampling) and ``NearestReference(n=5)``.
Measured: the fraction of misclassified images with a counterfactual towards the true class (higher is
better), the fraction already flipped at the reconstruction (step 0), counterfactuals that reach the
true class per image, distinct counterfactuals per image (``misclass.DEFAULT_TOL``), the mean pairwise
distance between their changes (diversity), and, for the missed lesions, how often the change lands on
the lesion (pointing game of the CAE map |x_cf - x|, of Integrated Gradients on the counterfactual, of the
common map; chance = the mask's area) and how faint the missed lesions are (``misclass.lesion_contrast``).
Writes ``OUT.md`` and ``OUT.csv``.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

import caelib
from caelib import misclass, paths
from caelib.classifier import load_classifier

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["black box", "reference", "test images", "accuracy", "misclassified", "found_rate", "at_step_0",
           "mean_found", "mean_distinct", "diversity", "n_evidence", "lands_cae", "lands_method", "lands_common",
           "lands_any", "chance", "seconds"]


def setups():
    """(name, dataset, black box) of the black boxes measured."""
    mnist = caelib.pretrained("mnist", with_cae=False).classifier
    weak = load_classifier(ROOT / "data" / "lesions-weak-classifier.pt").eval()
    return [("mnist", "mnist", mnist), ("lesions-weak", "lesions", weak)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "misclass")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows, notes = [], []
    for name, dataset, classifier in setups():
        cae = caelib.pretrained(dataset).cae
        train, test = caelib.load_dataset(dataset, "train"), caelib.load_dataset(dataset, "test")
        bank = paths.CodeBank.from_images(cae, train.images, train.labels, classifier=classifier)
        pred = caelib.predict_proba(classifier, test.images).argmax(1)
        acc = float((pred == test.labels).float().mean())
        rules = {"diverse (2 nearest + 3 spread)": misclass.DiverseReference(bank, nearest=2, diverse=3),
                 "nearest 5": paths.NearestReference(bank, n=5)}
        for rule_name, rule in rules.items():
            t0 = time.perf_counter()
            expl = misclass.explain_misclassified(cae, classifier, test.images, test.labels, reference=rule)
            s = misclass.summary(expl, test.masks)
            seconds = time.perf_counter() - t0
            rows.append({"black box": name, "reference": rule_name, "test images": len(test), "accuracy": acc,
                         "misclassified": s["n"], **s, "seconds": seconds})
            print(f"{name} / {rule_name}: {s}  ({seconds:.1f} s)", flush=True)
            by = []
            for k in expl.label.unique().tolist():
                sel = expl.label == k
                by.append(f"true {test.class_names[k]}: {float(expl.found[sel].float().mean()):.3f} "
                          f"({int(sel.sum())})")
            notes.append(f"- {name}, {rule_name}: found rate by true class: {', '.join(by)}")
        if test.masks is not None:
            c = misclass.lesion_contrast(test.images, test.masks)
            les = test.labels == 1
            missed, seen = les & (pred == 0), les & (pred == 1)
            notes.append(f"- {name}: lesion contrast (mean inside minus a 2-px ring; higher = more visible) of the "
                         f"{int(missed.sum())} missed lesions {float(c[missed].mean()):.3f}, of the "
                         f"{int(seen.sum())} detected ones {float(c[seen].mean()):.3f}; "
                         f"{int((~les & (pred == 1)).sum())} false alarms")
    write(rows, notes, args.out)


def write(rows: list[dict], notes: list[str], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)

    def fmt(v):
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = [
        "# Why was it misclassified? (notebook 09)",
        "",
        "Command: `OMP_NUM_THREADS=1 python benchmarks/misclass.py --threads 1` (shipped CAEs, 1 thread on a busy "
        "2-core machine). 11-step straight paths towards the true class, 5 references each; CAE map "
        "|x_cf - x| smoothed by 2 px; Captum method: Integrated Gradients on the counterfactual for the true class.",
        "",
        "found_rate: fraction of misclassified images with a counterfactual towards the true class (higher is "
        "better); at_step_0: fraction whose reconstruction the black box already gets right; mean_found: paths "
        "per image that reach the true class (of 5); mean_distinct: distinct counterfactuals per image (changes "
        f"at distance >= {misclass.DEFAULT_TOL}); diversity: mean pairwise distance between an image's "
        "counterfactual changes (0 = identical, 2 = disjoint). lands_*: pointing game on the missed lesion "
        "(per counterfactual for cae/method, per image for common/any; higher is better); chance: the mask's "
        "area fraction.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(fmt(r.get(c, "")) for c in COLUMNS) + " |" for r in rows),
        "",
        *notes,
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
