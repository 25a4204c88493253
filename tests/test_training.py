"""A tiny training run lowers the loss; checkpoints round-trip, resume exactly, and refuse corruption."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from taste2vec.features import FeatureExtractor
from taste2vec.spec import default_spec
from taste2vec_reference.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from taste2vec_reference.evaluate import embed
from taste2vec_reference.synthetic import TasteWorld, WorldConfig
from taste2vec_reference.train import TrainConfig, build_training_data, make_pool, train

TINY = dict(world=WorldConfig(n_coffees=160, n_users=60), pool_per_coffee=3, batch_coffees=32, batch_users=8,
            use_real_reviews=False, log_every=1, checkpoint_every=1000)


@pytest.fixture(scope="module")
def tiny_data(featurizer, lexicon):
    cfg = TrainConfig(**TINY)
    return build_training_data(cfg, TasteWorld(cfg.world, lexicon), featurizer, FeatureExtractor(lexicon))


def test_tiny_training_lowers_the_loss(tiny_data, tmp_path):
    cfg = TrainConfig(steps=60, **TINY)
    model, hist = train(cfg, tmp_path, resume=False, progress=False, data=tiny_data)
    first = np.mean([h["nce"] for h in hist[:5]])
    last = np.mean([h["nce"] for h in hist[-5:]])
    assert last < 0.8 * first, (first, last)
    assert (tmp_path / "checkpoint" / "model.safetensors").exists()
    assert json.loads((tmp_path / "history.json").read_text())[-1]["step"] == 59


def test_checkpoint_round_trip_gives_identical_embeddings(tiny_data, tmp_path):
    cfg = TrainConfig(steps=5, **TINY)
    model, _ = train(cfg, tmp_path, resume=False, progress=False, data=tiny_data)
    loaded, meta = load_checkpoint(tmp_path / "checkpoint")
    assert meta["record_spec"]["version"] == default_spec().version and meta["lexicon"]["dim"] == model.cfg.lexicon_dim
    assert meta["scaler"]["metric_names"][0] == "temperature"
    a, b = embed(model, tiny_data.pool), embed(loaded, tiny_data.pool)
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_resume_continues_exactly(tiny_data, tmp_path):
    straight, _ = train(TrainConfig(steps=12, **TINY), tmp_path / "a", resume=False, progress=False, data=tiny_data)
    train(TrainConfig(steps=12, **TINY), tmp_path / "b", resume=False, progress=False, data=tiny_data, until=6)
    resumed, hist = train(TrainConfig(steps=12, **TINY), tmp_path / "b", resume=True, progress=False, data=tiny_data)
    assert hist[0]["step"] == 0 and hist[-1]["step"] == 11  # history carried over
    for (ka, va), (kb, vb) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(va.float(), vb.float(), atol=1e-5), ka


def test_corrupt_or_foreign_checkpoint_is_refused(tiny_data, tmp_path):
    model, _ = train(TrainConfig(steps=2, **TINY), tmp_path, resume=False, progress=False, data=tiny_data)
    ck = tmp_path / "checkpoint"
    raw = bytearray((ck / "model.safetensors").read_bytes())
    raw[-1] ^= 0xFF
    (ck / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(ck)
    save_checkpoint(ck, model)
    cfg = json.loads((ck / "config.json").read_text())
    cfg["model"]["record_spec_version"] = "2.0.0"
    (ck / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="record spec"):
        load_checkpoint(ck)
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "nowhere")


def test_missing_modalities_still_embed(tiny_data, featurizer, lexicon, tmp_path):
    from taste2vec import TastingRecord

    model, _ = train(TrainConfig(steps=3, **TINY), tmp_path, resume=False, progress=False, data=tiny_data)
    pool = make_pool([TastingRecord(), TastingRecord(notes="자스민"), TastingRecord(metrics={"acidity": 9})],
                     FeatureExtractor(lexicon), featurizer)
    z = embed(model, pool)
    assert np.isfinite(z).all() and np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)


def test_review_heads_skip_missing_labels_and_groups_pair_within_a_group(lexicon):
    from taste2vec_reference.model import Taste2Vec
    from taste2vec_reference.train import model_config_for, pair_rows, review_aux_loss

    torch.manual_seed(0)
    model = Taste2Vec(model_config_for(lexicon))
    z = torch.nn.functional.normalize(torch.randn(4, 128), dim=-1)
    rating = torch.tensor([0.5, float("nan"), -1.0, float("nan")])
    roast = torch.tensor([1, -1, -1, 4])
    loss = review_aux_loss(model, z, rating, roast)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.review_head.weight.grad.abs().sum() > 0
    none = review_aux_loss(model, z, torch.full((4,), float("nan")), torch.full((4,), -1))
    assert none.item() == 0.0
    groups = [np.array([0, 1, 2]), np.array([3]), np.array([4, 5])]
    gi, a, b = pair_rows(groups, 5, np.random.default_rng(0))
    assert sorted(gi.tolist()) == [0, 2]  # the one-row group never pairs
    for g, x, y in zip(gi, a, b):
        assert x != y and x in groups[g] and y in groups[g]


def test_text_skip_path_carries_text_only_records_and_old_configs_load_without_it(lexicon):
    from taste2vec_reference.model import Taste2Vec, Taste2VecConfig
    from taste2vec_reference.train import model_config_for
    from taste2vec_convert.student import Student, StudentConfig

    cfg = model_config_for(lexicon)
    assert cfg.text_skip
    old = cfg.to_dict()
    del old["text_skip"]  # a checkpoint written before the skip path
    assert Taste2VecConfig.from_dict(old).text_skip is False and Taste2Vec(Taste2VecConfig.from_dict(old)).text_skip is None
    torch.manual_seed(0)
    model = Taste2Vec(cfg).eval()
    n = 4
    batch = {"text_features": torch.randn(n, 384), "lexicon": torch.zeros(n, cfg.lexicon_dim),
             "metrics": torch.zeros(n, cfg.num_metrics), "metrics_mask": torch.zeros(n, cfg.num_metrics),
             "context": torch.zeros(n, cfg.context_steps, cfg.context_width),
             "context_mask": torch.zeros(n, cfg.context_steps)}
    no_text = {**batch, "text_features": torch.zeros(n, 384), "metrics": torch.ones(n, cfg.num_metrics),
               "metrics_mask": torch.ones(n, cfg.num_metrics)}
    with torch.no_grad():
        before, before_nt = model.raw(batch), model.raw(no_text)
        skip = model.text_skip(model.text_proj(batch["text_features"]))
        model.text_skip.weight.zero_()
        after, after_nt = model.raw(batch), model.raw(no_text)
    assert torch.allclose(before - after, skip, atol=1e-5) and skip.abs().max() > 0.01
    assert torch.equal(before_nt, after_nt)  # records without text never see the skip path
    torch.manual_seed(1)
    teacher = Taste2Vec(cfg)
    student = Student.from_teacher(teacher, StudentConfig.from_teacher(cfg, vocab_size=100, buckets=(8,)))
    assert torch.equal(student.text_skip.weight, teacher.text_skip.weight)


def test_training_output_has_no_third_party_noise(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if k != "TASTE2VEC_VERBOSE"}
    res = subprocess.run([sys.executable, "-m", "taste2vec_reference", "train", "--steps", "2", "--no-real",
                          "--coffees", "120", "--users", "30", "--pool", "2", "--text-layers", "0", "--out",
                          str(tmp_path / "run")], capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stderr == "", res.stderr  # no torchao "Failed to load", no pytree deprecation lines
    assert "checkpoint:" in res.stdout
