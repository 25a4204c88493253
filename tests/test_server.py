"""The inference server, as clients see it: a real `taste2vec-serve` process on a free loopback port.

Every route, every error code (401 404 405 409 413 422 429 503-free), parity with the SDK (bit-identical vectors),
hostile bodies that must never produce a 500, Prometheus metrics, and reload under load without a failed request.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time

import httpx
import numpy as np
import pytest

from taste2vec import Embedder
from taste2vec.curation import Catalog, recommend
from taste2vec.golden import sample_records
from taste2vec.profile import TasteProfile
from taste2vec_backend.server.loadtest import ServerProcess

KEY = "test-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
MAX_RECORDS, MAX_QUEUE, MAX_BODY = 8, 16, 64 * 1024


@pytest.fixture(scope="module")
def server():
    """The shipped bundle behind one worker process, with an API key and small limits (so 413 / 429 are cheap)."""
    with ServerProcess(["--workers", "1", "--max-records", str(MAX_RECORDS), "--max-queue", str(MAX_QUEUE),
                        "--max-body-bytes", str(MAX_BODY)], env={"TASTE2VEC_API_KEY": KEY}) as srv:
        with httpx.Client(base_url=srv.url, headers=AUTH, timeout=30) as client:
            yield srv, client
        assert "Traceback" not in srv.stderr(), srv.stderr()[-3000:]


@pytest.fixture(scope="module")
def sdk():
    with Embedder.create_default() as e:
        yield e


def _vec(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


# ---------------------------------------------------------------------- routes
def test_health_info_and_the_api_key(server):
    srv, client = server
    h = httpx.get(srv.url + "/health")  # no key needed
    assert h.status_code == 200 and h.json()["ready"] is True
    version = h.json()["model_version"]
    for path in ("/info", "/metrics"):
        assert httpx.get(srv.url + path).status_code == 401
        assert httpx.get(srv.url + path, headers={"X-API-Key": KEY[:-1] + "x"}).status_code == 401
    r = httpx.post(srv.url + "/embed", json={"record": {"notes": "x"}}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "Unauthorized"
    assert httpx.get(srv.url + "/info", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    info = client.get("/info").json()
    assert info["model"]["model_version"] == version
    assert info["model"]["record_spec"]["version"] == "1.1.0"
    assert [s["name"] for s in info["model"]["signatures"]] == [f"embed_{b}{c}" for b in (16, 32, 64, 128) for c in ("", "_c0")]
    assert info["server"]["api_key"] is True and KEY not in json.dumps(info)
    assert info["server"]["max_records"] == MAX_RECORDS and info["catalog"]["items"] > 0
    assert client.get("/nope").status_code == 404
    assert client.get("/embed").status_code == 405


def test_embed_is_bit_identical_to_the_sdk(server, sdk):
    _, client = server
    samples = sample_records()
    for i in range(0, len(samples), MAX_RECORDS):
        chunk = samples[i:i + MAX_RECORDS]
        r = client.post("/embed", json={"records": [rec for _, rec in chunk], "quantize": True})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model_version"] == sdk.model_version and body["dim"] == 128
        for (name, rec), got in zip(chunk, body["data"]):
            want = sdk.embed(rec)
            assert np.array_equal(_vec(got["embedding"]), want.embedding), name  # float32 exact over JSON
            assert np.array_equal(np.asarray(got["quantized_embedding"], np.int8),
                                  want.quantized_embedding if want.quantized_embedding is not None
                                  else np.round(want.embedding * 127).astype(np.int8)), name
            assert got["bucket"] == want.bucket and got["warnings"] == list(want.warnings), name
            assert got["attributes"] == pytest.approx(want.attributes), name
    one = client.post("/embed", json={"record": samples[0][1]}).json()
    assert len(one["data"]) == 1 and "quantized_embedding" not in one["data"][0]
    bare = client.post("/embed", json=[samples[0][1]]).json()
    assert bare["data"][0]["embedding"] == one["data"][0]["embedding"]


def test_similar_and_recommend_match_the_sdk(server, sdk):
    _, client = server
    a, b = dict(sample_records())["en_washed_ethiopia"], dict(sample_records())["en_dark_roast_espresso"]
    r = client.post("/similar", json={"a": a, "b": b}).json()
    assert r["cosine_similarity"] == pytest.approx(Embedder.cosine_similarity(sdk.embed(a), sdk.embed(b)), abs=1e-6)
    cat = Catalog.default()
    near = client.post("/similar", json={"a": a, "k": 3}).json()["similar"]
    assert [h["item"]["id"] for h in near] == [it.id for it, _ in cat.similar(sdk.embed(a).embedding, 3)]

    liked_id = cat.items[0].id
    body = {"liked": [a, liked_id], "disliked": [b], "ratings": [{"item": cat.items[1].id, "stars": 2}], "k": 4,
            "diversity": 0.2}
    got = client.post("/recommend", json=body)
    assert got.status_code == 200, got.text
    profile = TasteProfile(128)
    for rec, liked in ((a, True), (b, False)):
        res = sdk.embed(rec)
        profile.add_feedback(res, liked=liked, attributes=res.attributes)
    profile.add_feedback(cat.embedding(liked_id), liked=True, item_id=liked_id, attributes=cat.item(liked_id).attributes)
    profile.add_feedback(cat.embedding(cat.items[1].id), rating=2, item_id=cat.items[1].id,
                         attributes=cat.items[1].attributes)
    want = recommend(profile, cat, k=4, exclude={liked_id, cat.items[1].id}, diversity=0.2)
    assert [p["item"]["id"] for p in got.json()["recommendations"]] == [p.item.id for p in want]
    assert got.json()["feedback_events"] == 4
    # a saved profile works the same, and a profile of another model is a conflict, not a crash
    saved = client.post("/recommend", json={"profile": profile.to_dict(), "k": 4}).json()["recommendations"]
    plain = recommend(profile, cat, k=4, exclude={liked_id, cat.items[1].id})  # rated items skipped, as in the CLI
    assert [p["item"]["id"] for p in saved] == [p.item.id for p in plain]
    other = profile.to_dict() | {"model_version": "taste2vec-edge-0.0.1"}
    assert client.post("/recommend", json={"profile": other}).status_code == 409


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("body, status, field, type_", [
    ({"records": [{"notes": "ok"}, {"notes": "x", "metrics": {"acidity": 70}}]}, 422, "records[1].metrics.acidity",
     "OutOfRangeError"),
    ({"record": {"notes": 5}}, 422, "record.notes", "InvalidTypeError"),
    ({"record": {"notez": "x"}}, 422, "record.notez", "UnknownFieldError"),
    ({"records": [{"notes": "x"}], "extra": 1}, 422, "extra", "InvalidRequest"),
    ({"records": []}, 422, "records", "InvalidRequest"),
    ({"record": {}, "records": []}, 422, "body", "InvalidRequest"),
    ({"records": {"notes": "x"}}, 422, "records", "InvalidRequest"),
    ({"record": {"notes": "x"}, "quantize": "yes"}, 422, "quantize", "InvalidRequest"),
    ({"records": [{"notes": "x"}] * (MAX_RECORDS + 1)}, 413, "records", "TooManyRecords"),
    ({"record": {"notes": "x" * (MAX_BODY + 10)}}, 413, "body", "PayloadTooLarge"),
])
def test_embed_errors_name_the_field(server, body, status, field, type_):
    _, client = server
    r = client.post("/embed", json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["field"] == field and err["type"] == type_ and field.split(".")[0] in err["message"]


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[NaN]", b'{"record": {"notes": "x", "metrics": '
                                 b'{"acidity": Infinity}}}', b"[" * 100 + b"]" * 100, b'"just a string"', b"12"])
def test_malformed_bodies_are_422(server, raw):
    _, client = server
    r = client.post("/embed", content=raw)
    assert r.status_code == 422 and r.json()["error"]["field"] == "body", (raw[:30], r.text)


def test_similar_and_recommend_errors(server):
    _, client = server
    cases = [("/similar", {"b": {"notes": "x"}}, 422, "a"),
             ("/similar", {"a": {"notes": "x"}, "b": {"notes": "y"}, "k": 3}, 422, "k"),
             ("/similar", {"a": {"notes": "x"}, "k": 0}, 422, "k"),
             ("/similar", {"a": {"notes": "x"}, "b": {"metrics": {"body": -1}}}, 422, "b.metrics.body"),
             ("/similar", {"a": {"notes": "x"}, "exclude": "cr-1"}, 422, "exclude"),
             ("/similar", {"a": {"notes": "x"}, "exclude": ["c"] * 10_001}, 422, "exclude"),
             ("/similar", {"a": {"notes": "x"}, "exclude": ["cr-1", None]}, 422, "exclude[1]"),
             ("/recommend", {"liked": [{"notes": "x"}], "exclude": ["cr-1", ""]}, 422, "exclude[1]"),
             ("/recommend", {}, 422, "body"),
             ("/recommend", {"liked": ["no-such-coffee"]}, 422, "liked[0]"),
             ("/recommend", {"liked": [3]}, 422, "liked[0]"),
             ("/recommend", {"disliked": [{"notes": "x", "context": [{"hour": 25}]}]}, 422,
              "disliked[0].context[0].hour"),
             ("/recommend", {"ratings": [{"item": "x", "stars": 9}]}, 422, "ratings[0].stars"),
             ("/recommend", {"liked": [{"notes": "x"}], "diversity": 2}, 422, "diversity"),
             ("/recommend", {"profile": {"format": "nope"}}, 422, "profile"),
             ("/recommend", {"liked": ["a"] * (MAX_RECORDS + 1)}, 413, "feedback")]
    for path, body, status, field in cases:
        r = client.post(path, json=body)
        assert r.status_code == status and r.json()["error"]["field"] == field, (path, body, r.text)


def _hostile(rng: random.Random, depth: int = 0):
    """Random JSON: right-looking records with wrong parts, and plain junk."""
    leaf = [None, True, -1, 0, 1e308, -1e308, 2 ** 70, "", "x" * rng.randint(0, 300), "🙂\u0000\ud7ff", [], {}]
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(leaf)
    if rng.random() < 0.5:
        keys = ["notes", "metrics", "context", "acidity", "hour", "weekday", "record", "records", "a", "b", "k",
                "liked", "ratings", "profile", "stars", "item", "quantize", "", "\u00e9"]
        return {rng.choice(keys): _hostile(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [_hostile(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def test_hostile_bodies_never_produce_a_500(server):
    srv, client = server
    rng = random.Random(15)
    statuses: dict[int, int] = {}
    for i in range(600):
        path = ("/embed", "/similar", "/recommend")[i % 3]
        body = _hostile(rng)
        if i % 4 == 0:  # wrapped the way each route expects, so the inner parts get validated too
            body = {"/embed": {"records": [body]}, "/similar": {"a": body, "k": 2},
                    "/recommend": {"liked": [body]}}[path]
        r = client.post(path, content=json.dumps(body, allow_nan=False).encode())
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code < 500, (path, body, r.text)
        assert "error" in r.json() or r.status_code == 200
    assert statuses.get(422, 0) > 300 and set(statuses) <= {200, 409, 413, 422}, statuses
    assert client.get("/health").status_code == 200


def test_a_full_queue_is_429_with_retry_after(server):
    srv, _ = server
    body = json.dumps({"records": [r for _, r in sample_records()][:MAX_RECORDS]}).encode()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=srv.url, headers=AUTH, timeout=30) as c:
            return await asyncio.gather(*(c.post("/embed", content=body) for _ in range(24)))

    results = asyncio.run(burst())
    codes = [r.status_code for r in results]
    assert set(codes) <= {200, 429} and codes.count(200) >= 2 and codes.count(429) >= 1, codes
    refused = next(r for r in results if r.status_code == 429)
    assert refused.json()["error"]["type"] == "Overloaded" and refused.headers["retry-after"] == "1"


def test_metrics_count_requests_batches_and_errors(server):
    _, client = server
    assert client.post("/embed", json={"record": {"notes": "x"}}).status_code == 200
    client.post("/embed", json={"record": {"notes": "x", "metrics": {"acidity": 99}}})
    httpx.post(str(client.base_url) + "/embed", json={"record": {"notes": "x"}})  # no key
    text = client.get("/metrics").text
    assert 'taste2vec_requests_total{route="/embed",status="200"}' in text
    assert 'taste2vec_errors_total{type="OutOfRangeError"}' in text
    assert 'taste2vec_errors_total{type="Unauthorized"}' in text
    assert "taste2vec_batch_size_bucket" in text and "taste2vec_queue_depth" in text
    assert 'taste2vec_request_duration_seconds_bucket{le="0.005",route="/embed"}' in text
    assert 'taste2vec_model_info{model_version="taste2vec-edge-' in text


# ---------------------------------------------------------------------- the command line
def test_the_server_binds_loopback_only_and_refuses_bad_bundles(tmp_path):
    from taste2vec_backend.server.cli import main

    assert main(["--host", "::", "--port", "0"]) == 2  # every interface (IPv6 wildcard): refused
    bad = tmp_path / "bundle"
    bad.mkdir()
    (bad / "manifest.json").write_text("{}")
    assert main(["--model", str(bad), "--port", "0"]) == 2
    assert main(["--port", "0", "--max-records", "0"]) == 2


# ---------------------------------------------------------------------- reload under load
@pytest.mark.parametrize("workers", [0, 1])
def test_reload_under_load_drops_no_request(make_bundle, tmp_path, signing_key, workers):
    from taste2vec_backend.lifecycle.stages import StagedRegistry

    reg = StagedRegistry(tmp_path / "reg", trusted_keys=(signing_key[1],))
    for v in ("1.0.0", "1.1.0"):
        reg.register(make_bundle(v).path)
        reg.transition("taste2vec-test", v, "staging")
    reg.promote("taste2vec-test", "1.0.0")
    args = ["--registry", str(tmp_path / "reg"), "--name", "taste2vec-test", "--trusted-key", str(signing_key[1]),
            "--workers", str(workers)]
    with ServerProcess(args) as srv:
        stop = threading.Event()
        seen: list[tuple[int, str | None]] = []

        def load() -> None:
            with httpx.Client(base_url=srv.url, timeout=30) as c:
                i = 0
                while not stop.is_set():
                    r = c.post("/embed", json={"records": [{"notes": f"bright jasmine {i}"}] * 4})
                    seen.append((r.status_code, r.json().get("model_version")))
                    i += 1

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            with httpx.Client(base_url=srv.url, timeout=120) as c:
                assert c.post("/admin/reload").json() == {"reloaded": False, "model_version": "taste2vec-test-1.0.0"}
                reg.promote("taste2vec-test", "1.1.0")
                r = c.post("/admin/reload")
                assert r.status_code == 200 and r.json()["reloaded"] is True, r.text
                assert r.json()["previous"] == "taste2vec-test-1.0.0"
                time.sleep(0.5)
                # no catalog for this model: recommending is a clear conflict, not a crash
                rec = c.post("/recommend", json={"liked": [{"notes": "x"}]})
                assert rec.status_code == 409 and rec.json()["error"]["type"] == "CatalogUnavailable"
                # a broken production bundle is refused and the old one keeps serving
                (tmp_path / "reg" / "taste2vec-test-1.0.0" / "model.tflite").write_bytes(b"broken")
                reg.rollback("taste2vec-test")
                bad = c.post("/admin/reload")
                assert bad.status_code == 409 and bad.json()["error"]["type"] == "ReloadRefused"
                assert c.get("/health").json()["model_version"] == "taste2vec-test-1.1.0"
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert "Traceback" not in srv.stderr(), srv.stderr()[-3000:]
    codes = {s for s, _ in seen}
    versions = [v for _, v in seen]
    assert codes == {200}, codes
    assert versions[0] == "taste2vec-test-1.0.0" and versions[-1] == "taste2vec-test-1.1.0"
    assert len(seen) > 20


def test_watch_reloads_when_production_changes(make_bundle, tmp_path, signing_key):
    from taste2vec_backend.lifecycle.stages import StagedRegistry

    reg = StagedRegistry(tmp_path / "reg", trusted_keys=(signing_key[1],))
    for v in ("1.0.0", "1.1.0"):
        reg.register(make_bundle(v).path)
        reg.transition("taste2vec-test", v, "staging")
    reg.promote("taste2vec-test", "1.0.0")
    with ServerProcess(["--registry", str(tmp_path / "reg"), "--name", "taste2vec-test", "--trusted-key",
                        str(signing_key[1]), "--workers", "0", "--watch", "0.2"]) as srv:
        reg.promote("taste2vec-test", "1.1.0")
        deadline = time.monotonic() + 30
        version = None
        while time.monotonic() < deadline:
            version = httpx.get(srv.url + "/health").json()["model_version"]
            if version == "taste2vec-test-1.1.0":
                break
            time.sleep(0.1)
        assert version == "taste2vec-test-1.1.0"
        metrics = httpx.get(srv.url + "/metrics").text
        assert 'taste2vec_reloads_total{result="swapped"} 1.0' in metrics


def test_a_killed_worker_costs_one_retry_not_the_server():
    import os
    import signal

    with ServerProcess(["--workers", "1"]) as srv:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            assert c.post("/embed", json={"record": {"notes": "x"}}).status_code == 200
            children = [int(p) for p in
                        open(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read().split()]
            workers = [p for p in children if b"multiprocessing.spawn" in open(f"/proc/{p}/cmdline", "rb").read()]
            assert workers, children
            for p in workers:
                os.kill(p, signal.SIGKILL)
            time.sleep(0.5)
            codes = [c.post("/embed", json={"record": {"notes": "x"}}).status_code for _ in range(3)]
            assert codes[0] in (200, 503) and codes[-1] == 200, codes
            r503 = [c for c in codes if c == 503]
            assert len(r503) <= 1, codes
        assert srv.stop() == 130  # a graceful shutdown on SIGINT (128 + 2), not killed
    assert "Traceback" not in srv.stderr(), srv.stderr()[-3000:]


def test_a_damaged_registry_is_reported_and_survived(make_bundle, tmp_path, signing_key):
    """stages.json turned into garbage: /admin/reload is a typed 409 (not a 500), the watcher keeps running and says
    so in /health and /metrics, serving continues, and once the file is repaired the next promotion is picked up."""
    from taste2vec_backend.lifecycle.stages import STAGES_FILE, StagedRegistry

    root = tmp_path / "reg"
    reg = StagedRegistry(root, trusted_keys=(signing_key[1],))
    for v in ("1.0.0", "1.1.0"):
        reg.register(make_bundle(v).path)
        reg.transition("taste2vec-test", v, "staging")
    reg.promote("taste2vec-test", "1.0.0")
    good = (root / STAGES_FILE).read_text()
    with ServerProcess(["--registry", str(root), "--name", "taste2vec-test", "--trusted-key", str(signing_key[1]),
                        "--workers", "0", "--watch", "0.2"]) as srv:
        for damaged in ('{"format": "taste2vec.stages/1", "models": []}',
                        '{"format": "taste2vec.stages/1", "models": {"taste2vec-test": "x"}}',
                        '{"format": "taste2vec.stages/1", "models": {"taste2vec-test": {"stages": []}}}'):
            (root / STAGES_FILE).write_text(damaged)
            r = httpx.post(srv.url + "/admin/reload")
            assert r.status_code == 409 and r.json()["error"]["type"] == "ReloadRefused", r.text
            time.sleep(0.5)
            h = httpx.get(srv.url + "/health").json()
            assert h["status"] == "degraded" and "StageError" in h["source_error"] and h["ready"], h
            assert "taste2vec_source_ok 0.0" in httpx.get(srv.url + "/metrics").text
            assert httpx.post(srv.url + "/embed", json={"record": {"notes": "jasmine"}}).status_code == 200
        (root / STAGES_FILE).write_text(good)
        reg.promote("taste2vec-test", "1.1.0")
        deadline, h = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            h = httpx.get(srv.url + "/health").json()
            if h.get("model_version") == "taste2vec-test-1.1.0":
                break
            time.sleep(0.1)
        assert h["model_version"] == "taste2vec-test-1.1.0" and h["status"] == "ok", h
        assert "taste2vec_source_ok 1.0" in httpx.get(srv.url + "/metrics").text
    assert "Traceback" not in srv.stderr() and "shutdown failed" not in srv.stderr(), srv.stderr()[-3000:]


def test_the_openai_embeddings_api_gives_the_sdks_vectors(server, sdk):
    import base64

    srv, client = server
    rec = {"notes": "밝은 산미, jasmine", "metrics": {"acidity": 7.5}}
    r = client.post("/v1/embeddings", json={"input": ["bright jasmine", rec], "model": "taste2vec-edge"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and body["model"] == sdk.model_version
    assert [d["index"] for d in body["data"]] == [0, 1] and all(d["object"] == "embedding" for d in body["data"])
    want = [sdk.embed({"notes": "bright jasmine"}), sdk.embed(rec)]
    for d, w in zip(body["data"], want):
        assert np.array_equal(_vec(d["embedding"]), w.embedding)
    assert body["usage"] == {"prompt_tokens": sum(w.n_tokens for w in want), "total_tokens": sum(w.n_tokens for w in want)}
    b64 = client.post("/v1/embeddings", json={"input": "bright jasmine", "encoding_format": "base64"}).json()
    assert np.array_equal(np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), "<f4"), want[0].embedding)
    for bad, status, field in (({"input": []}, 422, "input"), ({"input": "x", "encoding_format": "int8"}, 422,
                                                                "encoding_format"),
                               ({"input": "x", "dimensions": 64}, 422, "dimensions"),
                               ({"input": "x", "model": "text-embedding-3-small"}, 404, "model"),
                               ({"input": [{"metrics": {"acidity": 11}}]}, 422, "input[0].metrics.acidity"),
                               ({"input": ["x"] * (MAX_RECORDS + 1)}, 413, "input")):
        r = client.post("/v1/embeddings", json=bad)
        assert r.status_code == status and r.json()["error"].get("field") == field, (bad, r.text)


def test_every_inference_answer_says_where_its_time_went(server):
    srv, client = server
    r = client.post("/embed", json={"records": [{"notes": "jasmine"}, {"notes": "dark chocolate"}]})
    assert r.status_code == 200
    t = {k: float(r.headers[f"x-{k}-time"]) for k in ("queue", "preprocess", "inference", "total")}
    assert all(v >= 0 for v in t.values()) and t["preprocess"] + t["inference"] > 0, t
    assert t["queue"] + t["preprocess"] + t["inference"] <= t["total"] * 1.5 + 1, t  # parts of the whole (rounded)
    metrics = client.get("/metrics").text
    for name in ("taste2vec_queue_seconds", "taste2vec_preprocess_seconds", "taste2vec_inference_seconds"):
        assert f'{name}_count{{route="/embed"}}' in metrics, name
    assert "taste2vec_active_requests" in metrics


def test_a_body_streamed_without_content_length_is_cut_off_at_the_limit(server):
    """Chunked transfer (no Content-Length to check up front): the limit holds while reading, 413 not 500."""
    srv, _ = server
    sent = []

    def chunks():
        for _ in range(MAX_BODY // 4096 * 4):  # 4x the limit, 4 KB at a time
            sent.append(4096)
            yield b" " * 4096

    r = httpx.post(srv.url + "/embed", content=chunks(), headers={**AUTH, "content-type": "application/json"},
                   timeout=30)
    assert r.status_code == 413 and r.json()["error"]["type"] == "PayloadTooLarge", r.text[:300]
    assert "content-length" not in {k.lower() for k in r.request.headers}


def test_a_sigint_shutdown_exits_130_however_uvicorn_ends():
    """uvicorn re-raises the SIGINT it handled; that can end as a KeyboardInterrupt or as a cancelled main task and a
    normal return (the race behind a once-flaky 0). Either way the exit status is 130; no signal, 0."""
    import signal
    import types

    from taste2vec_backend.server import cli

    class FakeServer:
        def __init__(self, config):
            self.config = config

        def handle_exit(self, sig, frame):
            pass

        def run(self, sockets):
            self.handle_exit(signal.SIGINT, None)  # the shutdown, then a normal return

    fake = types.SimpleNamespace(Server=FakeServer)
    assert cli._serve(fake, None, None) == 130
    FakeServer.run = lambda self, sockets: None
    assert cli._serve(fake, None, None) == 0
