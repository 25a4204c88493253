"""Feedback fine-tuning of the reference model: preferences from events, a real ranking loss that goes down,
held-out users rank better, the space stays anchored, and the result is a normal (exportable) checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from taste2vec.features import FeatureExtractor
from taste2vec_backend.lifecycle.finetune import FinetuneConfig, finetune, user_preferences, world_feedback
from taste2vec_reference.checkpoint import load_checkpoint
from taste2vec_reference.synthetic import TasteWorld, WorldConfig
from taste2vec_reference.train import TrainConfig, build_training_data, train


def test_user_preferences_from_events():
    ev = [{"user_id": "a", "item_id": "x", "type": "like"}, {"user_id": "a", "item_id": "y", "type": "rating",
                                                              "value": 2},
          {"user_id": "a", "item_id": "z", "type": "rating", "value": 3}, {"user_id": "a", "item_id": "x",
                                                                           "type": "dislike"},
          {"user_id": "b", "item_id": "x", "type": "shown"}]
    assert user_preferences(ev) == {"a": ([], ["x", "y"])}  # the later dislike overrides; 3 stars is neutral


@pytest.fixture(scope="module")
def tiny_checkpoint(featurizer, lexicon, tmp_path_factory):
    cfg = TrainConfig(steps=40, world=WorldConfig(n_coffees=160, n_users=60), pool_per_coffee=3, batch_coffees=32,
                      batch_users=8, use_real_reviews=False, pref_weight=0.0, checkpoint_every=1000)
    world = TasteWorld(cfg.world, lexicon)
    out = tmp_path_factory.mktemp("teacher")
    train(cfg, out, resume=False, progress=False,
          data=build_training_data(cfg, world, featurizer, FeatureExtractor(lexicon)))
    return out / "checkpoint", world


def test_finetune_learns_preferences_and_stays_anchored(tiny_checkpoint, featurizer, tmp_path):
    ckpt, world = tiny_checkpoint
    coffees = [c.id for c in world.coffees()][:90]
    events, items = world_feedback(world, range(60), coffees, per_user=24, records_per_item=2)
    cfg = FinetuneConfig(steps=80, lr=1e-3, batch_users=16, anchor_weight=0.5, heldout_share=0.3)
    rep = finetune(ckpt, events, items, tmp_path / "ft", cfg, featurizer=featurizer, progress=False)
    assert rep["train_users"] > 30 and rep["heldout_users"] > 5
    first = np.mean([h["pref"] for h in rep["history"][:2]])
    last = np.mean([h["pref"] for h in rep["history"][-2:]])
    assert last < first  # the ranking loss is optimized, not a no-op
    assert rep["heldout_auc_after"] > rep["heldout_auc_before"]  # new users' likes rank better
    assert rep["mean_cosine_drift"] < 0.2  # the anchor keeps the embedding space near the deployed one
    model, cfg_json = load_checkpoint(tmp_path / "ft" / "checkpoint")  # sha-checked safetensors, exportable
    source = load_checkpoint(ckpt)[1]
    assert cfg_json["finetuned_from"] == source["model_sha256"]
    assert cfg_json["train_config"] == source["train_config"]  # provenance the exporter needs is carried over
