"""A tiny student end to end: distill a few steps, convert to TFLite, every quantization variant runs in
ai_edge_litert, ONNX matches onnxruntime, the parity gate judges, and the bundle loads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taste2vec.features import FeatureExtractor
from taste2vec.runtime import TasteModel
from taste2vec_convert.distill import (DistillConfig, TransferSet, distill, distill_losses, drop_tokens,
                                        load_student, rating_targets, recombined_review_texts)
from taste2vec_convert.parity import (ParitySet, Thresholds, context_free_parity, embed_with, pick, record_inputs,
                                     reference_embeddings, summarize)
from taste2vec_convert.student import INPUT_NAMES, Student, StudentConfig
from taste2vec_convert.tflite import (VARIANTS, ConversionError, OpReport, calibration_inputs, check_builtin_only,
                                     drop_tensor_names, list_ops, quantize_variants, to_tflite)
from taste2vec_convert.vocab import train_wordpiece
from taste2vec_reference.model import Taste2Vec
from taste2vec_reference.synthetic import TasteWorld, WorldConfig
from taste2vec_reference.train import make_pool, model_config_for

BUCKETS = (8, 16)
TINY = DistillConfig(steps=30, batch=32, vocab_size=6000, buckets=BUCKETS, text_arch="transformer", n_layers=1,
                     d_model=32, bigram_buckets=0, checkpoint_every=10, log_every=1)


@pytest.fixture(scope="module")
def tiny(featurizer, lexicon, tmp_path_factory):
    """A random teacher, a 30-step student, its float32 flatbuffer and held-out pools."""
    torch.manual_seed(0)
    teacher = Taste2Vec(model_config_for(lexicon)).eval()
    world = TasteWorld(WorldConfig(n_coffees=120, n_users=20), lexicon)
    fx = FeatureExtractor(lexicon)
    recs = [world.record(c.id, k).record for c in world.coffees("train") for k in range(3)]
    pool = make_pool(recs, fx, featurizer)
    tok = train_wordpiece(pool.notes, vocab_size=TINY.vocab_size, buckets=BUCKETS)
    encode = lambda notes: tok.encode_batch(notes, length=tok.max_tokens)  # noqa: E731
    pool.add_token_ids(encode)
    out = tmp_path_factory.mktemp("distill")
    student, hist = distill(TINY, teacher, TransferSet(pool, tok), out, resume=False, progress=False)
    test = world.coffees("test")
    pools = {name: make_pool([world.record(c.id, k, lang=lang, notes_only=lang is not None).record for c in test],
                             fx, featurizer).add_token_ids(encode)
             for name, k, lang in (("syn_a", 100, None), ("syn_b", 101, None), ("en", 102, "en"), ("ko", 102, "ko"))}
    f32 = to_tflite(student)
    calib = calibration_inputs(({k: pool.tensors[k][i:i + 1].numpy() for k in INPUT_NAMES} for i in range(40)),
                               BUCKETS)
    return dict(teacher=teacher, student=student, hist=hist, tok=tok, out=out, f32=f32, calib=calib,
                ps=ParitySet(pools), pool=pool)


def test_distillation_lowers_the_loss_and_checkpoints_round_trip(tiny):
    hist = tiny["hist"]
    assert np.mean([h["loss"] for h in hist[-5:]]) < np.mean([h["loss"] for h in hist[:5]])
    loaded, meta = load_student(tiny["out"] / "student")
    assert meta["student"]["buckets"] == list(BUCKETS)
    b = tiny["pool"].take(np.arange(8))
    assert torch.allclose(loaded(b), tiny["student"](b), atol=1e-6)


def test_student_vector_is_independent_of_the_padding_bucket(tiny):
    s = tiny["student"]
    b = tiny["pool"].take(np.arange(16))
    ids = b["token_ids"].clone()
    ids[:, 6:] = 0  # notes of at most 6 tokens, padded to 16 ...
    with torch.no_grad():
        long = s({**b, "token_ids": ids})
        short = s({**b, "token_ids": ids[:, :8]})  # ... and to 8
        assert torch.allclose(short, long, atol=1e-5)
        assert not torch.allclose(long, s(b), atol=1e-3)  # while the tokens themselves do matter


def test_float32_tflite_matches_pytorch_and_uses_builtin_ops_only(tiny):
    m = TasteModel(tiny["f32"])
    assert m.buckets == BUCKETS
    emb = embed_with(m.run, tiny["ps"].pools["syn_a"], m.bucket_for)
    ref = reference_embeddings(tiny["student"], tiny["ps"])["syn_a"]
    assert (emb * ref).sum(1).min() > 0.9999
    ops = list_ops(tiny["f32"])
    assert not ops.custom and "EMBEDDING_LOOKUP" in ops.builtin and "FULLY_CONNECTED" in ops.builtin


def test_dropping_tensor_names_keeps_signatures_and_outputs_bit_identical(tiny):
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    named, bare = tiny["f32"], drop_tensor_names(tiny["f32"])
    assert len(bare) < len(named) and drop_tensor_names(bare) == bare  # smaller, and deterministic
    obj = fbu.read_model_from_bytearray(bytearray(bare))
    assert all(t.name is None for sg in obj.subgraphs for t in sg.tensors)
    a, b = TasteModel(named), TasteModel(bare)
    assert b.buckets == a.buckets and set(b.input_details(BUCKETS[0])) == set(INPUT_NAMES)
    for pool in tiny["ps"].pools.values():
        assert np.array_equal(embed_with(a.run, pool, a.bucket_for), embed_with(b.run, pool, b.bucket_for))


def test_every_quantization_variant_runs_in_ai_edge_litert(tiny):
    variants = quantize_variants(tiny["f32"], tiny["calib"])
    assert len(variants["float32"]) < len(tiny["f32"])  # every variant ships without tensor names
    assert set(variants) == set(VARIANTS)
    assert len(variants["dynamic_int8"]) < 0.6 * len(variants["float32"])
    assert len(variants["float16"]) < len(variants["float32"])
    ref_s = reference_embeddings(tiny["student"], tiny["ps"])
    ref_t = reference_embeddings(tiny["teacher"], tiny["ps"])
    results = []
    for name, data in variants.items():
        m = TasteModel(data)
        assert m.runtime == "ai_edge_litert"
        emb = {k: embed_with(m.run, p, m.bucket_for) for k, p in tiny["ps"].pools.items()}
        allv = np.concatenate(list(emb.values()))
        assert allv.shape == (len(tiny["ps"]), 128) and np.isfinite(allv).all(), name
        r = summarize(name, emb, ref_s, ref_t, len(data), list_ops(data).builtin, {}, Thresholds(recall_retained=0.0))
        if name != "int8":  # full-integer output is judged by the gate, not assumed good (see README)
            assert np.allclose(np.linalg.norm(allv, axis=1), 1.0, atol=2e-2), name
            assert r.cos_mean > 0.99, (name, r.cos_mean)
        results.append(r)
    int8 = TasteModel(variants["int8"])
    details = int8.input_details(8)
    assert details["lexicon"]["dtype"] == np.int8 and details["token_ids"]["dtype"] == np.int32
    chosen = pick(results)
    assert chosen is not None and chosen.passed
    assert chosen.size_bytes == min(r.size_bytes for r in results if r.passed)


def test_records_without_context_run_the_context_free_signatures_bit_for_bit(tiny):
    from ai_edge_litert.interpreter import Interpreter

    variants = quantize_variants(tiny["f32"], tiny["calib"], ("dynamic_int8",))
    data = variants["dynamic_int8"]
    sigs = Interpreter(model_content=data).get_signature_list()
    assert sorted(sigs) == sorted(f"embed_{b}{s}" for b in BUCKETS for s in ("", "_c0"))
    assert set(sigs["embed_8_c0"]["inputs"]) == set(INPUT_NAMES) - {"context", "context_mask"}
    fast, full = TasteModel(data), TasteModel(data, context_free=False)
    assert fast.context_free and not full.context_free
    calls = {b: 0 for b in BUCKETS}
    for b in BUCKETS:  # count the context-free signature's calls
        sig = fast._bare[b]
        fast._bare[b] = sig._replace(call=lambda arrays, sig=sig, b=b: calls.__setitem__(b, calls[b] + 1)
                                     or sig.call(arrays))
    bare = 0
    for pool in tiny["ps"].pools.values():
        for i in range(len(pool)):
            x = record_inputs(pool, i, full.bucket_for)
            bare += not x["context_mask"].any()
            assert np.array_equal(fast.run(x), full.run(x))
    assert 0 < bare == sum(calls.values()) < len(tiny["ps"])  # records with context still run the full graph
    assert context_free_parity(data, tiny["ps"]) == (bare, 0)
    gone = fast.run({**x, "context_mask": np.zeros_like(x["context_mask"])})  # context under a zero mask: ignored
    assert np.array_equal(gone, full.run({**x, "context_mask": np.zeros_like(x["context_mask"])}))


def test_gate_refuses_a_variant_that_misses_a_threshold(tiny):
    ps = tiny["ps"]
    ref = reference_embeddings(tiny["student"], ps)
    rng = np.random.default_rng(0)
    noisy = {k: v + rng.normal(0, 0.2, v.shape).astype(np.float32) for k, v in ref.items()}
    noisy = {k: v / np.linalg.norm(v, axis=1, keepdims=True) for k, v in noisy.items()}
    r = summarize("noisy", noisy, ref, ref, 1, {}, {}, Thresholds())
    assert not r.passed and any("cosine mean" in f for f in r.failures)
    assert pick([r]) is None


def test_custom_or_flex_ops_are_refused():
    report = OpReport(builtin={"ADD": 1}, custom={"FlexErf": 2})
    assert report.flex == ["FlexErf"]
    with pytest.raises(ConversionError, match="Flex"):
        check_builtin_only(report)
    with pytest.raises(ConversionError, match="custom"):
        check_builtin_only(OpReport(builtin={}, custom={"MyOp": 1}))
    assert check_builtin_only(OpReport(builtin={"ADD": 1}, custom={})).builtin == {"ADD": 1}


def test_onnx_export_matches_onnxruntime_and_onnx_tf_failure_is_shown(tiny, tmp_path):
    import onnx

    from taste2vec_convert.onnx_export import check_onnx_tf, onnx_session, run_onnx, to_onnx

    path = to_onnx(tiny["student"], tmp_path / "m.onnx")
    assert onnx.load(str(path)).opset_import[0].version >= 17
    sess = onnx_session(path)
    pool = tiny["ps"].pools["syn_a"]
    batch = {k: pool.tensors[k][:6].numpy() for k in INPUT_NAMES}  # dynamic batch and length
    out = run_onnx(sess, batch)
    with torch.no_grad():
        ref = tiny["student"](pool.take(np.arange(6))).numpy()
    assert np.abs(out - ref).max() < 1e-4
    # the onnx-tf route named in the brief: onnx >= 1.16 has no onnx.mapping, which onnx-tf 1.10 imports
    assert not hasattr(onnx, "mapping")
    assert "onnx" in check_onnx_tf()


def test_real_data_gate_refuses_a_variant_not_clearly_above_tfidf(tiny):
    """The real-data gate: half-vs-half R@10 must beat TF-IDF's (measured in the same run) by the margin."""
    ps = tiny["ps"]
    ref = reference_embeddings(tiny["student"], ps)
    emb = {**ref, "real_a": ref["syn_a"], "real_b": ref["syn_b"]}
    th = Thresholds(recall_retained=0.0)
    emb.update(recent_a=ref["en"], recent_b=ref["ko"])
    x = summarize("x", emb, emb, emb, 1, {}, {}, th)
    real10, recent10 = x.real_recall10, x.real_recent_recall10
    assert real10 is not None and recent10 is not None
    high = {"test": real10 - 0.15, "recent": recent10 - 0.15}
    assert summarize("high", emb, emb, emb, 1, {}, {}, th, {}, high).passed
    for split in ("test", "recent"):  # each test split is gated on its own
        low = summarize("low", emb, emb, emb, 1, {}, {}, th, {}, {**high, split: high[split] + 0.10})
        assert not low.passed and [f for f in low.failures if "TF-IDF" in f and f"({split} split)" in f], low.failures


