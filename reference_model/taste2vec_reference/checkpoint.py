"""Checkpoints: safetensors for tensors, JSON for everything else. Nothing is ever unpickled.

A checkpoint folder holds ``model.safetensors`` (trainable weights and the scaler buffers), optionally
``text_encoder.safetensors`` (the MiniLM layers fine-tuned on real text; the untouched ones come from their
package and are not duplicated), ``config.json`` (architecture, record spec and lexicon versions and hashes,
scaler, text-encoder tuning, training summary), and, for resuming, ``train_state.safetensors`` +
``train_state.json`` (optimizer moments, step, RNG states).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from taste2vec.spec import default_spec

from .errors import ToolkitError
from .model import TEXT_ENCODER_FILE, Taste2Vec, Taste2VecConfig, TextFeaturizer

FORMAT = "taste2vec.reference.checkpoint/1"


class CheckpointError(ToolkitError):
    """A checkpoint is missing, corrupt, or does not fit this code."""


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_checkpoint(folder: str | Path, model: Taste2Vec, extra: dict[str, Any] | None = None,
                    optimizer: torch.optim.Optimizer | None = None, train_state: dict[str, Any] | None = None) -> Path:
    """Write model (and optionally optimizer/training state) to ``folder`` atomically per file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = folder / "model.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": FORMAT})
    os.replace(tmp, folder / "model.safetensors")
    cfg = {
        "format": FORMAT,
        "model": model.cfg.to_dict(),
        "scaler": {"metric_names": list(default_spec().metric_names), "mean": model.numeric.mean.tolist(),
                   "std": model.numeric.std.tolist(), "log1p": model.numeric.log_mask.tolist()},
        "model_sha256": sha256_file(folder / "model.safetensors"),
        **(extra or {}),
    }
    _atomic_write(folder / "config.json", json.dumps(cfg, indent=2, ensure_ascii=False).encode())
    if optimizer is not None:
        save_train_state(folder, optimizer, train_state)
    return folder


def save_train_state(folder: str | Path, optimizer: torch.optim.Optimizer, train_state: dict[str, Any] | None) -> None:
    """Optimizer moments (safetensors) and step / RNG state (JSON), for exact resume."""
    folder = Path(folder)
    opt = optimizer.state_dict()
    flat = {}
    for pid, st in opt["state"].items():
        for name, val in st.items():
            t = val if torch.is_tensor(val) else torch.tensor(val)
            flat[f"{pid}.{name}"] = t.detach().cpu().contiguous()
    tmp = folder / "train_state.safetensors.tmp"
    save_file(flat, str(tmp))
    os.replace(tmp, folder / "train_state.safetensors")
    meta = {"param_groups": opt["param_groups"], **(train_state or {})}
    _atomic_write(folder / "train_state.json", json.dumps(meta).encode())


def load_checkpoint(folder: str | Path) -> tuple[Taste2Vec, dict[str, Any]]:
    """Load a model (eval mode) and its config; refuse a corrupt or incompatible checkpoint."""
    folder = Path(folder)
    cfg_path, w_path = folder / "config.json", folder / "model.safetensors"
    if not cfg_path.exists() or not w_path.exists():
        raise CheckpointError(f"{folder} is not a checkpoint (needs config.json and model.safetensors)")
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("format") != FORMAT:
        raise CheckpointError(f"{folder}: unknown checkpoint format {cfg.get('format')!r}, expected {FORMAT}")
    if sha256_file(w_path) != cfg.get("model_sha256"):
        raise CheckpointError(f"{w_path}: sha256 does not match config.json (corrupt or replaced file)")
    mcfg = Taste2VecConfig.from_dict(cfg["model"])
    spec = default_spec()
    if mcfg.record_spec_version.split(".")[0] != spec.version.split(".")[0]:
        raise CheckpointError(f"{folder}: trained for record spec {mcfg.record_spec_version}, this code has "
                              f"{spec.version}")
    model = Taste2Vec(mcfg)
    state = load_file(str(w_path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{folder}: weights do not fit the architecture (missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]})")
    return model.eval(), cfg


def load_train_state(folder: str | Path, optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
    """Restore optimizer moments into ``optimizer``; return the saved training state, or None."""
    folder = Path(folder)
    if not (folder / "train_state.safetensors").exists():
        return None
    meta = json.loads((folder / "train_state.json").read_text())
    flat = load_file(str(folder / "train_state.safetensors"))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, val in flat.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = val
    optimizer.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    return meta


def save_text_encoder(folder: str | Path, featurizer: TextFeaturizer) -> dict[str, Any]:
    """Write a tuned featurizer's tensors into a checkpoint folder; the entry for its ``config.json``."""
    from .text_tuning import save_tuned

    summary = save_tuned(Path(folder), featurizer, dict(featurizer.tuning))
    return {"file": TEXT_ENCODER_FILE, "sha256": summary["sha256"], "tensors": len(featurizer.tuned_names),
            "tuning": {k: v for k, v in summary.items() if k in ("config", "history", "seconds", "train_reviews")}}


def featurizer_for(folder: str | Path) -> TextFeaturizer:
    """The text encoder a checkpoint was trained with: the packaged MiniLM plus its tuned layers, if any."""
    folder = Path(folder)
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{folder} is not a checkpoint: {e}") from e
    entry = cfg.get("text_encoder")
    if not entry:
        return TextFeaturizer()
    path = folder / TEXT_ENCODER_FILE
    if not path.exists() or sha256_file(path) != entry.get("sha256"):
        raise CheckpointError(f"{path}: missing, or its sha256 does not match config.json")
    try:
        featurizer = TextFeaturizer(weights=path)
    except ValueError as e:
        raise CheckpointError(str(e)) from e
    featurizer.tuning = entry.get("tuning", {})
    return featurizer
