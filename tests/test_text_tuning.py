"""Fine-tuning the teacher's text encoder on pairs of texts about the same coffee (tiny, made-up reviews)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taste2vec_reference.real_data import Review
from taste2vec_reference.text_tuning import (TextTuneConfig, pair_loss, random_views, real_pairs, trainable_names,
                                             tune_text_encoder)

FLAVOURS = ["jasmine", "blueberry", "dark chocolate", "lemon zest", "cedar", "molasses", "peach", "walnut",
            "bergamot", "raisin", "cinnamon", "papaya"]


def fake_reviews(n: int = 24) -> list[Review]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        a, b, c = (FLAVOURS[j] for j in rng.choice(len(FLAVOURS), 3, replace=False))
        text = (f"Notes of {a} and {b}. Crisp {a}-toned structure. A finish of {c} and {b}. "
                f"Sweetly {c} in the long finish.")
        out.append(Review(f"coffee {i}", text, "Light", 90.0, "Kenya", "train"))
    return out


def test_views_are_disjoint_and_keep_order():
    rng = np.random.default_rng(1)
    sents = ["One.", "Two.", "Three.", "Four.", "Five."]
    a, b = random_views(sents, rng)
    assert sorted(a.split() + b.split(), key=sents.index) == sents
    assert a and b and random_views(["Only."], rng) is None


def test_pairs_mask_same_coffee_negatives():
    za = torch.eye(3)
    zb = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # rows 0 and 1 look like each other
    same_coffee = pair_loss(za, zb, ["x", "x", "y"], 0.05)
    other_coffees = pair_loss(za, zb, ["x", "z", "y"], 0.05)
    assert torch.isfinite(same_coffee) and same_coffee < 0.5 * other_coffees  # not punished as a negative
    repeat = [Review("k", "A. B.", None, None, "", "train"), Review("k", "C. D.", None, None, "", "train")]
    pairs = real_pairs(repeat, 0, np.random.default_rng(0), TextTuneConfig(repeat_reviews=True))
    assert [(p.a, p.b) for p in pairs] == [("A.", "B."), ("C.", "D."), ("A. B.", "C. D.")]
    assert len(real_pairs(repeat, 0, np.random.default_rng(0), TextTuneConfig())) == 2  # halves only (default)
    assert {p.group for p in pairs} == {"k"}


def test_tuning_lowers_the_pair_loss_and_round_trips(tmp_path, featurizer):
    from taste2vec_reference.checkpoint import CheckpointError, featurizer_for, save_text_encoder
    from taste2vec_reference.model import TEXT_ENCODER_FILE, TextFeaturizer

    reviews = fake_reviews()
    pairs = real_pairs(reviews, 0, np.random.default_rng(0), TextTuneConfig())

    def loss_of(f) -> float:
        a = f([p.a for p in pairs])
        b = f([p.b for p in pairs])
        return pair_loss(a, b, [p.group for p in pairs], 0.05).item()

    before = loss_of(featurizer)
    cfg = TextTuneConfig(layers=2, epochs=3, batch=8, lr=1e-4, max_tokens=64)
    tuned, summary = tune_text_encoder(cfg, tmp_path / "enc", reviews=reviews, progress=False)
    assert loss_of(tuned) < 0.8 * before
    assert set(summary["tensors"]) == set(trainable_names(tuned.model, 2))
    assert all(n.startswith(("encoder.layer.4.", "encoder.layer.5.")) for n in summary["tensors"])
    # reloaded from the file: the same features; the untouched packaged model differs
    again = TextFeaturizer(64, weights=tmp_path / "enc" / TEXT_ENCODER_FILE)
    texts = ["bright jasmine and peach", "dark chocolate, cedar"]
    assert torch.equal(again(texts), tuned(texts))
    assert not torch.allclose(featurizer(texts), tuned(texts))
    # inside a checkpoint folder, verified by sha256
    ck = tmp_path / "ck"
    ck.mkdir()
    entry = save_text_encoder(ck, tuned)
    (ck / "config.json").write_text(__import__("json").dumps({"text_encoder": entry}))
    assert torch.equal(featurizer_for(ck)(texts), TextFeaturizer(weights=ck / TEXT_ENCODER_FILE)(texts))
    raw = bytearray((ck / TEXT_ENCODER_FILE).read_bytes())
    raw[-1] ^= 0xFF
    (ck / TEXT_ENCODER_FILE).write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="sha256"):
        featurizer_for(ck)


def test_a_foreign_tensor_is_refused(tmp_path):
    from safetensors.torch import save_file

    from taste2vec_reference.model import TextFeaturizer

    save_file({"encoder.layer.5.output.dense.weight": torch.zeros(3, 3)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match="does not fit"):
        TextFeaturizer(weights=tmp_path / "bad.safetensors")
