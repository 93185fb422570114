"""Training beyond one device with PyTorch's own engine: ``torchrun`` + DistributedDataParallel (DDP).

Launch the same command once per device; ``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``::

    torchrun --nproc_per_node 4 -m caelib train-cae --folder my_images --steps 20000 --out my-cae.pt

``python -m caelib train-cae`` calls :func:`setup`, which joins the process group (NCCL on GPUs, gloo on
CPUs); ``caelib.train.train_cae`` then notices the group and wraps its two networks in
``DistributedDataParallel``: every process draws its own pairs, the gradients are averaged across
processes, and only rank 0 writes checkpoints and shows progress. With one process nothing changes.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .device import resolve_device


def is_distributed() -> bool:
    """True inside an initialised process group (e.g. under ``torchrun`` after :func:`setup`)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on rank 0, the process that writes files and prints."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    """True when the environment asks for more than one process (``WORLD_SIZE`` > 1, set by ``torchrun``)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(backend: str | None = None) -> bool:
    """Join the process group ``torchrun`` describes in the environment; returns True if one was joined.

    ``backend``: "nccl" (GPUs), "gloo" (CPUs) or None (NCCL when CUDA is available, else gloo). Does nothing
    (returns False) for a single process or when the group already exists."""
    if is_distributed() or not launched_by_torchrun():
        return False
    use_cuda = torch.cuda.is_available() and backend != "gloo"
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend or ("nccl" if use_cuda else "gloo"))
    return True


def cleanup() -> None:
    """Leave the process group (if any)."""
    if is_distributed():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process (no-op for one process)."""
    if is_distributed():
        dist.barrier()


def device(requested: str | torch.device | None = "auto") -> torch.device:
    """The device this process trains on: with ``"auto"`` in a process group on GPUs, the GPU of its
    ``LOCAL_RANK``; otherwise ``resolve_device(requested)``."""
    dev = resolve_device(requested)
    if is_distributed() and dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return dev


def wrap(module: nn.Module, dev: torch.device) -> nn.Module:
    """``DistributedDataParallel(module)`` inside a process group, else ``module`` itself."""
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[dev.index] if dev.type == "cuda" else None)


def gather(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` for one process."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


@torch.no_grad()
def parameters_agree(module: nn.Module) -> bool:
    """True when ``module``'s parameters are identical on every rank (a sanity check after DDP training)."""
    if not is_distributed():
        return True
    flat = torch.cat([p.detach().flatten().double().cpu() for p in module.parameters()])
    ranks = gather(flat)
    return all(torch.equal(ranks[0], other) for other in ranks[1:])
