"""An adapter to the reference tool rex-xai (Chockler et al.'s MultiReX), for comparing caelib's own
implementation (``caelib.responsibility``) with it side by side: notebook 08 and ``benchmarks/multirex.py``.

rex-xai is optional and development-only; ``rex_available`` says whether it can be imported and
``rex_explain_multiple`` raises ImportError with ``REX_MISSING``'s install line when it cannot. Everything the
adapter needs, caelib's result type included, is imported on use. Importable from ``caelib.responsibility`` too.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from .conventions import DEFAULT_REPLACEMENT, Classifier, evaluating
from .conventions import replacement as _replacement
from .data import check_images

if TYPE_CHECKING:
    from .responsibility import MultiExplanation

__all__ = ["REX_MISSING", "rex_available", "rex_explain_multiple"]

REX_MISSING = ("rex-xai is not installed. It is an optional, development-only reference (it pins numpy==1.26.4); "
               "install it next to numpy 2 with `pip install --no-deps rex-xai==0.4.1 anytree onnxruntime "
               "flatbuffers protobuf sqlalchemy tabulate toml` (README.md's set-up notes, environment.yml), or skip "
               "the comparison.")


def rex_available() -> bool:
    """Whether the reference tool ``rex-xai`` can be imported."""
    try:
        import rex_xai.explanation.multi_explanation  # noqa: F401
    except ImportError:
        return False
    return True


def rex_explain_multiple(classifier: Classifier, x: torch.Tensor, *, replacement=DEFAULT_REPLACEMENT, seed: int = 0,
                         iters: int = 20, min_box_size: int = 2, spotlights: int = 10, spotlight_size: int = 6,
                         spotlight_step: int = 2, max_dice: float = 0.1, batch_size: int = 64,
                         progress: bool = True, **rex_args) -> list[MultiExplanation]:
    """The same task run by the reference tool rex-xai 0.4.1 (Chockler et al.'s MultiSpotlight strategy), through
    its Python API, for a side-by-side comparison (``benchmarks/multirex.py``, notebook 08).

    rex-xai fills hidden pixels with a constant; here it fills them with NaN (its ``mask_value="none"``) and the
    prediction function swaps every NaN for ``replacement``, so both tools see the same mutants. Its distinct
    explanations are its own selection (``separate_by(max_dice)``, first clause, as its command line does).
    ``rex_args``: further fields of rex-xai's ``CausalArgs`` (e.g. ``responsibility_style="additive"``).
    Raises ImportError with the install line when rex-xai is absent. One image at a time (rex-xai's design)."""
    try:
        from rex_xai.explanation.multi_explanation import MultiExplanation as RexMulti
        from rex_xai.explanation.rex import calculate_responsibility, predict_target
        from rex_xai.input.config import CausalArgs
        from rex_xai.input.input_data import Data
        from rex_xai.responsibility.prediction import from_pytorch_tensor
        from rex_xai.utils._utils import Strategy
    except ImportError as err:
        raise ImportError(REX_MISSING) from err
    import contextlib
    import io
    import logging
    import random

    from .responsibility import MultiExplanation  # on use: responsibility re-exports this module's names

    check_images(x)
    logging.getLogger("ReX").setLevel(logging.ERROR)
    bases = _replacement(replacement, x)
    out = []
    for i in tqdm(range(len(x)), desc="rex-xai", disable=not progress, leave=False):
        calls = [0]
        xi, base = x[i:i + 1], bases[i:i + 1]

        @torch.no_grad()
        def predict(mutants, target=None, raw=False, base=base):
            m = mutants.reshape(-1, *xi.shape[1:])
            m = torch.where(torch.isnan(m), base, m)
            calls[0] += len(m)
            with evaluating(classifier):
                logits = classifier(m)
            return torch.softmax(logits, 1) if raw else from_pytorch_tensor(logits, target=target)

        args = CausalArgs()
        args.gpu, args.seed, args.progress_bar, args.strategy = False, seed + i, False, Strategy.MultiSpotlight
        args.mask_value, args.iters, args.min_box_size, args.chunk_size = "none", iters, min_box_size, min_box_size
        args.spotlights, args.spotlight_size, args.spotlight_step = spotlights, spotlight_size, spotlight_step
        args.batch_size, args.permitted_overlap = batch_size, max_dice
        for key, value in rex_args.items():
            if not hasattr(args, key):
                raise ValueError(f"rex-xai's CausalArgs has no field {key!r}")
            setattr(args, key, value)
        random.seed(seed + i)
        np.random.seed(seed + i)
        torch.manual_seed(seed + i)
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):      # rex-xai's own progress bars
            data = Data(xi[0], [1, *xi.shape[1:]], "cpu", mode="RGB")
            data.data = xi.clone()
            data.set_mask_value(args.mask_value)
            data.target = predict_target(data, args, predict)
            maps, stats = calculate_responsibility(data, args, predict)
            exp = RexMulti(maps, predict, data, args, stats)
            error = None
            try:
                exp.extract()
            except TypeError as err:   # rex-xai 0.4.1: a spotlight that grows over the whole image returns None
                error = repr(err)
            clauses = exp.separate_by(args.permitted_overlap)
        seconds = time.perf_counter() - t0
        cands = torch.stack([e.reshape(xi.shape[-2:]).bool().cpu() for e in exp.explanations]) \
            if exp.explanations else torch.zeros(0, *xi.shape[-2:], dtype=torch.bool)
        chosen = list(clauses[0]) if clauses else []
        resp = torch.as_tensor(np.asarray(maps.get(data.target.classification))).reshape(xi.shape[-2:]).float()
        out.append(MultiExplanation(resp, cands[chosen], cands, int(data.target.classification), calls[0], seconds,
                                    {"error": error}))
    return out
