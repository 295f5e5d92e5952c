"""Datasets of every kind through the SDK (a tabular CSV and a bandit log uploaded with the
CLI's options) and the dashboard's histograms of an interaction dataset."""
import json

import pytest

import marquee


def test_histograms_count_interactions_per_user_and_item(client, tmp_path):
    # Users a..d with 1, 2, 3 and 5 plays; titles x (4), y (3), z (2), w and v (1 each).
    rows = [("a", "x"), ("b", "x"), ("b", "y"), ("c", "x"), ("c", "y"), ("c", "z"),
            ("d", "x"), ("d", "y"), ("d", "z"), ("d", "w"), ("d", "v")]
    path = tmp_path / "h.csv"
    path.write_text("u,i,t\n" + "".join(f"{u},{i},{1796000000 + 60 * k}\n"
                                        for k, (u, i) in enumerate(rows)))
    client.import_dataset("sdk-hist", str(path), format="csv", header=True, user_col="u",
                          item_col="i", value_col="none", time_col="t")
    h = client.dataset_histograms("sdk-hist")
    assert h["dataset"] == "sdk-hist" and h["kind"] == "interactions"
    assert h["activity"]["buckets"] == [{"lo": 1, "hi": 2, "count": 1},
                                        {"lo": 2, "hi": 4, "count": 2},
                                        {"lo": 4, "hi": 8, "count": 1}]
    assert h["popularity"]["buckets"] == [{"lo": 1, "hi": 2, "count": 2},
                                          {"lo": 2, "hi": 4, "count": 2},
                                          {"lo": 4, "hi": 8, "count": 1}]
    assert h["time_range"] == {"min": "2026-11-30T00:53:20Z", "max": "2026-11-30T01:03:20Z"}
    with pytest.raises(marquee.NotFound):
        client.dataset_histograms("no-such-dataset")


def test_tabular_and_bandit_imports(client, tmp_path):
    path = tmp_path / "pay.csv"
    path.write_text("id,amount,country,noise,label\n"
                    + "".join(f"{k},{k * 1.5},{'se' if k % 2 else 'no'},{k % 7},{k % 2}\n"
                              for k in range(30)))
    t = client.import_dataset("sdk-pay", str(path), format="tabular", label="label", id_col="id",
                              types={"amount": "categorical"}, drop="noise")
    assert t["kind"] == "tabular" and t["rows"] == 30 and t["label"] == "label"
    roles = {c["name"]: (c["type"], c["role"]) for c in t["schema"]}
    assert roles["amount"] == ("categorical", "feature")
    assert roles["noise"][1] == "ignored" and roles["id"][1] == "id"
    assert client.dataset("sdk-pay")["schema"] == t["schema"]
    with pytest.raises(marquee.InvalidArgument) as e:
        client.import_dataset("sdk-pay2", str(path), format="tabular")
    assert "label" in e.value.message
    with pytest.raises(marquee.InvalidArgument) as e:  # the histograms are for interactions
        client.dataset_histograms("sdk-pay")
    assert "tabular" in e.value.message

    log = tmp_path / "art.jsonl"
    with open(log, "w") as f:
        for k in range(40):
            f.write(json.dumps({"context": {"device": "tv" if k % 2 else "phone"},
                                "actions": [{"id": "a"}, {"id": "b"}, {"id": "c"}],
                                "chosen": k % 3, "probability": 1 / 3,
                                "reward": float(k % 4 == 0), "ts": 1796000000 + k}) + "\n")
    b = client.import_dataset("sdk-art", str(log), format="bandit-jsonl")
    assert b["kind"] == "bandit" and b["rows"] == 40 and b["actions"] == 3
    assert b["stats"]["mean_reward"] == pytest.approx(10 / 40)
    assert "sdk-art" in {d["name"] for d in client.datasets()}