@pytest.mark.parametrize("bigrams", [0, 97])
def test_bag_text_path_converts_with_builtin_ops_and_ignores_padding(bigrams, lexicon):
    """The lexical student text path (weighted token / hashed-bigram bag): same vector in every bucket, and
    its TFLite graph (GATHER, EXP, integer hashing) matches PyTorch with builtin ops only."""
    torch.manual_seed(0)
    cfg = StudentConfig(vocab_size=600, buckets=(8, 16), text_arch="bag", bigram_buckets=bigrams, bag_dim=32,
                        ff_dim=64, lexicon_dim=lexicon.dim)
    s = Student(cfg).eval()
    with torch.no_grad():
        for p in s.text.parameters():
            p.add_(torch.randn_like(p) * 0.5)  # make the per-token weights matter
    from taste2vec_convert.student import sample_inputs

    x = sample_inputs(cfg, 16, batch=3)
    x["token_ids"][:, 6:] = 0
    with torch.no_grad():
        long = s(x)
        short = s({**x, "token_ids": x["token_ids"][:, :8]})
        swapped = x["token_ids"].clone()
        swapped[:, [0, 1]] = swapped[:, [1, 0]]
        moved = s({**x, "token_ids": swapped})
    assert torch.allclose(short, long, atol=1e-5)
    assert torch.allclose(moved, long, atol=1e-5) != bool(bigrams)  # word order matters only through bigrams
    flat = to_tflite(s, buckets=(8,))  # the PyTorch checks above cover the buckets; conversion costs per bucket
    one = {k: v[:1].numpy() for k, v in x.items()}
    out = TasteModel(flat).run({**one, "token_ids": one["token_ids"][:, :8]})
    assert float((out * long[:1].numpy()).sum()) > 0.9999
    assert not list_ops(flat).custom


