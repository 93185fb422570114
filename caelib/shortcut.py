"""The shortcut analysis: does a black box, or a CAE judged by it, look at the marker instead of the lesion?

On the shortcut lesions (``load_dataset("lesions-shortcut")``) a bright 3x3 marker in the top-left corner
gives the label away in the training split, and ``data/lesions-shortcut-classifier.pt`` learnt the marker
instead of the lesion. ``shortcut_images`` picks the test images with (or without) a marker and a lesion;
``shortcut_report`` measures a CAE against that black box (how much of its counterfactual's change lies on
the marker and on the lesion, with ``caelib.evaluate.mask_mass``); ``SHORTCUT_METRICS`` are the columns of
the shortcut tables (``caelib.scoring``). Taught in notebook 07; measured in ``benchmarks/baselines.py``.
"""

from __future__ import annotations

import torch

from .classifier import predict_proba
from .conventions import dilate
from .counterfactual_baseline import counterfactual_change
from .evaluate import mask_mass
from .paths import CodeBank, MedoidReference
from .swap import decode_all, encode_all

__all__ = ["shortcut_images", "shortcut_report", "SHORTCUT_METRICS"]

# the columns of the shortcut tables: localisation against the marker, where the mass lies, faithfulness, sanity
SHORTCUT_METRICS = ["pointing_game", "mask_auroc", "topk_iou", "mass_marker", "mass_lesion", "deletion_auc",
                    "insertion_auc", "aopc", "randomisation_top", "randomisation_all"]


def shortcut_images(ds, *, marker: bool = True, lesion: bool = True) -> torch.Tensor:
    """Indices of the images of a shortcut data set (``marker_masks``) with / without a marker and a lesion."""
    if not hasattr(ds, "marker_masks"):
        raise ValueError(f"{getattr(ds, 'name', 'this data set')} has no marker_masks; use "
                         "load_dataset('lesions-shortcut', split=...)")
    has_m = ds.marker_masks.flatten(1).sum(1) > 0
    has_l = ds.masks.flatten(1).sum(1) > 0
    return ((has_m == marker) & (has_l == lesion)).nonzero().flatten()


@torch.no_grad()
def shortcut_report(cae, classifier, test, train, *, n: int = 300, seed: int = 0) -> dict:
    """A CAE on the shortcut lesions, judged by the black box (on the test split the marker says nothing
    about the label, so the labels cannot judge it):

    - ``bb_flip_mean`` / ``bb_flip_worst``: swaps with the class code of a random training image the black
      box puts in the other class, that the black box puts in that class (mean and worse direction);
    - ``bb_recon_agreement``: reconstructions the black box classifies as it classifies the image;
    - ``cf_marker_mass`` / ``cf_lesion_mass``: on test images with a marker and a lesion, swapped to the
      medoid of class 0, the share of |x_cf - x| on the marker / on the lesion (each mask grown by 1 px),
      and ``marker_area`` / ``lesion_area``, the share of the image those masks cover (what chance gives)."""
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(test), generator=g)[:n]
    x = test.images[pick]
    decision = predict_proba(classifier, x).argmax(1)
    bank = CodeBank.from_images(cae, train.images[:3000], predict_proba(classifier, train.images[:3000]).argmax(1))
    class_x, indiv_x = encode_all(cae, x)
    rec = decode_all(cae, indiv_x, class_x)
    agree = float((predict_proba(classifier, rec).argmax(1) == decision).float().mean())
    k = bank.num_classes
    other = (decision + torch.randint(1, k, (len(x),), generator=g)) % k
    donors = torch.stack([(bank.labels == c).nonzero().flatten()[torch.randint(int((bank.labels == c).sum()), (1,),
                                                                               generator=g)][0] for c in other])
    swaps = decode_all(cae, indiv_x, bank.codes[donors])
    hit = predict_proba(classifier, swaps).argmax(1) == other
    per_class = [float(hit[other == c].float().mean()) for c in range(k) if (other == c).any()]
    both = shortcut_images(test)[:n]
    change = counterfactual_change(cae, test.images[both], MedoidReference(bank), 0)
    marker, lesion = test.marker_masks[both], test.masks[both]
    return {"bb_flip_mean": float(hit.float().mean()), "bb_flip_worst": min(per_class), "bb_recon_agreement": agree,
            "cf_marker_mass": float(mask_mass(change, marker, dilation=1).nanmean()),
            "cf_lesion_mass": float(mask_mass(change, lesion, dilation=1).nanmean()),
            "marker_area": float((dilate(marker, 1) > 0).float().mean()),
            "lesion_area": float((dilate(lesion, 1) > 0).float().mean())}
