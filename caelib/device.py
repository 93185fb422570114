"""Where tensors live: ``device="auto"`` picks a GPU when one is present, else the CPU; and, for training on
the CPU, an allocator that keeps freed memory for the next step (``keep_freed_memory``)."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return a ``torch.device``; ``"auto"`` (or ``None``) means CUDA if available, else CPU."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_kept: bool | None = None


def keep_freed_memory() -> bool:
    """Have the C allocator keep the memory a training step frees for the next step (Linux with glibc).

    By default glibc hands large freed blocks back to the operating system (it unmaps them, or trims the top of
    its heap), so every training step on the CPU maps its activations afresh and pays a page fault for each
    4 kB page it touches. Here blocks up to 32 MB come from the heap, which is trimmed only when 128 MB lie free
    at its top, and the faults per step all but vanish (the counts: ``benchmarks/results/measured_choices.md``).
    The same idea as PyTorch's advice to train on the CPU with a caching allocator (jemalloc, tcmalloc), with the
    allocator every Linux Python already has.

    Process-wide and idempotent; ``caelib.train.train_cae`` calls it. Returns whether it applied (False on
    macOS, Windows or another C library, where nothing changes).
    """
    global _kept
    if _kept is None:
        _kept = False
        import ctypes
        import platform

        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                libc = ctypes.CDLL("libc.so.6")
                _kept = bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(
                    libc.mallopt(_M_TRIM_THRESHOLD, 128 << 20))
            except (OSError, AttributeError):
                pass  # no usable libc: stays False
    return _kept
