"""Checkpoints: dictionaries of state dicts keyed by role, with their config and a format version.

A checkpoint file holds ``{"format": "caelib", "version", "kind", "config", "state", "meta"}`` where
``state`` maps a role (``"classifier"``, ``"cae"``, ``"discriminator"``) to a ``state_dict``.
Files are written atomically (a crash never leaves half a file) and read with
``torch.load(weights_only=True)``, so loading never runs code from the file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

FORMAT_VERSION = 1
_MAGIC = "caelib"
_TRAIN_COMMANDS = {"classifier": "`python -m caelib train-classifier`", "cae": "`python -m caelib train-cae`"}
_RETRAIN_HINT = ("pass a checkpoint written by caelib, or re-train it with `python -m caelib train-classifier` "
                 "(a black box) or `python -m caelib train-cae` (a CAE)")
_TMP_SUFFIX = ".tmp"


def _retrain_hint(kind: str | None) -> str:
    """What to do about an unusable checkpoint, naming the command (one that exists) that writes its kind."""
    if kind in _TRAIN_COMMANDS:
        return f"pass a '{kind}' checkpoint written by caelib, or re-train it with {_TRAIN_COMMANDS[kind]}"
    return _RETRAIN_HINT


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

    Missing keys take the value ``cls.BEFORE_FIELD`` gives them (what a config meant before the field existed),
    else the dataclass defaults, so older checkpoints keep loading when a field is added.
    """
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - names)
    if unknown:
        raise CheckpointError(
            f"the checkpoint's config has fields {unknown} that {cls.__name__} does not know; "
            f"it was written by a different caelib version ({cls.__name__} fields: {sorted(names)})"
        )
    return cls(**{**getattr(cls, "BEFORE_FIELD", {}), **d})


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
    prefix = f"{_tmp_prefix(path)}p{os.getpid()}@{_host()}."   # names its writer: see stale_temp_files
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=_TMP_SUFFIX, dir=path.parent)
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
    clean_stale_temp_files(path, warn=False)
    return path