def test_a_gate_failure_names_the_cause_and_the_remedy():
    from taste2vec_convert.parity import VariantResult, explain_failures

    def failed(name, *failures):
        return VariantResult(name, 1, 0.99, 0.9, 0.1, 0.9, 0.5, 0.92, 0.97, None, {}, {}, False, list(failures))

    text = explain_failures([failed("dynamic_int8", "recall@10 retained 0.923 < 0.97"),
                             failed("int8", "cosine min 0.9012 < 0.95", "recall@10 retained 0.901 < 0.97")])
    lines = text.splitlines()
    assert lines[:3] == ["no variant passed the parity gate:", "  dynamic_int8: recall@10 retained 0.923 < 0.97",
                         "  int8: cosine min 0.9012 < 0.95, recall@10 retained 0.901 < 0.97"]
    assert lines[3].startswith("cosine: ") and "--variants" in lines[3]
    assert lines[4].startswith("recall@10 retained: ") and "--steps" in lines[4] and "--min-retention" in lines[4]
    assert len(lines) == 5  # one hint per kind of failure, not per variant


def test_min_retention_reaches_the_gate_and_the_printed_json(monkeypatch, tmp_path, capsys):
    import json

    from taste2vec_convert import cli, export as export_mod

    seen = {}

    def fake_export(cfg, *a, **kw):
        seen["cfg"] = cfg
        raise export_mod.ExportError(f"stopped with recall_retained {cfg.thresholds.recall_retained}")

    monkeypatch.setattr(export_mod, "export", fake_export)
    assert cli.main(["export", "--min-retention", "0.9", "--out", str(tmp_path)]) == 3
    assert seen["cfg"].thresholds.recall_retained == 0.9 and seen["cfg"].to_dict()["thresholds"]["recall_retained"] == 0.9
    assert "stopped with recall_retained 0.9" in capsys.readouterr().err
    assert json.dumps(seen["cfg"].to_dict())  # the export report records the config, the gate included


