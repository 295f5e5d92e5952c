"""Remote tracking through the SDK: runs created, metrics logged in batches and read back exactly
(10,000 steps), tags, artifacts, finish states, listing and comparing runs."""
import hashlib
import json
import os

import pytest

import marquee


def count_metric_posts(client, monkeypatch):
    """Wraps the client's transport so the POST .../metrics requests are counted."""
    calls = []
    real = client._transport.request

    def counting(method, path, *a, **kw):
        if method == "POST" and path.endswith("/metrics"):
            calls.append(len(kw["json_body"]["metrics"]))
        return real(method, path, *a, **kw)

    monkeypatch.setattr(client._transport, "request", counting)
    return calls


def test_10000_steps_batched_and_read_back_exactly(client, monkeypatch):
    calls = count_metric_posts(client, monkeypatch)
    values = [1.0 / (s + 1) + s * 1e-7 for s in range(10000)]
    with client.start_run(model="sdk-track", params={"eta": 0.1, "depth": 4},
                          dataset="shop", tags={"who": "sdk-test"}) as run:
        for s, v in enumerate(values):
            run.log_metric("loss", v, step=s)
    assert calls == [1000] * 10, f"10 batches of 1,000 points ({calls})"
    hist = client.metric_history(run.id, "loss")
    assert [p["step"] for p in hist] == list(range(10000))
    assert [p["value"] for p in hist] == values, "every value read back bit for bit"
    info = client.get_run(run.id)
    assert info["status"] == "completed"
    assert info["metrics"]["loss"] == values[-1], "the run's value is the last step's"
    assert info["model"] == "sdk-track"
    assert info["tags"].get("who") == "sdk-test"
    assert "loss" in client.metric_keys(run.id)


def test_history_pages_are_joined(client):
    with client.start_run(model="sdk-track") as run:
        run.log_metrics({"a": 1.5, "b": -2.0}, step=0)
        run.log_metrics({"a": 2.5, "b": -3.0}, step=1)
        run.log_metric("a", 3.5, step=2)
    assert [p["value"] for p in client.metric_history(run.id, "a", page_size=1)] == [1.5, 2.5, 3.5]
    assert [p["step"] for p in client.metric_history(run.id, "b")] == [0, 1]


def test_flush_sends_before_the_run_ends(client):
    run = client.start_run(model="sdk-track")
    for s in range(5):
        run.log_metric("x", s, step=s)
    assert run.flush() == 5
    assert len(client.metric_history(run.id, "x")) == 5
    assert client.get_run(run.id)["status"] == "running"
    assert run.refresh()["metrics"]["x"] == 4.0 and run.info["status"] == "running"
    done = run.finish()
    assert done["status"] == "completed"


def test_an_exception_fails_the_run_and_propagates(client):
    with pytest.raises(ZeroDivisionError):
        with client.start_run(model="sdk-track") as run:
            run.log_metric("before", 1.0)
            1 / 0
    info = client.get_run(run.id)
    assert info["status"] == "failed"
    assert "ZeroDivisionError" in json.dumps(info), "the failure message is recorded"
    assert info["metrics"]["before"] == 1.0, "points logged before the failure are kept"


def test_tags_artifacts(client, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    with client.start_run(model="sdk-track") as run:
        tags = run.set_tags({"stage": "dev"}, team="recs")
        assert tags == {"stage": "dev", "team": "recs"}
        tags = run.set_tags({"stage": "prod"}, remove=["team"])
        assert tags == {"stage": "prod"}
        a = run.log_artifact(str(path))
        assert a["name"] == "weights.bin" and a["bytes"] == len(data)
        assert hashlib.sha256(data).hexdigest() in a["digest"]
        b = run.log_artifact(str(path), name="copy.bin")
        assert b["digest"] == a["digest"]
        assert sorted(x["name"] for x in run.artifacts()) == ["copy.bin", "weights.bin"]
    with pytest.raises(marquee.NotFound):
        run.log_artifact(str(tmp_path / "missing.bin"))


def test_bad_metric_values_are_refused_locally(client):
    run = client.start_run(model="sdk-track")
    with pytest.raises(marquee.InvalidArgument):
        run.log_metric("", 1.0)
    with pytest.raises(marquee.InvalidArgument):
        run.log_metric("x", "high")
    run.finish("failed", message="test")
    with pytest.raises(marquee.FailedPrecondition):
        run.finish()


def test_runs_list_filters_and_frames(client):
    ids = []
    for auc in (0.6, 0.7, 0.8):
        with client.start_run(model="sdk-list", params={"auc_target": auc}) as run:
            run.log_metric("auc", auc)
        ids.append(run.id)
    df = client.runs(model="sdk-list", limit=10)
    import pandas as pd
    assert isinstance(df, pd.DataFrame)
    assert sorted(df["id"].tolist()) == sorted(ids)
    assert sorted(df["metrics.auc"].tolist()) == [0.6, 0.7, 0.8]
    rows = client.runs(model="sdk-list", metrics="auc>=0.7", frame=False)
    assert isinstance(rows, list) and sorted(r["id"] for r in rows) == sorted(ids[1:])
    rows = client.runs(model="sdk-list", metrics=["auc>=0.65", "auc<0.75"], frame=False)
    assert [r["id"] for r in rows] == [ids[1]]
    assert len(client.runs(model="sdk-list", limit=2, frame=False)) == 2
    assert client.runs(model="sdk-list", status="failed", frame=False) == []
    assert len(client.runs(model="sdk-list", since="2000-01-01T00:00:00Z", frame=False)) == 3
    assert client.runs(model="sdk-list", until=946684800, frame=False) == []
    with pytest.raises(marquee.InvalidArgument):
        client.runs(metrics="auc>>x")
    cmp = client.compare(ids[:2])
    assert [r["id"] for r in cmp["runs"]] == ids[:2]
    assert "auc_target" in json.dumps(cmp["params_differing"])


def test_get_run_by_model_reference(client):
    r = client.get_run("recs/1")
    assert r["model"] == "recs" and r["version"] == 1
    with pytest.raises(marquee.NotFound):
        client.get_run("999999999")


def test_threads_logging_to_one_run_send_every_point_once(client):
    import threading
    run = client.start_run(model="sdk-track")
    run.BATCH = 100  # small batches, so the threads' flushes overlap

    def worker(t):
        for s in range(500):
            run.log_metric(f"t{t}", s, step=s)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.finish()
    for t in range(4):
        assert [p["value"] for p in client.metric_history(run.id, f"t{t}")] == list(range(500))
