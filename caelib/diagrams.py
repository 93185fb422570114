"""The idea of each notebook in one small picture: ``caelib.diagrams.idea(stage)``.

Every notebook opens with a schematic figure of what it is about (image -> class code + individual code ->
decoder; a swap; a path; the class-code map ...). The figures use real images and the shipped models
(``caelib.pretrained``) wherever that is cheap, so what the diagram shows is what the models do; each
draws in about a second on a laptop CPU. Text is at least 8 pt at the figure's own size.

    from caelib import diagrams
    diagrams.idea("swap")           # notebook 03
    plt.show()

Stages (``STAGES``) and what each shows:

- ``"data"`` (01): test images of the lesions data (normal and lesion, the lesion's evidence mask in red)
  going into the black box (a small CNN), and its probability of "lesion" for each.
- ``"encoding"`` (02): an image split by the two encoders into the **class code** (a few numbers, drawn as
  a strip) and the spatial **individual code** (four of its channels), and the decoder (AdaIN) that
  rebuilds the image from both.
- ``"swap"`` (03): image A gives its individual code, image B (another class) its class code; the decoder
  makes A's look with B's class, and the black box's decision on the swap.
- ``"manifold"`` (04): the class codes of real test images in the PCA plane, over the black box's decision
  on images decoded from the plane with one image's individual code, and three decoded points.
- ``"path"`` (05): a counterfactual path: the class code walks from the image's own towards a reference of
  the other class; frames along the path, the first frame the black box gives the target (the flip,
  outlined in green) and the target's probability along the way.
- ``"saliency"`` (06): the image, its counterfactual at the flip and the CAE saliency map |x_cf - x|, with
  the true evidence mask in cyan.
- ``"baselines"`` (07): attribution needs a baseline: the zero, blurred and counterfactual (the image's own
  individual code with a normal class code) baselines of one lesion image and Integrated Gradients' map
  from each.
- ``"multiple"`` (08): an image of the two-lesion data; each lesion alone (the rest of the image replaced by
  its mean) and the black box's decision on each: one decision, several sufficient explanations.
- ``"misclass"`` (09): a digit the black box gets wrong (mnist) and three counterfactuals towards its true
  class from three references, each with what it changes.
- ``"own-data"`` (10): the pipeline for your own images and model: image folders -> ``as_black_box`` ->
  ``train_cae`` -> swaps, paths and saliency.

Arguments of :func:`idea`: ``dataset`` (the shipped dataset whose images and models to use; default
``"lesions"``, ``"mnist"`` for ``"misclass"``; ``"multiple"`` always uses ``lesions-two``; ``"own-data"``
draws no model), ``index`` (which test image to show, counted among the images that suit the stage, default
0) and ``seed``. Returns the matplotlib figure.

The stages are drawn in ``diagrams_models`` (01 to 04) and ``diagrams_explanations`` (05 to 10), with the
drawing kit of ``diagrams_sketch``.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from .diagrams_explanations import _baselines, _misclass, _multiple, _own_data, _path, _saliency
from .diagrams_models import _data, _encoding, _manifold, _swap
from .diagrams_sketch import BLUE as BLUE
from .diagrams_sketch import FONT as FONT
from .diagrams_sketch import GREEN as GREEN
from .diagrams_sketch import ORANGE as ORANGE
from .diagrams_sketch import RED as RED

__all__ = ["STAGES", "idea"]

STAGES = ("data", "encoding", "swap", "manifold", "path", "saliency", "baselines", "multiple", "misclass",
          "own-data")


_DRAW = {"data": _data, "encoding": _encoding, "swap": _swap, "manifold": _manifold, "path": _path,
         "saliency": _saliency, "baselines": _baselines, "multiple": _multiple, "misclass": _misclass,
         "own-data": _own_data}


def idea(stage: str, *, dataset: str | None = None, index: int = 0, seed: int = 0):
    """The schematic figure of ``stage`` (one of ``STAGES``; the module docstring says what each shows).

    ``dataset``: the shipped dataset whose test images and models the figure uses (default ``"lesions"``;
    ``"mnist"`` for ``"misclass"``); ``index``: which suitable test image to show (0 = the first);
    ``seed``: for stages that sample. Returns the matplotlib figure (about a second to draw on a CPU)."""
    if stage not in _DRAW:
        raise ValueError(f"no diagram for stage {stage!r}; stages: {', '.join(STAGES)}")
    if dataset is None:
        dataset = "mnist" if stage == "misclass" else "lesions"
    with torch.random.fork_rng(devices=[]):   # the notebook's own seed stays as it set it
        torch.manual_seed(seed)
        with torch.no_grad() if stage != "baselines" else nullcontext():
            return _DRAW[stage](dataset, index, seed)
