"""Bring-your-own records: every bad line is refused with its line number and field; good files train."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taste2vec_reference.records_file import MAX_LINE_BYTES, RecordsFileError, parse_line, read_records

GOOD = {"item_id": "lot-1", "user_id": "u1", "liked": True, "notes": "bright jasmine", "metrics": {"acidity": 8}}


def write(tmp_path, rows):
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    return path


def test_a_good_line_parses_with_labels():
    r = parse_line(json.dumps(GOOD))
    assert (r.item_id, r.user_id, r.liked) == ("lot-1", "u1", True)
    assert r.record.metrics == {"acidity": 8.0} and r.record.notes == "bright jasmine"
    assert parse_line(json.dumps({"item_id": 42})).item_id == "42"
    assert parse_line(json.dumps({"item_id": "x", "rating": 8.5})).liked is True
    assert parse_line(json.dumps({"item_id": "x", "rating": 2})).liked is False
    assert parse_line(json.dumps({"item_id": "x", "rating": 5})).liked is None


@pytest.mark.parametrize("row, field, words", [
    ({**GOOD, "metrics": {"temperature": 120}}, "metrics.temperature", "[0, 100]"),
    ({**GOOD, "metrics": {"acidity": float("nan")}}, "metrics.acidity", "not finite"),
    ({**GOOD, "context": [{"hour": 25}]}, "context[0].hour", "out of range"),
    ({**GOOD, "colour": "red"}, "colour", "unknown record field"),
    ({k: v for k, v in GOOD.items() if k != "item_id"}, "item_id", "missing"),
    ({**GOOD, "item_id": ""}, "item_id", "empty or too long"),
    ({**GOOD, "item_id": True}, "item_id", "expected a string"),
    ({**GOOD, "user_id": ["u"]}, "user_id", "expected a string"),
    ({**GOOD, "liked": "yes"}, "liked", "true or false"),
    ({**GOOD, "liked": None, "rating": 11}, "rating", "[0, 10]"),
    ("{not json", "record", "not a JSON object"),
    ("[1, 2]", "record", "expected a JSON object"),
    ('{"item_id": "a", "metrics": {"acidity": 1' + "0" * 400 + '}}', "metrics.acidity", "out of range"),
    ('{"item_id": "a", "notes": ' + "[" * 100000 + "]" * 100000 + "}", "record", ""),
])
def test_bad_lines_name_line_and_field(tmp_path, row, field, words):
    path = write(tmp_path, [GOOD, GOOD, row])
    with pytest.raises(RecordsFileError) as e:
        read_records(path)
    assert e.value.line == 3 and e.value.field == field, e.value
    assert f"{path}:3:" in str(e.value) and words in str(e.value)


def test_skip_invalid_counts_and_keeps_going(tmp_path):
    path = write(tmp_path, [GOOD, {**GOOD, "metrics": {"brew_time": -1}}, "", "oops", {**GOOD, "item_id": "lot-2"}])
    rf = read_records(path, skip_invalid=True)
    assert [r.line for r in rf.records] == [1, 5]
    assert [(e.line, e.field) for e in rf.skipped] == [(2, "metrics.brew_time"), (4, "record")]
    assert rf.summary()["skipped"] == 2 and rf.summary()["items"] == 2
    assert rf.sha256 == __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_cli_reports_the_bad_line_and_exits_2(tmp_path, capsys):
    from taste2vec_reference.cli import main

    path = write(tmp_path, [GOOD, {**GOOD, "context": [{"weekday": "someday"}]}])
    assert main(["train", "--records", str(path), "--out", str(tmp_path / "run"), "--no-real", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: context[0].weekday: unknown category 'someday'" in err and "--skip-invalid" in err


def test_validate_lists_every_bad_line_and_counts_without_training(tmp_path, capsys):
    from taste2vec_reference.cli import main

    rows = [GOOD, {**GOOD, "metrics": {"acidity": 42}}, "not json", {"notes": "no id"}, {**GOOD, "rating": 11},
            {**GOOD, "item_id": "lot-2"}]
    path = write(tmp_path, rows)
    assert main(["validate", "--records", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"{path}:2: metrics.acidity: value 42 is out of range (allowed: a finite number in "
                                "[0, 10])", f"{path}:3: record: not a JSON object (Expecting value: line 1 "
                                "column 1 (char 0))", f"{path}:4: item_id: missing (allowed: a non-empty string or "
                                "an integer of at most 200 characters)", f"{path}:5: rating: value 11 is out of range "
                                "(allowed: a finite number in [0, 10])"]
    s = json.loads(out)
    assert (s["records"], s["skipped"], s["items"], s["valid"]) == (2, 4, 2, False)
    assert s["skipped_by_field"] == {"metrics.acidity": 1, "record": 1, "item_id": 1, "rating": 1}
    assert s["problem"].startswith("no item has two records")
    good = write(tmp_path, [GOOD, GOOD])
    assert main(["validate", "--records", str(good)]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    only_bad = write(tmp_path, ["[]"])
    assert main(["validate", "--records", str(only_bad), "--max-lines", "0"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["problem"].startswith("no valid records") and "1 more bad lines" in err
    assert not (tmp_path / "run").exists()


def test_long_lines_binary_and_empty_files_are_refused(tmp_path):
    with pytest.raises(RecordsFileError, match="longer than"):
        parse_line(json.dumps({**GOOD, "notes": "x" * MAX_LINE_BYTES}))
    path = tmp_path / "bin.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n\xff\xfe\n")
    with pytest.raises(RecordsFileError, match="utf-8") as e:
        read_records(path)
    assert e.value.line == 2
    with pytest.raises(RecordsFileError, match="no valid records"):
        read_records(write(tmp_path, ["", "  "]))
    with pytest.raises(FileNotFoundError):
        read_records(tmp_path / "missing.jsonl")


def test_split_is_by_item_and_stable(tmp_path):
    rows = [{"item_id": f"lot-{i % 40}", "notes": f"note {i}"} for i in range(400)]
    rf = read_records(write(tmp_path, rows))
    split_of_item = {}
    for r in rf.records:
        assert split_of_item.setdefault(r.item_id, r.split) == r.split
    counts = {s: sum(v == s for v in split_of_item.values()) for s in ("train", "val", "test")}
    assert counts["train"] > counts["test"] > 0 and counts["val"] > 0
    assert read_records(write(tmp_path, rows)).records[7].split == rf.records[7].split


def test_generated_file_trains_and_the_loss_falls(tmp_path, featurizer, lexicon):
    """The synthetic world writes an app log; training on it lowers the records' contrastive loss."""
    from taste2vec.features import FeatureExtractor
    from taste2vec_reference.evaluate import RecordsEval, records_metrics, embed
    from taste2vec_reference.synthetic import TasteWorld, WorldConfig
    from taste2vec_reference.text_tuning import TextTuneConfig
    from taste2vec_reference.train import TrainConfig, build_training_data, train

    world = TasteWorld(WorldConfig(n_coffees=80, n_users=30), lexicon)
    path = write(tmp_path, list(world.labelled_records(20, per_split=9)))
    cfg = TrainConfig(world=WorldConfig(n_coffees=100, n_users=20), pool_per_coffee=3, batch_coffees=32, batch_users=8,
                      use_real_reviews=False, text=TextTuneConfig(layers=0), records=str(path), steps=60,
                      log_every=1, checkpoint_every=1000)
    rf = read_records(path)
    data = build_training_data(cfg, TasteWorld(cfg.world, lexicon), featurizer, FeatureExtractor(lexicon), rf)
    assert data.records and data.records_file["sha256"] == rf.sha256 and data.records_file["records"] == len(rf.records)
    model, hist = train(cfg, tmp_path / "run", resume=False, progress=False, data=data, featurizer=featurizer)
    first = np.mean([h["records"] for h in hist[:5]])
    last = np.mean([h["records"] for h in hist[-5:]])
    assert last < 0.8 * first, (first, last)
    held = RecordsEval.build(rf, FeatureExtractor(lexicon), featurizer)
    res = records_metrics(lambda p: embed(model, p), held)
    assert res["records_retrieval"]["gallery"] >= 2 and 0 <= res["records_retrieval"]["recall@10"] <= 1
