"""Real-data loaders on small files written by the test: split by coffee, halves, CQI filtering."""

from __future__ import annotations

import csv

from taste2vec_reference.real_data import load_cqi, load_reviews, split_of


def test_reviews_split_by_coffee_and_halves(tmp_path):
    path = tmp_path / "reviews.csv"
    rows = []
    for i in range(40):
        for rep in range(2):  # every coffee reviewed twice
            rows.append({"name": f"Coffee {i}", "roaster": "R", "roast": "Light" if i % 2 else "Weird",
                         "loc_country": "X", "origin_1": "Kenya", "origin_2": "", "100g_USD": "1",
                         "rating": str(90 + rep), "review_date": "", "desc_1":
                         f"Bright and juicy. Blackcurrant, lime. Syrupy body; long finish {rep}."})
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    reviews = load_reviews(path)
    assert len(reviews) == 80
    by_key = {}
    for r in reviews:
        by_key.setdefault(r.coffee_key, set()).add(r.split)
    assert all(len(s) == 1 for s in by_key.values())
    assert {s for v in by_key.values() for s in v} == {"train", "val", "test"}
    a, b = reviews[0].halves()
    assert "Bright" in a and "Blackcurrant" in b
    assert reviews[0].roast is None and reviews[2].roast == "Light"
    assert (reviews[0].rating, reviews[1].rating) == (90, 91)
    assert split_of("x") == split_of("x")


def test_cqi_keeps_valid_rows(tmp_path):
    cols = ["Owner", "Farm.Name", "Country.of.Origin", "Region", "Species", "Aroma", "Flavor", "Aftertaste",
            "Acidity", "Body", "Balance", "Clean.Cup", "Sweetness", "Total.Cup.Points"]
    with open(tmp_path / "arabica_data_cleaned.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerow(["a", "f", "Ethiopia", "r", "Arabica", 8, 8, 8, 8, 8, 8, 10, 10, 88])
        w.writerow(["b", "f", "Kenya", "r", "Arabica", 8, 8, 8, 8, 8, 8, 10, 10, 0])  # total 0: dropped
        w.writerow(["c", "f", "Brazil", "r", "Arabica", "", 8, 8, 8, 8, 8, 10, 10, 80])  # missing: dropped
    rows = load_cqi(tmp_path)
    assert len(rows) == 1 and rows[0].total == 88 and rows[0].record().metrics["clean_cup"] == 10


def test_an_installed_toolkit_finds_the_shared_data_from_the_checkout_root(tmp_path, monkeypatch):
    """A non-editable install (`pip install . ./toolkit`) has no checkout above its package: run from the checkout's
    root it finds ../shared/data next to the working directory; TASTE2VEC_DATA still wins; a miss names every place
    it looked."""
    import pytest

    from taste2vec_reference import paths

    monkeypatch.delenv("TASTE2VEC_DATA", raising=False)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "venv" / "lib")  # what a site-packages install computes
    (tmp_path / "shared" / "data" / "coffee_reviews").mkdir(parents=True)
    (tmp_path / "checkout").mkdir()
    monkeypatch.chdir(tmp_path / "checkout")
    assert paths.data_root() == tmp_path / "shared" / "data"
    assert paths.require(paths.data_root() / "coffee_reviews", "reviews").is_dir()
    monkeypatch.setenv("TASTE2VEC_DATA", str(tmp_path / "elsewhere"))
    assert paths.data_root() == tmp_path / "elsewhere"
    monkeypatch.delenv("TASTE2VEC_DATA")
    monkeypatch.chdir("/")
    with pytest.raises(FileNotFoundError, match="data folders tried: .*venv.*shared/data"):
        paths.require(paths.data_root() / "coffee_reviews", "reviews")


def test_the_recent_split_holds_the_newest_coffees_out_of_training(tmp_path):
    """The second test split: every coffee with a review in the newest months (~10 % of the reviews, a month never
    cut in two) leaves the dev split's train and val sets, whatever its dev split; an older review of such a coffee
    is recent too."""
    path = tmp_path / "reviews.csv"
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    rows = []
    for i in range(100):  # coffee i reviewed in month i of 2019..2027; coffee 3 again in the newest month
        date = f"{19 + i // 12}-{months[i % 12]}"
        rows.append({"name": f"Coffee {i}", "roaster": "R", "roast": "Light", "rating": "90",
                     "review_date": date, "desc_1": f"Bright. Juicy {i}."})
    rows.append({**rows[3], "review_date": rows[-1]["review_date"], "desc_1": "Again. Later."})
    rows.append({**rows[5], "name": "Undated", "review_date": "someday"})
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    reviews = load_reviews(path)
    recent = {r.coffee_key for r in reviews if r.in_split("recent")}
    assert recent == {f"coffee {i}|r" for i in (3, *range(91, 100))}  # the newest 10 % of 101 dated reviews
    assert sum(r.recent for r in reviews) == 11  # both reviews of coffee 3
    for r in reviews:
        assert not (r.recent and (r.in_split("train") or r.in_split("val")))
        assert r.in_split("test") == (r.split == "test")  # the dev test split is unchanged
    assert not [r for r in reviews if r.coffee_key == "undated|r"][0].recent
    import pytest

    with pytest.raises(ValueError, match="one of"):
        reviews[0].in_split("dev")
