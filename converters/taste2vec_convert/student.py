"""The on-device student Taste2Vec in one file.

    token ids (int32, one length bucket) ─► Embedding 32 ─► Linear 64 (+ position) ─► N x pre-LN
        transformer block (4 heads, masked) ─► LayerNorm ─► masked mean ─► Linear ─► text 64 ─┐
    lexicon vector (L) ─► MLP ─► sensory 64 ───────────────────────────────────────────────────┤
    metrics (20 raw + 20 mask) ─► log1p / scaler (buffers, in the graph) ─► MLP ─► numeric 64 ──├─► fusion ─► 128 ─► L2
    context (8 x C, left-padded) ─► 2-layer LSTM (hidden 32, masked, unrolled) ────────────────┘

The record spec, the non-text branches and the output (128-d, L2-normalized) are the teacher's; the
non-text branches and the fusion start from the teacher's weights, the text path (the teacher's frozen
MiniLM, 22M parameters) is replaced by a small encoder over the bundle's own WordPiece vocabulary.

Phone-friendly by construction: static shapes per length bucket (one TFLite signature each, the runtime
picks the smallest that fits), a factorized embedding (vocab x 32, then 32 -> 64) to keep the file small,
padding handled by an additive mask *and* renormalization (so a record gives the same vector in every
bucket), and nothing a builtin TFLite op cannot express.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from taste2vec.preprocess import INPUT_NAMES
from taste2vec.runtime import CONTEXT_INPUTS
from taste2vec_reference.model import ContextEncoder, NumericEncoder, Taste2Vec, Taste2VecConfig, fuse

MODALITIES = Taste2Vec.MODALITIES
# the graph's input names are the SDK preprocessing's tensor names (one definition)
OUTPUT_NAME = "embedding"


@dataclass
class StudentConfig:
    """Architecture of the student (saved with it and in the bundle manifest)."""

    vocab_size: int = 8192
    buckets: tuple[int, ...] = (16, 32, 48)
    token_dim: int = 32
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 1  # one head: under emulated aarch64 the 48-token invoke drops ~20% (4 heads: 24 ms p50)
    ff_dim: int = 128
    text_dim: int = 64
    mask_bias: float = -10.0
    text_arch: str = "transformer"  # "transformer" | "bag" (lexical channel) | "hybrid" (both, summed)
    bag_dim: int = 64
    bigram_buckets: int = 0  # hashed bigram vectors in the bag (0 = unigrams only)
    bag_attention: bool = False  # the bag's weights also depend on each piece's vector (one linear score)
    # non-text branches: the teacher's shapes
    lexicon_dim: int = 116
    num_metrics: int = 20
    context_width: int = 33
    context_steps: int = 8
    sensory_dim: int = 64
    numeric_dim: int = 64
    context_hidden: int = 32
    context_layers: int = 2
    fusion_hidden: int = 256
    embed_dim: int = 128
    text_skip: bool = False  # the teacher's linear text -> 128 path beside the fusion MLP
    log1p_metrics: list[int] = field(default_factory=list)
    record_spec_version: str = "1.0.0"
    lexicon_version: str = "1.0.0"

    @property
    def max_tokens(self) -> int:
        return max(self.buckets)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["buckets"] = list(self.buckets)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StudentConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "buckets" in known:
            known["buckets"] = tuple(known["buckets"])
        return cls(**known)

    @classmethod
    def from_teacher(cls, t: Taste2VecConfig, **overrides: Any) -> "StudentConfig":
        """Same input/output shapes and provenance as the teacher; text path from ``overrides``."""
        return cls(lexicon_dim=t.lexicon_dim, num_metrics=t.num_metrics, context_width=t.context_width,
                   context_steps=t.context_steps, sensory_dim=t.sensory_dim, numeric_dim=t.numeric_dim,
                   context_hidden=t.context_hidden, context_layers=t.context_layers,
                   fusion_hidden=t.fusion_hidden, embed_dim=t.embed_dim, text_skip=t.text_skip,
                   log1p_metrics=list(t.log1p_metrics),
                   record_spec_version=t.record_spec_version, lexicon_version=t.lexicon_version, **overrides)

    def teacher_shaped(self) -> Taste2VecConfig:
        """A teacher config with this student's non-text shapes (to reuse the teacher's branch modules)."""
        return Taste2VecConfig(lexicon_dim=self.lexicon_dim, num_metrics=self.num_metrics,
                               context_width=self.context_width, context_steps=self.context_steps,
                               sensory_dim=self.sensory_dim, numeric_dim=self.numeric_dim,
                               context_hidden=self.context_hidden, context_layers=self.context_layers,
                               log1p_metrics=list(self.log1p_metrics))


class Block(nn.Module):
    """Pre-LN transformer block; padded keys get ``mask_bias`` and zero weight after renormalization."""

    def __init__(self, cfg: StudentConfig) -> None:
        super().__init__()
        self.n_heads, self.d_head = cfg.n_heads, cfg.d_model // cfg.n_heads
        self.mask_bias = cfg.mask_bias
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.ff_dim), nn.GELU(), nn.Linear(cfg.ff_dim, cfg.d_model))

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.reshape(b, t, self.n_heads, self.d_head).transpose(1, 2) for z in (q, k, v))
        m = key_mask[:, None, None, :]  # [B, 1, 1, T]
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.d_head)) + (1.0 - m) * self.mask_bias
        att = torch.softmax(att, dim=-1) * m
        att = att / (att.sum(-1, keepdim=True) + 1e-6)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.out(y)
        return x + self.mlp(self.ln2(x))


class TextEncoder(nn.Module):
    """Token ids [B, T] (0 = padding) -> text features [B, text_dim]."""

    def __init__(self, cfg: StudentConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.token_dim)
        self.up = nn.Linear(cfg.token_dim, cfg.d_model)
        self.pos = nn.Parameter(torch.randn(cfg.max_tokens, cfg.d_model) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln = nn.LayerNorm(cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.text_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        mask = (ids > 0).float()
        x = self.up(self.tok(ids)) + self.pos[:t]
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.ln(x)
        pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return self.proj(pooled)


BIGRAM_MULT = (1543, 7919)  # int32-safe bigram hash: (a * 1543 + b * 7919) mod bigram_buckets (ids < 2^13)


class BagEncoder(nn.Module):
    """Token ids [B, T] -> text features: a learned-weight mean of token (and hashed bigram) vectors, then an MLP.

    A lexical channel: a few GATHERs and one weighted sum, so its cost hardly grows with the token count. Each
    piece has a learned importance (exp of a scalar, like an IDF); bigram ids are hashed inside the graph from
    adjacent token ids, so preprocessing (and the Kotlin port) stays the same.
    """

    def __init__(self, cfg: "StudentConfig") -> None:
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.bag_dim)
        self.tok_w = nn.Embedding(cfg.vocab_size, 1)
        nn.init.zeros_(self.tok_w.weight)
        self.n_bigrams = cfg.bigram_buckets
        if self.n_bigrams:
            self.bi = nn.Embedding(cfg.bigram_buckets, cfg.bag_dim)
            self.bi_w = nn.Embedding(cfg.bigram_buckets, 1)
            nn.init.normal_(self.bi.weight, std=0.02)
            nn.init.constant_(self.bi_w.weight, -1.0)
        self.att = nn.Linear(cfg.bag_dim, 1, bias=False) if cfg.bag_attention else None
        if self.att is not None:
            nn.init.zeros_(self.att.weight)  # starts as the static weights
        self.mlp = nn.Sequential(nn.LayerNorm(cfg.bag_dim), nn.Linear(cfg.bag_dim, cfg.ff_dim), nn.GELU(),
                                 nn.Linear(cfg.ff_dim, cfg.text_dim))

    def _weight(self, logit: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """exp of each piece's score: its learned scalar, plus a linear score of its vector with attention."""
        if self.att is not None:
            logit = torch.clamp(logit + self.att(vectors).squeeze(-1), -20.0, 20.0)
        return torch.exp(logit)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids > 0).float()
        e = self.tok(ids)
        w = self._weight(self.tok_w(ids).squeeze(-1), e) * mask
        num = (e * w.unsqueeze(-1)).sum(1)
        den = w.sum(1, keepdim=True)
        if self.n_bigrams and ids.shape[1] > 1:
            a, b = ids[:, :-1], ids[:, 1:]
            h = torch.remainder(a * BIGRAM_MULT[0] + b * BIGRAM_MULT[1], self.n_bigrams)
            eb = self.bi(h)
            wb = self._weight(self.bi_w(h).squeeze(-1), eb) * mask[:, :-1] * mask[:, 1:]
            num = num + (eb * wb.unsqueeze(-1)).sum(1)
            den = den + wb.sum(1, keepdim=True)
        return self.mlp(num / (den + 1e-6))


