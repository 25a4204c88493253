"""The feedback stream on Spark Structured Streaming (local mode, small and bounded), run as an operator runs it
(the CLI, in its own process): vectors equal the SDK's bit for bit, dead letters accounted, duplicates counted
once, and a job killed mid-stream resumes from its checkpoint with every event applied exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from taste2vec import Embedder
from taste2vec.curation import Catalog
from taste2vec.golden import sample_records
from taste2vec_backend.stream.events import EventSchema
from taste2vec_backend.stream.job import KILL_ENV, batch_summaries
from taste2vec_backend.stream.profiles import ProfileStore, Update, recompute

VERSION = "taste2vec-edge-1.5.0"


def _events(n_files: int = 4, per_file: int = 30, seed: int = 0) -> list[list[dict]]:
    """Files of app events: tastings (some rated), likes / dislikes of catalog coffees and of records, skips, a
    few invalid events and duplicates (the same event again, in the same file or a later one)."""
    rng = np.random.default_rng(seed)
    cat = Catalog.default()
    records = [r for _, r in sample_records()]
    files, all_events = [], []
    for f in range(n_files):
        evs = []
        for i in range(per_file):
            eid = f"e{f}-{i}"
            base = {"event_id": eid, "user_id": f"u{int(rng.integers(0, 6))}", "model_version": VERSION,
                    "ts": f"2026-11-{20 + f:02d}T{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}:00Z",
                    "variant": ["control", "treatment", None][int(rng.integers(0, 3))]}
            kind = int(rng.integers(0, 10))
            if kind < 3:
                ev = {**base, "type": "tasting", "record": records[int(rng.integers(0, len(records)))]}
                if kind == 0:
                    ev["rating"] = int(rng.integers(1, 6))
            elif kind < 7:
                ev = {**base, "type": ["like", "dislike"][kind % 2], "item_id": cat.items[int(rng.integers(0, 40))].id}
            elif kind < 8:
                ev = {**base, "type": "like", "record": records[int(rng.integers(0, len(records)))]}
            elif kind < 9:
                ev = {**base, "type": "skip", "item_id": cat.items[int(rng.integers(0, 40))].id}
            else:  # invalid: each a different field
                ev = [{**base, "type": "like"}, {**base, "type": "tasting", "record": {"metrics": {"acidity": 99}}},
                      {**base, "type": "like", "item_id": "not-in-catalog"}, {**base, "ts": "yesterday",
                                                                              "type": "skip", "item_id": "x"}][i % 4]
            evs.append(ev)
        if all_events:  # duplicates: one from an earlier file, one within this file
            evs.append(all_events[int(rng.integers(0, len(all_events)))])
        evs.append(evs[0])
        if f == n_files - 1:  # a late event: weeks older than everything before it, still applied once
            evs.append({"event_id": "late-1", "user_id": "u0", "ts": "2026-10-01T09:00:00+09:00", "type": "like",
                        "item_id": cat.items[50].id, "model_version": VERSION, "variant": "control"})
        all_events += evs
        files.append(evs)
    return files


def _write(folder: Path, files: list[list[dict]], garbage: bool = True) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    lines = 0
    for i, evs in enumerate(files):
        text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in evs)
        if garbage and i == 1:
            text += "not json at all\n" + json.dumps([1, 2]) + "\n"
        path = folder / f"events-{i:03d}.jsonl"
        path.write_text(text, encoding="utf-8")
        os.utime(path, (1_790_000_000 + i, 1_790_000_000 + i))  # Spark's file source takes the oldest first
        lines += text.count("\n")
    return lines


def _expected(files: list[list[dict]]) -> dict[str, dict]:
    """Per user, by batch recomputation with the SDK: the valid unique events and the profile they make."""
    schema, cat = EventSchema.default(), Catalog.default()
    per_user: dict[str, list[Update]] = {}
    seen: set[str] = set()
    with Embedder.create_default() as emb:
        for evs in files:
            for e in evs:
                try:
                    ev = schema.parse(e)
                except ValueError:
                    continue
                if ev.record is None and ev.feedback is not None and ev.item_id not in cat:
                    continue
                if ev.event_id in seen:
                    continue
                seen.add(ev.event_id)
                vec, attrs = None, {}
                if ev.record is not None:
                    r = emb.embed(ev.record)
                    vec, attrs = r.embedding, r.attributes
                elif ev.feedback is not None:
                    vec, attrs = cat.embedding(ev.item_id), cat.item(ev.item_id).attributes
                per_user.setdefault(ev.user_id, []).append(
                    Update(ev.event_id, ev.ts.timestamp(), ev.feedback, vec, attrs, ev.item_id, VERSION))
    profiles = {u: recompute(ups) for u, ups in per_user.items()}
    # the vectors as the SDK's profile keeps them (it stores each feedback vector re-normalized)
    return {u: {"events": len(ups), "profile": profiles[u],
                "vectors": sorted(f.embedding.tobytes() for f in profiles[u].buffer)}
            for u, ups in per_user.items()}


def _expected_shown(files: list[list[dict]]) -> dict[str, tuple[int, int]]:
    """Per variant: (coffees shown, liked) among the valid unique reactions to catalog coffees."""
    schema, cat = EventSchema.default(), Catalog.default()
    seen, out = set(), {}
    for e in (e for evs in files for e in evs):
        try:
            ev = schema.parse(e)
        except ValueError:
            continue
        if ev.event_id in seen or ev.item_id is None or ev.type == "tasting":
            continue
        if ev.feedback is not None and ev.record is None and ev.item_id not in cat:
            continue
        seen.add(ev.event_id)
        n, likes = out.get(ev.variant or "none", (0, 0))
        out[ev.variant or "none"] = (n + 1, likes + (ev.type == "like"))
    return out


def _expected_ratings(files: list[list[dict]]) -> list[tuple[str, float]]:
    """(user, stars) of the valid unique rated tastings, sorted."""
    schema, seen, out = EventSchema.default(), set(), []
    for e in (e for evs in files for e in evs):
        try:
            ev = schema.parse(e)
        except ValueError:
            continue
        if ev.event_id not in seen and ev.type == "tasting" and ev.feedback is not None:
            out.append((ev.user_id, float(ev.feedback["rating"])))
        seen.add(ev.event_id)
    return sorted(out)


def _check_store(out: Path, expected: dict[str, dict]) -> None:
    store = ProfileStore(out / "profiles")
    assert sorted(store.users()) == sorted(expected)
    for user, want in expected.items():
        got = store.get(user)
        assert got.events == want["events"], user
        assert got.profile.n_events == want["profile"].n_events, user
        # the stream's vectors are the SDK's, bit for bit (records embedded on executors, catalog vectors)
        assert sorted(f.embedding.tobytes() for f in got.profile.buffer) == want["vectors"], user
        np.testing.assert_allclose(got.profile.preference, want["profile"].preference, atol=1e-6, err_msg=user)


def _run_job(tmp: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """The job as an operator runs it: the CLI in its own process (so it can be killed like one)."""
    cmd = [sys.executable, "-m", "taste2vec_backend.lifecycle.cli", "stream", "--events", str(tmp / "events"),
           "--out", str(tmp / "out"), "--checkpoint", str(tmp / "checkpoint"), "--max-files-per-trigger", "1",
           "--master", "local[2]"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


COUNTS = ("batch", "events", "dead_letters", "dead_by_type", "applied", "users", "duplicates", "feedback_rows",
          "pair_rows")


def _sink_rows(out: Path, sink: str) -> dict[str, list[str]]:
    """Per batch folder: the sorted JSON lines of a JSON sink."""
    return {d.name: sorted(x for p in sorted(d.glob("*.json")) for x in p.read_text().splitlines() if x)
            for d in sorted((out / sink).glob("batch=*"))}


def _store_state(out: Path) -> dict[str, tuple]:
    store = ProfileStore(out / "profiles")
    state = {}
    for user in store.users():
        s = store.get(user)
        state[user] = (s.events, s.last_batch, s.recent_ids, s.picks, s.last_applied, s.last_pairs,
                       s.last_duplicates, s.profile.n_events, s.profile.preference.tobytes(),
                       [f.embedding.tobytes() for f in s.profile.buffer])
    return state


@pytest.mark.slow
def test_stream_killed_anywhere_ends_like_an_uninterrupted_run(tmp_path):
    """The job killed like kill -9 inside a batch's profile writes (an executor takes the whole job down after one
    user's file) and after a batch's sinks (before Spark commits it), restarted on the same checkpoint each time:
    every count it reports and every output equals an uninterrupted run's."""
    files = _events()
    clean, chaos = tmp_path / "clean", tmp_path / "chaos"
    lines = _write(clean / "events", files)
    _write(chaos / "events", files)
    run = _run_job(clean)
    assert run.returncode == 0, run.stderr[-3000:]
    for kill in ("1:in-profiles:1", "3:after-sinks"):
        killed = _run_job(chaos, {KILL_ENV: kill})
        assert killed.returncode in (137, -9) and kill.split(":")[1] in killed.stderr, (kill, killed.stderr[-3000:])
    final = _run_job(chaos)
    assert final.returncode == 0, final.stderr[-3000:]
    got, want = batch_summaries(chaos / "out"), batch_summaries(clean / "out")
    assert [{k: s[k] for k in COUNTS} for s in got] == [{k: s[k] for k in COUNTS} for s in want]
    assert [s["batch"] for s in got] == [0, 1, 2, 3] and [s["replayed"] for s in got] == [False, True, False, True]
    for sink in ("dead_letters", "feedback"):
        assert _sink_rows(chaos / "out", sink) == _sink_rows(clean / "out", sink), sink
    assert _store_state(chaos / "out") == _store_state(clean / "out")
    _check_store(chaos / "out", _expected(files))
    # every line is accounted: a valid event (applied once, or a counted duplicate) or a dead letter
    dead = [json.loads(x) for rows in _sink_rows(chaos / "out", "dead_letters").values() for x in rows]
    assert sum(s["events"] for s in got) == lines
    assert len(dead) == sum(s["dead_letters"] for s in got) > 0
    assert {d["error_type"] for d in dead} >= {"MissingFieldError", "OutOfRangeError", "UnknownItemError",
                                                "InvalidTypeError"}
    assert {d["error_field"] for d in dead} >= {"item_id", "record.metrics.acidity", "ts", "event"}
    assert sum(s["duplicates"] for s in got) >= len(files) and sum(s["pair_rows"] for s in got) > 0
    assert sum(s["feedback_rows"] for s in got) == sum(len(r) for r in _sink_rows(chaos / "out", "feedback").values())
    assert "late-1" in ProfileStore(chaos / "out" / "profiles").get("u0").recent_ids
    assert not list((chaos / "out" / "profiles").glob("*/.tmp-*"))
    # the A/B analyzer reads the feedback sink as it is (a folder of part files), each reaction counted once
    from taste2vec_backend.lifecycle.commands.common import read_jsonl as _jsonl
    from taste2vec_backend.lifecycle.experiment import arm_metrics

    arms = arm_metrics(_jsonl(str(chaos / "out" / "feedback")), "stream")
    assert {v: (a["like_rate"].n, a["like_rate"].successes) for v, a in arms.items()} == _expected_shown(files)
    rows = [json.loads(x) for rows in _sink_rows(chaos / "out", "feedback").values() for x in rows]
    assert sorted((r["user_id"], r["value"]) for r in rows if r["type"] == "rating") == _expected_ratings(files) != []


