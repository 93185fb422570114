"""Does the individual code still carry the class? The measures of issue "swapping and the manifold" (notebook 04),
on whole test sets, and a controlled look at why, on the lesions.

    python benchmarks/individual_code.py [--threads 1]

1. For the shipped CAEs of lesions, lesions-kinds and mnist (``caelib.manifold.code_space_report``, 1000 random
   training and 500 random test images, seed 0): 5-NN accuracy, silhouette and linear-probe accuracy of the class
   codes, the individual codes (as ``encode`` gives them, after the class eraser of ``caelib.erasure``, and
   before it) and the pixels (higher = the space holds the class), chance = the commonest class;
   the swap flip rate over the test set (mean and worst ordered pair, 200 swaps each).
2. Lesion twins: test images with a lesion and the very same images rendered without it
   (``caelib.data.generate_lesions(..., draw_lesions=False)``). Where does the individual code change (share of
   its summed absolute change, upsampled to 32x32, inside the lesion mask, against the mask's area), by how much
   relative to its length (and the class code's), and can a linear probe tell an image from its twin by the
   individual code alone (trained on half the pairs, tested on the other half)?
3. Spread directions: the shipped mnist CAE's eraser refitted with 0 .. 64 directions of unequal class spread
   (``spread_dims``): probes, 5-NN and the swap and reconstruction bars.
Prints Markdown.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

import caelib
from caelib import manifold, swap
from caelib.data import generate_lesions
from caelib.erasure import fit_indiv_eraser, raw_indiv_codes
from caelib.pretrained import CAE_RECIPES


def spaces(names) -> None:
    print("| data | space | 5-NN ↑ | silhouette ↑ | linear probe ↑ | chance |")
    print("|---|---|---|---|---|---|")
    flips, tables = [], []
    for name in names:
        m = caelib.pretrained(name)
        tr, te = caelib.load_dataset(name, "train"), caelib.load_dataset(name, "test")
        g = torch.Generator().manual_seed(0)
        itr, ite = torch.randperm(len(tr), generator=g)[:1000], torch.randperm(len(te), generator=g)[:500]
        rep = manifold.code_space_report(m.cae, tr.images[itr], tr.labels[itr], te.images[ite], te.labels[ite])
        for space, r in rep.items():
            if space == "chance":
                continue
            print(f"| {name} | {space} | {r['knn']:.3f} | {r['silhouette']:.3f} | {r['probe']:.3f} "
                  f"| {rep['chance']:.3f} |")
        confusion = swap.swap_confusion(m.cae, m.classifier, te.images, te.labels)
        rates = swap.flip_rates(confusion)
        worst = min(rates["per_pair"], key=rates["per_pair"].get)
        flips.append(f"- {name}: flip rate {rates['mean']:.3f}, worst pair {worst[0]}->{worst[1]} {rates['worst']:.3f} "
                     f"({len(te)} test images)")
        classes = te.class_names
        rows = [f"| {classes[b]} | " + " | ".join(f"{v:.2f}" for v in row) + " |"
                for b, row in enumerate(swap.swap_confusion_matrix(confusion))]
        tables.append(f"\n{name} (rows: the class-code donor's class; columns: the black box's decision; "
                      "cross-class swaps, 200 per ordered pair):\n\n| donor | " + " | ".join(classes) + " |\n|---|"
                      + "---|" * len(classes) + "\n" + "\n".join(rows))
    print("\nSwaps over the whole test set:\n")
    print("\n".join(flips))
    print("\nThe black box's confusion over swaps (`swap.swap_confusion_matrix`; the diagonal is the flip rate into "
          "each class):")
    print("\n".join(tables))


@torch.no_grad()
def twins(n: int = 2000) -> None:
    m = caelib.pretrained("lesions")
    with_l = generate_lesions(n, split="test", seed=0)
    without = generate_lesions(n, split="test", seed=0, draw_lesions=False)
    sick = with_l["labels"] == 1
    x1, x0 = torch.from_numpy(with_l["images"][sick]), torch.from_numpy(without["images"][sick])
    mask = torch.from_numpy(with_l["masks"][sick])
    c1, i1 = m.cae.encode(x1)
    c0, i0 = m.cae.encode(x0)
    print(f"\n## Lesion twins\n\n{len(x1)} test images with a lesion and the same images without it, "
          "shipped lesions CAE (its individual codes as `encode` gives them, after the class eraser, and before it):\n")
    rel_c = ((c1 - c0).norm(dim=1) / c0.norm(dim=1)).mean()
    raw1, raw0 = raw_indiv_codes(m.cae, x1).view_as(i1), raw_indiv_codes(m.cae, x0).view_as(i0)
    # the probe's split: twins of the first half train it (both members of each pair), the rest test it
    n, half = len(x1), len(x1) // 2
    y = torch.cat([torch.zeros(n), torch.ones(n)]).long()
    idx = torch.arange(n)
    tr, te = torch.cat([idx[:half], idx[:half] + n]), torch.cat([idx[half:], idx[half:] + n])
    for label, a, b in (("erased", i1, i0), ("before erasure", raw1, raw0)):
        change = F.interpolate((a - b).abs().sum(1, keepdim=True), size=x1.shape[-1], mode="nearest")
        share = ((change * mask).flatten(1).sum(1) / change.flatten(1).sum(1)).mean()
        rel_i = ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).mean()
        codes = torch.cat([b, a]).flatten(1)
        probe = manifold.linear_probe_accuracy(codes[tr], y[tr], codes[te], y[te])
        print(f"- {label}: share of the individual code's change inside the lesion {share:.3f} (the lesion covers "
              f"{mask.flatten(1).mean(1).mean():.3f} of the image); relative change of the individual code "
              f"{rel_i:.3f} (class code {rel_c:.3f}); a linear probe tells an image from its lesion-free twin by "
              f"the individual code with accuracy {probe:.3f} (chance 0.5)")


@torch.no_grad()
def spread_sweep(name: str = "mnist", dims=(0, 16, 32, 48, 64)) -> None:
    """Refit the shipped CAE's eraser with more and more spread directions (``spread_dims``) on its own weights:
    what the probes read from the individual code, and what the swaps and reconstructions cost."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    m = caelib.pretrained(name)
    tr, te = caelib.load_dataset(name, "train"), caelib.load_dataset(name, "test")
    g = torch.Generator().manual_seed(0)
    itr, ite = torch.randperm(len(tr), generator=g)[:1000], torch.randperm(len(te), generator=g)[:500]
    logistic = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    shipped = m.cae.indiv_eraser.spread_dims
    print(f"\n## Spread directions ({name})\n\nThe shipped {name} CAE's weights, its eraser refitted with the class "
          f"means and `spread_dims` directions of unequal class spread (shipped: {shipped}); probes as above, the "
          f"logistic one standardised with C = 0.1; bars from `swap.quality_report` on the test split:\n")
    print("| spread_dims | ridge probe ↓ | logistic probe ↓ | 5-NN ↓ | flip mean / worst | recon accuracy "
          "| recon error |")
    print("|---|---|---|---|---|---|---|")
    for r in dims:
        fit_indiv_eraser(m.cae, tr.images, tr.labels, seed=CAE_RECIPES[name].train.seed, spread_dims=r)
        a, b = m.cae.encode(tr.images[itr])[1], m.cae.encode(te.images[ite])[1]
        ridge = manifold.linear_probe_accuracy(a, tr.labels[itr], b, te.labels[ite])
        logit = manifold.linear_probe_accuracy(a, tr.labels[itr], b, te.labels[ite], probe=logistic)
        knn = manifold.knn_accuracy(a, tr.labels[itr], b, te.labels[ite], 5)
        q = swap.quality_report(m.cae, m.classifier, te)
        print(f"| {r}{' (shipped)' if r == shipped else ''} | {ridge:.3f} | {logit:.3f} | {knn:.3f} "
              f"| {q['flip_mean']:.3f} / {q['flip_worst']:.3f} | {q['recon_accuracy']:.3f} | {q['recon_error']:.3f} |")
    chance = float(torch.bincount(te.labels[ite]).max() / len(ite))
    print(f"\nChance: {chance:.3f}.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    print("# Does the individual code carry the class? (notebook 04)\n")
    print(f"Command: `python benchmarks/individual_code.py --threads {args.threads}`\n")
    spaces(caelib.PRETRAINED)
    twins()
    spread_sweep()
    print(f"\n({time.perf_counter() - t:.0f} s, {args.threads} torch thread(s), torch {torch.__version__}.)")


if __name__ == "__main__":
    main()