class HybridEncoder(nn.Module):
    """The sum of the lexical bag and the transformer (each projecting to ``text_dim``)."""

    def __init__(self, cfg: "StudentConfig") -> None:
        super().__init__()
        self.bag, self.seq = BagEncoder(cfg), TextEncoder(cfg)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.bag(ids) + self.seq(ids)


class Student(nn.Module):
    """Record arrays -> 128-d L2-normalized taste vector. Same batch-dict interface as the teacher."""

    MODALITIES = MODALITIES

    def __init__(self, cfg: StudentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        tcfg = cfg.teacher_shaped()
        self.text = {"transformer": TextEncoder, "bag": BagEncoder, "hybrid": HybridEncoder}[cfg.text_arch](cfg)
        self.sensory = nn.Sequential(nn.Linear(cfg.lexicon_dim, 128), nn.GELU(), nn.Linear(128, cfg.sensory_dim))
        self.numeric = NumericEncoder(tcfg)
        self.context = ContextEncoder(tcfg)
        fused = cfg.text_dim + cfg.sensory_dim + cfg.numeric_dim + cfg.context_hidden
        self.fusion = nn.Sequential(nn.Linear(fused, cfg.fusion_hidden), nn.GELU(),
                                    nn.Linear(cfg.fusion_hidden, cfg.embed_dim))
        self.text_skip = nn.Linear(cfg.text_dim, cfg.embed_dim, bias=False) if cfg.text_skip else None
        # training only (the distillation's rating term): a review's standardized rating from the taste vector;
        # not part of the exported graph
        self.rating_head = nn.Linear(cfg.embed_dim, 1)

    @classmethod
    def from_teacher(cls, teacher: Taste2Vec, cfg: StudentConfig) -> "Student":
        """A student whose non-text branches and fusion start as copies of the teacher's."""
        s = cls(cfg)
        s.sensory.load_state_dict(teacher.sensory.state_dict())
        s.numeric.load_state_dict(teacher.numeric.state_dict())
        s.context.load_state_dict(teacher.context.state_dict())
        tf = [m for m in teacher.fusion if isinstance(m, nn.Linear)]
        sf = [m for m in s.fusion if isinstance(m, nn.Linear)]
        for a, b in zip(sf, tf):
            a.load_state_dict(b.state_dict())
        if s.text_skip is not None and teacher.text_skip is not None:
            s.text_skip.load_state_dict(teacher.text_skip.state_dict())
        return s

    def branches(self, batch: dict[str, torch.Tensor], keep: dict[str, torch.Tensor] | None = None
                 ) -> dict[str, torch.Tensor]:
        """Each modality's block of the fusion input (zero where absent or dropped)."""
        ids = batch["token_ids"]
        pres = {
            "text": (ids > 0).float().amax(-1, keepdim=True),
            "sensory": (batch["lexicon"].abs().sum(-1, keepdim=True) > 0).float(),
            "numeric": (batch["metrics_mask"].sum(-1, keepdim=True) > 0).float(),
        }
        if "context" in batch:  # without it: the graph of records without context (see SignatureModule)
            pres["context"] = (batch["context_mask"].sum(-1, keepdim=True) > 0).float()
        if keep is not None:
            pres = {k: pres[k] * keep[k] for k in pres}
        return {
            "text": self.text(ids) * pres["text"],
            "sensory": self.sensory(batch["lexicon"]) * pres["sensory"],
            "numeric": self.numeric(batch["metrics"], batch["metrics_mask"] * pres["numeric"]) * pres["numeric"],
            "context": self.context(batch["context"], batch["context_mask"] * pres["context"]) if "context" in pres
            else ids.new_zeros((ids.shape[0], self.context.hidden), dtype=torch.float32),
        }

    def raw(self, batch: dict[str, torch.Tensor], keep: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The 128-d fusion output before L2 normalization."""
        return self.fuse(self.branches(batch, keep))

    def fuse(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """The 128-d output from the modality blocks (as the teacher's :func:`fuse`)."""
        return fuse(self.fusion, self.text_skip, [parts[m] for m in MODALITIES])

    def forward(self, batch: dict[str, torch.Tensor], keep: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        z = self.raw(batch, keep)
        # L2 normalization written out (x * rsqrt(sum x^2 + eps)): two builtin ops, no 0/0 for a zero vector
        return z * torch.rsqrt((z * z).sum(-1, keepdim=True) + 1e-12)

    def num_parameters(self) -> int:
        """Parameters of the exported graph (the training-only rating head left out)."""
        return sum(p.numel() for n, p in self.named_parameters() if not n.startswith("rating_head."))


class SignatureModule(nn.Module):
    """The graph that is exported: named positional inputs (see ``INPUT_NAMES``) -> {"embedding": [B, 128]}.

    Called without ``context`` and ``context_mask`` it is the graph of a record without context snapshots: the
    context block is zeros, which is what the context encoder gives for an all-zero mask (its state is never
    updated), so such a record gets the same vector from both graphs without running the LSTM."""

    def __init__(self, student: Student) -> None:
        super().__init__()
        self.student = student

    def forward(self, token_ids, lexicon, metrics, metrics_mask, context=None, context_mask=None):
        batch = {"token_ids": token_ids, "lexicon": lexicon, "metrics": metrics, "metrics_mask": metrics_mask}
        if context is not None:
            batch.update(context=context, context_mask=context_mask)
        return {OUTPUT_NAME: self.student(batch)}


def sample_inputs(cfg: StudentConfig, length: int, batch: int = 1, context: bool = True) -> dict[str, torch.Tensor]:
    """Example inputs of one signature (token ids are int32, as LiteRT requires); ``context=False``: of the
    signature for records without context (no context inputs)."""
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(1, cfg.vocab_size, (batch, length), generator=g, dtype=torch.int32)
    ids[:, length // 2:] = 0
    out = {
        "token_ids": ids,
        "lexicon": torch.rand(batch, cfg.lexicon_dim, generator=g),
        "metrics": torch.rand(batch, cfg.num_metrics, generator=g) * 5,
        "metrics_mask": torch.ones(batch, cfg.num_metrics),
        "context": torch.rand(batch, cfg.context_steps, cfg.context_width, generator=g),
        "context_mask": torch.ones(batch, cfg.context_steps),
    }
    return out if context else {k: v for k, v in out.items() if k not in CONTEXT_INPUTS}


def input_signature(cfg: StudentConfig, length: int, context: bool = True) -> list[dict[str, Any]]:
    """Names, shapes and dtypes of one signature's inputs (what the manifest and the Kotlin code read)."""
    return [{"name": k, "shape": list(v.shape), "dtype": "int32" if v.dtype == torch.int32 else "float32"}
            for k, v in sample_inputs(cfg, length, context=context).items()]