def test_conversion_and_quantization_print_nothing(monkeypatch, capfd):
    """litert-torch's progress lines, the quantizer's and the MLIR converter's native absl lines stay out of an
    export's output (TASTE2VEC_VERBOSE=1 shows them)."""
    from taste2vec_convert.tflite import quantize

    monkeypatch.delenv("TASTE2VEC_VERBOSE", raising=False)
    torch.manual_seed(0)
    student = Student(StudentConfig(vocab_size=200, buckets=(8,), d_model=16, n_layers=1, ff_dim=32,
                                    lexicon_dim=8)).eval()
    capfd.readouterr()
    model = to_tflite(student)
    quantize(model, "dynamic_int8")
    out, err = capfd.readouterr()
    assert (out, err) == ("", ""), (out + err)[:2000]


def test_token_dropout_hides_pieces_but_never_a_whole_text_or_padding():
    ids = torch.zeros(200, 32, dtype=torch.int32)
    ids[:, :20] = torch.randint(1, 100, (200, 20), dtype=torch.int32)
    out = drop_tokens(ids, 0.3, torch.Generator().manual_seed(0))
    assert (out[:, 0] == ids[:, 0]).all() and (out[:, 20:] == 0).all()
    assert ((out == 0) | (out == ids)).all()
    hidden = (out[:, 1:20] == 0).float().mean().item()
    assert 0.25 < hidden < 0.35
    assert (drop_tokens(ids, 0.3, torch.Generator().manual_seed(0)) == out).all()  # seeded: reproducible


