"""The registry through the SDK: models, versions, aliases (promote with gates, rollback), tags
and diffs. Uses the session's "recs" (versions 1 and 2; production = 1, which the serving tests
rely on, so only other aliases move here)."""
import json

import pytest

import marquee


def test_models_and_versions(client):
    names = {m["name"] for m in client.models()}
    assert {"recs", "artwork"} <= names
    m = client.model("recs")
    assert m["latest_version"] == 2 and m["aliases"]["production"] == 1
    vs = client.versions("recs")
    assert [v["version"] for v in vs] == [1, 2] or [v["version"] for v in vs] == [2, 1]
    assert client.version("recs", "production")["version"] == 1
    assert client.version("recs", "v2")["version"] == 2
    assert client.version("recs", 2)["ref"] == "recs/2"
    with pytest.raises(marquee.NotFound):
        client.model("no-such-model")
    with pytest.raises(marquee.NotFound):
        client.version("recs", 99)


def test_promote_gate_and_rollback(client):
    r = client.promote("recs", 2, alias="sdk-canary", note="first")
    assert (r["from_version"], r["to_version"]) == (None, 2)
    r = client.promote("recs", 1, alias="sdk-canary", require="recall@20>=0")
    assert (r["from_version"], r["to_version"]) == (2, 1)
    with pytest.raises(marquee.FailedPrecondition) as e:
        client.promote("recs", 2, alias="sdk-canary", require=["recall@20>=0", "ndcg@20>=2"])
    assert "ndcg@20" in e.value.message
    assert client.model("recs")["aliases"]["sdk-canary"] == 1
    r = client.rollback("recs", alias="sdk-canary", note="undo")
    assert (r["from_version"], r["to_version"]) == (1, 2)
    assert client.model("recs")["aliases"]["sdk-canary"] == 2
    history = json.dumps(client.model("recs")["alias_history"])
    assert "undo" in history and "first" in history
    with pytest.raises(marquee.InvalidArgument):
        client.promote("recs", 2, alias="sdk-canary", require="recall@20 >>= 1")


def test_tags_and_diff(client):
    t = client.tag("recs", {"owner": "sdk"}, team="recs")
    assert t["tags"]["owner"] == "sdk" and t["tags"]["team"] == "recs"
    t = client.tag("recs", remove=["team"])
    assert "team" not in t["tags"] and t["tags"]["owner"] == "sdk"
    t = client.tag("recs", {"note": "lambda 400"}, version=2)
    assert t["version"] == 2 and t["tags"]["note"] == "lambda 400"
    assert client.version("recs", 2)["tags"]["note"] == "lambda 400"
    d = client.diff("recs", 1, 2)
    assert "lambda" in json.dumps(d)


def test_runs_of_trained_models_as_frame_and_dicts(client):
    import pandas as pd
    df = client.runs(model="recs")
    assert isinstance(df, pd.DataFrame) and len(df) == 2
    assert set(df["model"]) == {"recs"} and "metrics.recall@20" in df.columns
    rows = client.runs(model="recs", frame=False)
    assert sorted(r["version"] for r in rows) == [1, 2]
    assert len(client.runs(model="recs", limit=1, frame=False)) == 1
    assert len(client.runs(limit=None, frame=False)) >= 3  # recs twice, artwork at least
    cmp = client.compare(["recs/1", "recs/2"])
    assert [r["version"] for r in cmp["runs"]] == [1, 2]
    assert "lambda" in json.dumps(cmp["params_differing"])
    with pytest.raises(marquee.InvalidArgument):
        client.compare(["recs/1"])


def test_runs_sorted_by_a_metric_filtered_by_param_and_paged(client):
    rows = client.runs(model="recs", frame=False)
    by_id = {r["id"]: r for r in rows}
    want = sorted(rows, key=lambda r: (-r["metrics"]["recall@20"], -r["id"]))
    got = client.runs(model="recs", sort="-metric:recall@20", frame=False)
    assert [r["id"] for r in got] == [r["id"] for r in want]
    asc = client.runs(model="recs", sort="metric:recall@20", frame=False)
    assert [r["id"] for r in asc] == sorted(by_id, key=lambda i: (by_id[i]["metrics"]["recall@20"], i))
    oldest = client.runs(model="recs", sort="started_at", frame=False)
    assert [r["id"] for r in oldest] == sorted(by_id)
    # Paging by offset walks the same order one run at a time.
    pages = [client.runs(model="recs", sort="-metric:recall@20", limit=1, offset=i, frame=False)
             for i in range(3)]
    assert [p[0]["id"] for p in pages[:2]] == [r["id"] for r in want] and pages[2] == []
    # Params: a dict (numbers compared as numbers) or KEY=VALUE strings.
    lam100 = client.runs(model="recs", params={"lambda": 100}, frame=False)
    assert [r["params"]["lambda"] for r in lam100] == [100]
    assert [r["id"] for r in client.runs(params=["lambda=400.0"], frame=False)] == \
        [r["id"] for r in rows if r["params"]["lambda"] == 400]
    assert client.runs(params={"lambda": 100, "family": "nope"}, frame=False) == []
    with pytest.raises(marquee.InvalidArgument, match="sort"):
        client.runs(sort="recall@20")
    with pytest.raises(marquee.InvalidArgument, match="KEY=VALUE"):
        client.runs(params=["lambda"])
