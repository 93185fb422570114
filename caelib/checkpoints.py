"""Checkpoints: dictionaries of state dicts keyed by role, with their config and a format version.

A checkpoint file holds ``{"format": "caelib", "version", "kind", "config", "state", "meta"}`` where
``state`` maps a role (``"classifier"``, ``"cae"``, ``"discriminator"``) to a ``state_dict``.
Files are written atomically (a crash never leaves half a file) and read with
``torch.load(weights_only=True)``, so loading never runs code from the file.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

FORMAT_VERSION = 1
_MAGIC = "caelib"
_RETRAIN_HINT = "re-download it or re-train it with `python scripts/train_classifiers.py` / `python -m caelib train`"

T = TypeVar("T")


class CheckpointError(ValueError):
    """A checkpoint file cannot be used: damaged, wrong version, wrong kind or wrong config."""


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Turn a (frozen) config dataclass into a dict of plain Python values."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")
    return dataclasses.asdict(cfg)


def config_from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """Build the config dataclass ``cls`` from ``d``; unknown keys raise ``CheckpointError``.

    Missing keys take the dataclass defaults, so older checkpoints keep loading when a field is added.
    """
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - names)
    if unknown:
        raise CheckpointError(
            f"the checkpoint's config has fields {unknown} that {cls.__name__} does not know; "
            f"it was written by a different caelib version ({cls.__name__} fields: {sorted(names)})"
        )
    return cls(**d)


def _plain(obj: Any, where: str) -> Any:
    """Config / meta values as plain Python (numpy scalars and arrays converted); others refused."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    for base in (bool, int, float, str):  # subclasses such as numpy.float64 -> the plain type
        if isinstance(obj, base):
            return base(obj)
    if isinstance(obj, dict):
        return {str(k): _plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v, where) for v in obj) if type(obj) in (list, tuple) else list(obj)
    if hasattr(obj, "tolist"):  # numpy scalars / arrays, small tensors
        return _plain(obj.tolist(), where)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(
        f"{where} holds a {type(obj).__name__}; checkpoints store plain values only (numbers, strings, lists, dicts)"
    )


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def save_checkpoint(
    path: str | os.PathLike,
    *,
    kind: str,
    config: dict[str, Any],
    state: dict[str, dict[str, torch.Tensor]],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file in the same folder, fsync, rename); tensors go to CPU.

    ``config`` and ``meta`` must hold plain Python values (numbers, strings, lists, dicts), since
    they are read back with ``weights_only=True``. Returns the path written.
    """
    path = Path(path)
    if not isinstance(state, dict) or not all(isinstance(v, dict) for v in state.values()):
        raise TypeError("state must be a dict role -> state_dict, e.g. {'classifier': model.state_dict()}")
    payload = {
        "format": _MAGIC,
        "version": FORMAT_VERSION,
        "kind": str(kind),
        "config": _plain(dict(config), "config"),
        "meta": _plain(dict(meta or {}), "meta"),
        "state": {role: _to_cpu(dict(sd)) for role, sd in state.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(
    path: str | os.PathLike,
    *,
    kind: str | None = None,
    expect_config: Any = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Read a checkpoint -> ``{"kind", "config", "state", "meta", "version"}`` (safe: ``weights_only=True``).

    ``kind`` checks the checkpoint's kind; ``expect_config`` (a config dataclass, or a dict of fields) checks
    that every field it names matches the stored config, and lists the differing fields otherwise. Given a
    dataclass, fields the stored config lacks (written before the field existed) count as its defaults.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; {_RETRAIN_HINT}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle refused by weights_only, truncated zip, not a torch file ...
        why = (
            "it holds Python objects that safe loading (weights_only=True) refuses"
            if "weights only" in str(e).lower()
            else f"{type(e).__name__}"
        )
        raise CheckpointError(f"{path} is not a caelib checkpoint or is damaged ({why}); {_RETRAIN_HINT}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != _MAGIC:
        raise CheckpointError(f"{path} is not a caelib checkpoint (no caelib header); {_RETRAIN_HINT}")
    if ckpt.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {ckpt.get('version')}; this caelib "
            f"reads version {FORMAT_VERSION}; {_RETRAIN_HINT}"
        )
    if kind is not None and ckpt.get("kind") != kind:
        raise CheckpointError(f"{path} holds a '{ckpt.get('kind')}' checkpoint; expected '{kind}'")
    if expect_config is not None:
        stored = ckpt.get("config", {})
        if dataclasses.is_dataclass(expect_config):
            stored = config_to_dict(config_from_dict(type(expect_config), stored))
            expect_config = config_to_dict(expect_config)
        diff = [k for k in expect_config if stored.get(k) != expect_config[k]]
        if diff:
            have = ", ".join(f"{k}={stored.get(k)!r}" for k in diff)
            want = ", ".join(f"{k}={expect_config[k]!r}" for k in diff)
            raise CheckpointError(f"{path}: checkpoint was trained with {have}; this model has {want}")
    return {k: ckpt.get(k) for k in ("kind", "config", "state", "meta", "version")}


def load_state(module: nn.Module, state_dict: dict[str, torch.Tensor], role: str) -> nn.Module:
    """``module.load_state_dict(state_dict)`` with a ``CheckpointError`` that names the role on mismatch."""
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()][:5]
        raise CheckpointError(
            f"the saved '{role}' weights do not fit this {type(module).__name__}: "
            + " ".join(lines)
            + f"; build the {type(module).__name__} with the config stored in the checkpoint "
            "(load_checkpoint(path)['config'])"
        ) from e
    return module