def _reviews(n: int = 60):
    """Reviews whose rating is carried by one word: 'superb' 96, 'flat' 88, else 92."""
    from types import SimpleNamespace

    words = ("superb", "flat", "round")
    return [SimpleNamespace(text=f"Cocoa and plum. A {words[i % 3]} cup. Note n{i}x.", rating=(96.0, 88.0, 92.0)[i % 3])
            for i in range(n)]


def test_rating_targets_read_the_rating_without_remembering_a_review():
    reviews = _reviews()
    texts = ["A superb cup.", "A flat cup.", "A superb cup.", "A mix."]
    owners = [0, 1, 3, -1]  # review 0 and 3 are in folds 0 and 3 of 5
    t = rating_targets(reviews, texts, owners, folds=5)
    assert t[0] > 0 > t[1] and np.isnan(t[3])  # standardized: superb above the mean, flat below; mixed: none
    reviews[0].rating = 70.0  # its own rating never reaches its own target; fold 0 fits every other target
    moved = rating_targets(reviews, texts, owners, folds=5)
    assert moved[0] == t[0] and moved[2] != t[2]
    assert np.isnan(rating_targets(reviews, texts, owners, folds=1)).all()


def test_recombined_texts_name_the_review_they_come_from():
    reviews = _reviews(20)
    out = recombined_review_texts(reviews, 300, seed=1)
    assert [t for t, _ in out] == [t for t, _ in recombined_review_texts(reviews, 300, seed=1)]
    own = [(t, i) for t, i in out if i >= 0]
    assert 150 < len(own) < 300  # a quarter mixes two reviews
    assert all(s in reviews[i].text for t, i in own for s in t.split(". "))  # every sentence is its review's


def test_rating_term_trains_the_head_on_rated_texts_only(tiny):
    import copy

    batch = tiny["pool"].take(np.arange(16))
    keep = {m: torch.ones(16, 1) for m in Student.MODALITIES}
    student = copy.deepcopy(tiny["student"])
    batch["rating"] = torch.full((16,), float("nan"))
    loss, logs = distill_losses(TINY, student, tiny["teacher"], batch, keep)
    loss.backward()
    assert logs["rating"] == 0 and student.rating_head.weight.grad is None  # synthetic records: no target
    batch["rating"][:4] = torch.tensor([2.0, -2.0, 1.0, 0.0])
    loss, logs = distill_losses(TINY, student, tiny["teacher"], batch, keep)
    loss.backward()
    assert logs["rating"] > 0 and student.rating_head.weight.grad.abs().sum() > 0
    assert student.num_parameters() == tiny["student"].num_parameters() == \
        sum(p.numel() for p in student.parameters()) - 129  # the head is not part of the exported graph
