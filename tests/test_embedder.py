"""The SDK Embedder: MediaPipe-shaped API, bundles from path / zip / buffer, typed errors, threads, properties."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest

from taste2vec import BaseOptions, Embedder, EmbedderOptions, TastingRecord
from taste2vec.bundle import BundleError, BundleSignatureError, ModelBundle, default_bundle_path, pack_bundle
from taste2vec.embedder import EmbedderClosedError, quantize_embedding
from taste2vec.errors import (InvalidTypeError, NonFiniteValueError, OutOfRangeError, RecordValidationError,
                              UnknownCategoryError, UnknownFieldError)
from taste2vec.golden import sample_records
from taste2vec.spec import default_spec

SAMPLES = dict(sample_records())


def test_embed_returns_a_unit_float32_vector_with_metadata(embedder):
    r = embedder.embed(SAMPLES["en_washed_ethiopia"])
    assert r.embedding.dtype == np.float32 and r.embedding.shape == (128,)
    assert abs(float(np.linalg.norm(r.embedding.astype(np.float64))) - 1) < 1e-6
    assert r.model_version == default_bundle_path().name and r.quantized_embedding is None
    assert r.bucket == 32 and 16 < r.n_tokens <= 32  # 29 tokens
    assert r.timing.total_ms >= r.timing.inference_ms > 0
    assert any(a.startswith("Floral") for a in r.attributes)
    d = r.to_dict()
    assert json.loads(json.dumps(d))["embedding"] == [float(x) for x in r.embedding]


def test_record_object_and_dict_give_the_same_vector(embedder):
    rec = SAMPLES["ko_dark_roast"]
    a = embedder.embed(rec).embedding
    b = embedder.embed(TastingRecord.from_dict(rec)).embedding
    np.testing.assert_array_equal(a, b)


def test_same_taste_in_two_languages_is_closer_than_a_different_taste(embedder):
    en, ko = embedder.embed(SAMPLES["en_washed_ethiopia"]), embedder.embed(SAMPLES["ko_washed_ethiopia"])
    dark = embedder.embed(SAMPLES["en_dark_roast_espresso"])
    assert Embedder.cosine_similarity(en, ko) > Embedder.cosine_similarity(en, dark) + 0.3


def test_quantize_option_gives_int8_that_keeps_the_cosine():
    with Embedder.create_default(quantize=True) as e:
        a, b = e.embed(SAMPLES["en_washed_ethiopia"]), e.embed(SAMPLES["mixed_natural"])
    assert a.quantized_embedding.dtype == np.int8
    np.testing.assert_array_equal(a.quantized_embedding, quantize_embedding(a.embedding))
    exact = Embedder.cosine_similarity(a, b)
    assert abs(Embedder.cosine_similarity(a.quantized_embedding, b.quantized_embedding) - exact) < 0.01


def test_l2_normalize_off_returns_the_graph_output(embedder):
    with Embedder.create_default(l2_normalize=False) as raw:
        r = raw.embed(SAMPLES["negation_en"])
    inputs = embedder.preprocess(SAMPLES["negation_en"])
    np.testing.assert_array_equal(r.embedding, embedder.run(inputs))


def test_cosine_similarity_rejects_mismatched_inputs(embedder):
    a = embedder.embed(SAMPLES["negation_en"])
    with pytest.raises(ValueError, match="different sizes"):
        Embedder.cosine_similarity(a, np.ones(3))
    with pytest.raises(ValueError, match="zero vector"):
        Embedder.cosine_similarity(a, np.zeros(128))
    with pytest.raises(OutOfRangeError, match="NaN"):
        Embedder.cosine_similarity(a, np.full(128, np.nan))
    other = type(a)(a.embedding, None, "taste2vec-edge-2.0.0", a.timing, a.bucket, a.n_tokens)
    with pytest.raises(ValueError, match="different models"):
        Embedder.cosine_similarity(a, other)


def test_model_from_path_zip_and_buffer_give_identical_vectors(tmp_path, embedder):
    rec = SAMPLES["mixed_natural"]
    want = embedder.embed(rec).embedding
    data = pack_bundle(default_bundle_path(), tmp_path / "b.zip")
    assert data == pack_bundle(default_bundle_path())  # reproducible archive
    with pytest.raises(BundleSignatureError, match="not signed"):  # outside the package: origin unknown
        Embedder.create_from_model_path(tmp_path / "b.zip")
    with Embedder.create_from_model_path(tmp_path / "b.zip", allow_unsigned=True) as z:
        np.testing.assert_array_equal(z.embed(rec).embedding, want)
    opts = EmbedderOptions(BaseOptions(model_asset_buffer=data, num_threads=2, allow_unsigned=True))
    with Embedder.create_from_options(opts) as buf:
        assert buf.bundle.path is None
        np.testing.assert_allclose(buf.embed(rec).embedding, want, atol=1e-6)


def test_corrupt_buffer_and_bad_options_are_refused(tmp_path):
    data = bytearray(pack_bundle(default_bundle_path()))
    with pytest.raises(BundleError, match="not a readable bundle archive"):
        ModelBundle.from_buffer(b"not a zip")
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(BundleError):
        ModelBundle.from_buffer(bytes(data))
    with pytest.raises(ValueError, match="exactly one"):
        Embedder.create_from_options(EmbedderOptions())
    with pytest.raises(OutOfRangeError, match="num_threads"):
        Embedder.create_default(num_threads=0)
    with pytest.raises(BundleError, match="not a bundle folder"):
        Embedder.create_from_model_path(tmp_path / "missing")


def test_closed_embedder_refuses_work():
    e = Embedder.create_default()
    e.embed(SAMPLES["empty_record"])
    with e:
        pass
    assert e.closed
    with pytest.raises(EmbedderClosedError):
        e.embed(SAMPLES["empty_record"])
    e.close()  # idempotent


# --------------------------------------------------------------- every field's bad values -> typed error
def _metric_cases():
    for m in default_spec().metrics:
        yield m.name, "7", InvalidTypeError
        yield m.name, True, InvalidTypeError
        yield m.name, math.nan, NonFiniteValueError
        yield m.name, math.inf, NonFiniteValueError
        yield m.name, -math.inf, NonFiniteValueError
        yield m.name, m.min - 1.0, OutOfRangeError
        yield m.name, m.max + 1.0, OutOfRangeError


def _context_cases():
    for f in default_spec().context_fields:
        if f.kind == "categorical":
            yield f.name, "nowhere", UnknownCategoryError
            yield f.name, 3, InvalidTypeError
        else:
            yield f.name, "7", InvalidTypeError
            yield f.name, math.nan, NonFiniteValueError
            yield f.name, math.inf, NonFiniteValueError
            yield f.name, float(f.min) - 1, OutOfRangeError
            yield f.name, float(f.max) + 1, OutOfRangeError
            if f.type == "int":
                yield f.name, float(f.min) + 0.5, InvalidTypeError


@pytest.mark.parametrize("name, value, error", list(_metric_cases()))
def test_every_metric_bad_value_raises_its_typed_error(embedder, name, value, error):
    with pytest.raises(error) as exc:
        embedder.embed({"notes": "ok", "metrics": {name: value}})
    assert exc.value.field == f"metrics.{name}" and exc.value.allowed and "allowed:" in str(exc.value)


@pytest.mark.parametrize("name, value, error", list(_context_cases()))
def test_every_context_bad_value_raises_its_typed_error(embedder, name, value, error):
    with pytest.raises(error) as exc:
        embedder.embed({"context": [{"hour": 9}, {name: value}]})
    assert exc.value.field == f"context[1].{name}" and exc.value.allowed


@pytest.mark.parametrize("record, error, field", [
    ({"notes": 5}, InvalidTypeError, "notes"),
    ({"notes": "x" * 5000}, OutOfRangeError, "notes"),
    ({"metrics": [1]}, InvalidTypeError, "metrics"),
    ({"metrics": {"crema": 3}}, UnknownFieldError, "metrics.crema"),
    ({"context": "morning"}, InvalidTypeError, "context"),
    ({"context": [5]}, InvalidTypeError, "context[0]"),
    ({"flavour": "x"}, UnknownFieldError, "flavour"),
    ("notes", InvalidTypeError, "record"),
])
def test_bad_record_shapes_raise_typed_errors(embedder, record, error, field):
    with pytest.raises(error) as exc:
        embedder.embed(record)
    assert isinstance(exc.value, RecordValidationError) and exc.value.field == field


def test_overlong_but_allowed_notes_are_truncated_with_a_warning(embedder):
    r = embedder.embed({"notes": "a, " * 900})  # over the character limit, and ~340 tokens after it
    longest = embedder.bundle.tokenizer.max_tokens
    assert r.bucket == longest and any("512 characters" in w for w in r.warnings)
    assert any(f"{longest} tokens" in w for w in r.warnings)


def test_embed_batch_prefixes_the_failing_record(embedder):
    out = embedder.embed_batch([SAMPLES["negation_en"], SAMPLES["negation_ko"]])
    assert len(out) == 2 and out[0].bucket == 32
    with pytest.raises(OutOfRangeError) as exc:
        embedder.embed_batch([SAMPLES["negation_en"], {"metrics": {"acidity": 11}}])
    assert exc.value.field == "records[1].metrics.acidity" and "records[1].metrics.acidity" in str(exc.value)


# --------------------------------------------------------------- threads
def _same_result(a, b) -> bool:
    return (np.array_equal(a.embedding, b.embedding) and a.model_version == b.model_version and a.bucket == b.bucket
            and a.n_tokens == b.n_tokens and list(a.attributes.items()) == list(b.attributes.items())
            and a.warnings == b.warnings and a.timing.total_ms >= a.timing.preprocess_ms + a.timing.inference_ms)


def test_embed_batch_gives_each_record_what_embed_gives_across_chunks(embedder):
    from taste2vec.embedder import BATCH_CHUNK

    good = [r for _, r in sample_records()]
    bad = {"metrics": {"acidity": 11}}
    records = [good[i % len(good)] for i in range(2 * BATCH_CHUNK + 5)]
    for i in (0, BATCH_CHUNK - 1, BATCH_CHUNK, len(records) - 1):  # bad records at both edges of a chunk
        records[i] = bad
    out = embedder.embed_batch(records, errors="return")
    assert len(out) == len(records)
    for r, got in zip(records, out):
        if r is bad:
            assert isinstance(got, OutOfRangeError) and got.field == "metrics.acidity"
        else:
            assert _same_result(got, embedder.embed(r))
    assert embedder.embed_batch([]) == [] and embedder.embed_batch([bad], errors="return")[0].field == "metrics.acidity"
    with pytest.raises(OutOfRangeError) as e:
        embedder.embed_batch(records)
    assert e.value.field == "records[0].metrics.acidity"
    with pytest.raises(OutOfRangeError) as e:
        embedder.embed_batch(records[1:])
    assert e.value.field == f"records[{BATCH_CHUNK - 2}].metrics.acidity"  # the index in the whole list
    with pytest.raises(ValueError, match="errors must be"):
        embedder.embed_batch(good, errors="skip")


def test_attributes_of_many_rows_are_each_rows_own():
    lex = Embedder.create_default().bundle.lexicon
    rng = np.random.default_rng(3)
    rows = ((rng.random((300, lex.dim)) * 2 - 1) * (rng.random((300, lex.dim)) < 0.15)).astype(np.float32)
    rows[5] = 0.0  # no positive weight: no attributes
    rows[9, :3] = 0.5  # ties: the more specific node first, then the lower index
    for k in (1, 3, 8):
        many = lex.top_attributes_many(rows, k)
        assert [list(d.items()) for d in many] == [list(lex.top_attributes(r, k).items()) for r in rows]
        assert many[5] == {} and all(len(d) <= k for d in many)
        assert all(list(d.values()) == sorted(d.values(), reverse=True) for d in many)


def test_eight_threads_give_the_same_vectors_as_one(embedder):
    records = [r for _, r in sample_records()] * 4
    want = [embedder.embed(r).embedding for r in records]
    got: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(t: int) -> None:
        try:
            barrier.wait()
            order = list(range(len(records)))[t:] + list(range(len(records)))[:t]  # different interleavings
            res = {i: embedder.embed(records[i]).embedding for i in order}
            got[t] = [res[i] for i in range(len(records))]
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(embedder._models) >= 8  # one interpreter per thread
    for t in range(8):
        for a, b in zip(got[t], want):
            np.testing.assert_array_equal(a, b)


def test_json_text_is_accepted_as_a_record(embedder):
    rec = SAMPLES["negation_ko"]
    np.testing.assert_array_equal(embedder.embed(json.dumps(rec, ensure_ascii=False)).embedding,
                                  embedder.embed(rec).embedding)
    with pytest.raises(InvalidTypeError, match="not valid JSON") as exc:
        embedder.embed("{notes: bad")
    assert exc.value.field == "record"
    with pytest.raises(InvalidTypeError) as exc:
        embedder.embed("[1, 2]")
    assert exc.value.field == "record"


def test_interpreter_fallback_order_and_clear_error(monkeypatch):
    import sys

    from taste2vec.runtime import RuntimeUnavailableError, interpreter_class

    assert interpreter_class()[1] == "ai_edge_litert"
    for mod in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime", "tflite_runtime.interpreter"):
        monkeypatch.setitem(sys.modules, mod, None)  # import of a None entry raises ImportError
    pytest.importorskip("tensorflow")
    assert interpreter_class()[1] == "tensorflow.lite"
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(RuntimeUnavailableError, match="pip install ai-edge-litert"):
        interpreter_class()


@pytest.mark.parametrize("bad, message", [
    (np.inf, "non-finite"), (-np.inf, "non-finite"), (np.nan, "non-finite"), (0.0, "zero embedding")])
def test_a_non_finite_or_zero_model_output_is_refused_not_normalized(monkeypatch, bad, message):
    from taste2vec.runtime import ModelRuntimeError

    emb = Embedder.create_default()
    real = emb._model().run

    def broken(tensors):
        out = real(tensors).copy()
        if bad == 0.0:
            out[:] = 0.0
        else:
            out[0, 5] = bad
        return out

    monkeypatch.setattr(emb._model(), "run", broken)
    with pytest.raises(ModelRuntimeError, match=message):
        emb.embed(dict(sample_records())["en_washed_ethiopia"])
    if bad != 0.0:  # unnormalized output gets the same check
        raw = Embedder.create_from_options(EmbedderOptions(BaseOptions(model_asset_path=str(default_bundle_path())),
                                                           l2_normalize=False))
        monkeypatch.setattr(raw._model(), "run", broken)
        with pytest.raises(ModelRuntimeError, match=message):
            raw.embed(dict(sample_records())["en_washed_ethiopia"])


def test_model_inputs_are_converted_quantized_or_refused():
    from taste2vec.runtime import ModelRuntimeError, _Feed

    f32 = _Feed.of("lexicon", {"dtype": np.float32, "quantization": (0.0, 0)})
    x = np.arange(4, dtype=np.float32)
    assert f32.array(x) is x  # already the input's dtype: no copy
    assert f32.array([1, 2]).dtype == np.float32
    i8 = _Feed.of("lexicon", {"dtype": np.int8, "quantization": (0.5, 3)})
    assert i8.array(np.array([1.0, -100.0, 100.0, 0.26], np.float32)).tolist() == [5, -128, 127, 4]
    with pytest.raises(ModelRuntimeError, match="without quantization parameters"):
        _Feed.of("lexicon", {"dtype": np.int8, "quantization": (0.0, 0)})
    model = Embedder.create_default()._model()
    inputs = Embedder.create_default().preprocess(dict(sample_records())["en_washed_ethiopia"]).tensors
    with pytest.raises(ModelRuntimeError, match="missing model inputs \\['metrics'\\]"):
        model.run({k: v for k, v in inputs.items() if k != "metrics"})
    with pytest.raises(ModelRuntimeError, match="not one of the model's buckets"):
        model.run({**inputs, "token_ids": np.zeros((1, 5), np.int32)})


@pytest.mark.parametrize("wrong,hint", [
    ([{"notes": "jasmine"}, {"notes": "cocoa"}], "Embedder.embed_batch(records)"),
    (({"notes": "jasmine"},), "Embedder.embed_batch(records)"),
    ("bright jasmine, honey", "for tasting notes alone pass {'notes': text}"),
])
def test_a_wrong_shape_error_points_to_the_right_call(embedder, wrong, hint):
    with pytest.raises(InvalidTypeError) as info:
        embedder.embed(wrong)
    assert info.value.field == "record" and hint in str(info.value)
    assert embedder.embed({"notes": "bright jasmine, honey"}).embedding.shape == (128,)  # the call it points to