# A save writes ``.<name>.p<pid>@<host>.<random>.tmp`` beside ``<name>`` and renames it; a process killed during
# the save leaves that file behind. The writer's pid and host in the name tell a later run whether it is stale.
def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: the process exists (another user's)
        return True
    return True


def stale_temp_files(path: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """Temporary files that saves of ``path`` left behind: ``(stale, unknown)``. ``stale``: written on this machine
    by a process that no longer runs (a run killed during a save); ``unknown``: written by another machine, or
    by a caelib that did not record its writer in the name, so nobody can tell whether a run still writes them."""
    path = Path(path)
    prefix = _tmp_prefix(path)
    stale, unknown = [], []
    if not path.parent.is_dir():
        return stale, unknown
    host = _host()
    for f in sorted(path.parent.iterdir()):
        if not (f.name.startswith(prefix) and f.name.endswith(_TMP_SUFFIX)) or not f.is_file():
            continue
        m = re.fullmatch(r"p(\d+)@([A-Za-z0-9-]*)\.[^.]+", f.name[len(prefix):-len(_TMP_SUFFIX)])
        if m and m.group(2) == host:
            if not _alive(int(m.group(1))):
                stale.append(f)
        else:
            unknown.append(f)
    return stale, unknown


def clean_stale_temp_files(path: str | os.PathLike, *, warn: bool = True) -> list[Path]:
    """Delete the temporary files of dead saves of ``path`` (see :func:`stale_temp_files`) and return them.
    With ``warn``, a warning lists what was deleted and the temporary files whose writer is unknown (left in
    place: delete them yourself when no run writes ``path``)."""
    stale, unknown = stale_temp_files(path)
    removed = []
    for f in stale:
        try:
            f.unlink()
            removed.append(f)
        except FileNotFoundError:
            pass
    if warn and removed:
        warnings.warn(f"deleted {len(removed)} temporary file(s) left by a run killed while it saved {path}: "
                      + ", ".join(f.name for f in removed), stacklevel=2)
    if warn and unknown:
        warnings.warn(f"{len(unknown)} temporary file(s) beside {path} may be left by a run killed while it saved: "
                      + ", ".join(f.name for f in unknown) + "; delete them if no other run writes this checkpoint",
                      stacklevel=2)
    return removed


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
    hint = _retrain_hint(kind)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file; {hint}")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; {hint}")
    if not zipfile.is_zipfile(path):  # torch.save (and so caelib) writes zip archives
        with open(path, "rb") as f:
            head = f.read(512)
        if head.startswith(b"PK"):
            why = "a zip archive that ends too early: the file is truncated or was not copied completely"
        elif not head:
            why = "the file is empty"
        elif _looks_like_text(head):
            why = "it holds text, not weights written by torch.save"
        else:
            why = "its bytes are not a file written by torch.save (random data, or another format)"
        raise CheckpointError(f"{path} is not a caelib checkpoint or is damaged ({why}); {hint}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle refused by weights_only, damaged zip members ...
        first = (str(e).strip().splitlines() or [""])[0][:160]
        why = (
            "it holds Python objects that safe loading (weights_only=True) refuses"
            if "weights only" in str(e).lower() and "unsupported" in str(e).lower()
            else f"damaged: {type(e).__name__}: {first}"
        )
        raise CheckpointError(f"{path} is not a caelib checkpoint or is damaged ({why}); {hint}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != _MAGIC:
        raise CheckpointError(f"{path} is not a caelib checkpoint (a PyTorch file without caelib's header); {hint}")
    if ckpt.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {ckpt.get('version')}; this caelib "
            f"reads version {FORMAT_VERSION}; {hint}"
        )
    if not isinstance(ckpt.get("state"), dict) or not isinstance(ckpt.get("meta", {}), dict):
        raise CheckpointError(f"{path} is damaged (its 'state' or 'meta' is not a dictionary); {hint}")
    if kind is not None and ckpt.get("kind") != kind:
        raise CheckpointError(f"{path} holds a '{ckpt.get('kind')}' checkpoint; expected '{kind}'")
    if expect_config is not None:
        check_config(ckpt, expect_config, path)
    return {k: ckpt.get(k) for k in ("kind", "config", "state", "meta", "version")}


def check_config(ckpt: dict[str, Any], expect_config: Any, path: str | os.PathLike) -> None:
    """Raise ``CheckpointError`` unless the config stored in the loaded checkpoint ``ckpt`` equals ``expect_config``
    (a dict or a config dataclass, whose fields the stored config lacks count as their defaults)."""
    stored = ckpt.get("config", {})
    if dataclasses.is_dataclass(expect_config):
        stored = config_to_dict(config_from_dict(type(expect_config), stored))
        expect_config = config_to_dict(expect_config)
    diff = [k for k in expect_config if stored.get(k) != expect_config[k]]
    if diff:
        have = ", ".join(f"{k}={stored.get(k)!r}" for k in diff)
        want = ", ".join(f"{k}={expect_config[k]!r}" for k in diff)
        raise CheckpointError(f"{path}: checkpoint was trained with {have}; this model has {want}")


def _looks_like_text(head: bytes) -> bool:
    """Do the first bytes of a file read as UTF-8 text (a multi-byte character may be cut at the end)?"""
    for cut in range(4):
        try:
            text = head[:len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return bool(text) and all(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return False


def state_of(ckpt: dict[str, Any], role: str, path: str | os.PathLike) -> dict[str, Any]:
    """``ckpt["state"][role]`` of a loaded checkpoint, or a ``CheckpointError`` saying that the file is damaged
    (the role is missing) instead of a ``KeyError``."""
    state = ckpt.get("state") or {}
    if not isinstance(state.get(role), dict):
        have = ", ".join(repr(k) for k in state) or "none"
        raise CheckpointError(f"{path} is damaged or incomplete: it holds no '{role}' state (roles: {have}); "
                              f"{_retrain_hint(ckpt.get('kind'))}")
    return state[role]


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