def test_kafka_without_its_connector_is_a_clear_error(tmp_path, capsys):
    from taste2vec_backend.lifecycle.cli import main

    rc = main(["stream", "--source", "kafka", "--bootstrap-servers", "127.0.0.1:9", "--topic", "events",
               "--events", str(tmp_path / "e"), "--out", str(tmp_path / "o"), "--checkpoint", str(tmp_path / "c"),
               "--master", "local[1]"])
    assert rc == 2 and "spark-sql-kafka" in capsys.readouterr().err


def test_one_job_per_checkpoint_and_output_folder(tmp_path):
    """A second job on the same checkpoint or output folder stops at once with the holder named, before Spark
    starts (exit 2, one line); a killed holder's lock is taken over; a released one is free again."""
    from taste2vec_backend.stream.job import JobLock, JobLockError, StreamConfig

    cfg = StreamConfig(events=str(tmp_path / "events"), out=str(tmp_path / "out"), checkpoint=str(tmp_path / "ck"))
    held = JobLock(cfg)
    with pytest.raises(JobLockError, match=rf"in use by another stream job \(pid {os.getpid()} on"):
        JobLock(cfg)
    other_ck = StreamConfig(events=cfg.events, out=cfg.out, checkpoint=str(tmp_path / "ck2"))
    with pytest.raises(JobLockError, match="out"):  # the same output folder behind another checkpoint
        JobLock(other_ck)
    p = _run_job(tmp_path, timeout=60)  # the CLI, while this process holds the folders
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "in use by another stream job" in p.stderr
    held.release()
    JobLock(cfg).release()
    # a holder killed like kill -9 leaves its lock file, and the OS has dropped its lock
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from taste2vec_backend.stream.job import "
                               "JobLock, StreamConfig; JobLock(StreamConfig(*sys.argv[1:4])); print('held', "
                               "flush=True); time.sleep(60)", cfg.events, cfg.out, cfg.checkpoint],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(JobLockError, match=f"pid {holder.pid} "):
            JobLock(cfg)
    finally:
        holder.kill()
        holder.wait(30)
    JobLock(cfg).release()
