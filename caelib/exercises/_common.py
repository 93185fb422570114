"""Small helpers shared by the exercise checks (``nb*.py``): comparisons that raise :class:`WrongAnswer`
with a hint, and cached demo models/data for the demonstrations (the tests call them many times)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from . import WrongAnswer


def numbers(answer: Any, what: str) -> np.ndarray:
    """``answer`` (a number, a list of numbers or tensors, a tensor, an array) as a float64 array."""
    try:
        if isinstance(answer, torch.Tensor):
            return answer.detach().cpu().double().numpy()
        if isinstance(answer, (list, tuple)):
            return np.asarray([float(a) for a in answer], dtype=np.float64)
        return np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise WrongAnswer(f"{what} should be numbers, got {type(answer).__name__} ({err})") from None


def pair(answer: Any, names: str) -> tuple[Any, Any]:
    """Unpack an answer that is two values ``(a, b)``."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise WrongAnswer(f"pass the two values ({names}) as a pair")
    return answer[0], answer[1]


def close(answer: Any, truth: Any, what: str, *, atol: float = 1e-4, rtol: float = 1e-3, hint: str = "") -> None:
    """Raise :class:`WrongAnswer` unless ``answer`` has the shape of ``truth`` and is close to it."""
    got, want = numbers(answer, what), numbers(truth, what)
    if got.shape != want.shape:
        raise WrongAnswer(f"{what} should have shape {want.shape} (one value per "
                          f"{'item' if want.ndim else 'answer'}), got {got.shape}")
    if not np.all(np.isfinite(got)):
        raise WrongAnswer(f"{what} contains NaN or infinite values")
    if not np.allclose(got, want, atol=atol, rtol=rtol):
        raise WrongAnswer(f"{what} is not what the data give{': ' + hint if hint else ''}")


def close_pair(answer: Any, truths: tuple[Any, Any], names: tuple[str, str], *, atol: float,
               hints: tuple[str, str]) -> None:
    """An answer of two numbers ``(a, b)``, each close to its truth (``close``), with a hint for each."""
    got = pair(answer, ", ".join(names))
    for value, truth, name, hint in zip(got, truths, names, hints):
        close(value, truth, name, atol=atol, hint=hint)


def same_ints(answer: Any, truth: torch.Tensor, what: str, *, agree: float = 1.0, hint: str = "") -> None:
    """Raise unless the integer tensor ``answer`` has ``truth``'s shape and agrees on at least ``agree`` of it."""
    if not isinstance(answer, torch.Tensor):
        try:
            answer = torch.as_tensor(answer)
        except (TypeError, ValueError, RuntimeError):
            raise WrongAnswer(f"{what} should be a tensor of class indices or steps") from None
    if tuple(answer.shape) != tuple(truth.shape):
        raise WrongAnswer(f"{what} should have shape {tuple(truth.shape)}, got {tuple(answer.shape)}")
    share = float((answer.long().cpu() == truth.long().cpu()).float().mean()) if truth.numel() else 1.0
    if share < agree:
        raise WrongAnswer(f"{what} is wrong for {1 - share:.0%} of the items"
                          f"{': ' + hint if hint else ''}")


def demo(truth, context, wrong=None):
    """A demonstration for ``exercise(demo_right=..., demo_wrong=...)``: a function that builds the context once
    (``context()``, a dict) and returns ``(truth(**context), context)``, the answer passed through ``wrong``
    first when given (e.g. ``swapped``, for a demonstration of a wrong answer)."""
    def make():
        ctx = context()
        answer = truth(**ctx)
        return (answer if wrong is None else wrong(answer)), ctx
    return make


def swapped(answer):
    """A wrong answer for a pair: its two values in the wrong order."""
    a, b = answer
    return b, a


@functools.lru_cache(maxsize=None)
def models(name: str = "lesions"):
    """The shipped models of ``name`` (loaded once)."""
    from ..pretrained import pretrained

    m = pretrained(name)
    m.cae.eval(), m.classifier.eval()
    return m


@functools.lru_cache(maxsize=None)
def data(name: str = "lesions", split: str = "test", n: int = 60):
    """A small class-balanced subset of a built-in dataset (loaded once)."""
    from ..data import load_dataset

    return load_dataset(name, split=split, n=n)
