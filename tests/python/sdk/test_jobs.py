"""Training jobs through the SDK: TOML text, a dict and a file, overrides, progress lines,
wait=False, and a failing job raising its error code."""
import json

import pytest

import marquee
from conftest import RECS_TOML


def job_toml(name, lam=200):
    return RECS_TOML.format(lam=lam).replace('name = "recs"', f'name = "{name}"')


def test_train_toml_text_waits_and_shows_progress(client, capsys):
    job = client.train(job_toml("sdk-job"), wait=True)
    assert job["state"] == "succeeded"
    res = job["result"]
    assert res["model"] == "sdk-job" and res["version"] == 1
    assert client.version("sdk-job", 1)["run_id"] == res["run_id"]
    err = capsys.readouterr().err
    assert f"job {job['id']}: succeeded" in err and err.count("\n") >= 2, err
    assert client.job(job["id"])["state"] == "succeeded"
    assert job["id"] in [j["id"] for j in client.jobs()]
    assert client.job_log(job["id"])["lines"], "the log is kept"


def test_train_dict_with_overrides_and_silent(client, capsys):
    cfg = {"data": {"dataset": "shop"},
           "split": {"protocol": "strong-generalization", "test_users": 30, "fold_in": 0.8,
                     "seed": 1},
           "model": {"family": "ease", "name": "sdk-job-dict", "lambda": 100.0},
           "eval": {"metrics": ["recall@20"]}}
    cfg["data"]["dataset"] = "not-this-one"
    job = client.train(cfg, overrides={"model.lambda": 321, "data.dataset": "shop"},
                       progress=False)
    assert job["state"] == "succeeded" and job["result"]["model"] == "sdk-job-dict"
    assert capsys.readouterr().err == ""
    run = client.get_run(job["result"]["run_id"])
    assert "321" in json.dumps(run["params"])


def test_train_from_a_path_without_waiting(client, tmp_path):
    path = tmp_path / "job.toml"
    path.write_text(job_toml("sdk-job-path"))
    job = client.train(str(path), wait=False)
    assert job["state"] in ("queued", "running", "succeeded")
    done = client.wait_job(job["id"], progress=False, timeout=120)
    assert done["state"] == "succeeded" and done["result"]["model"] == "sdk-job-path"


def test_a_failing_job_raises_its_error(client):
    bad = job_toml("sdk-job-bad").replace('dataset = "shop"', 'dataset = "no-such-dataset"')
    with pytest.raises(marquee.NotFound) as e:
        client.train(bad, progress=False)
    assert "no-such-dataset" in e.value.message
    assert e.value.job["state"] == "failed"
    with pytest.raises(marquee.InvalidArgument):
        client.train(job_toml("sdk-job-bad2") + "\n[model]\nfamily = \"ease\"\n")  # duplicate
    with pytest.raises(marquee.NotFound):
        client.train("no/such/config.toml")


def test_cancel_a_queued_job(client):
    """One job at a time (the default pool): the second of two jobs submitted back to back is
    queued and can be cancelled; a running one cannot (FailedPrecondition naming it)."""
    first = client.train(job_toml("sdk-job-first", lam=50), wait=False)
    second = client.train(job_toml("sdk-job-cancel", lam=50), wait=False)
    try:
        cancelled = client.cancel_job(second["id"])
        assert cancelled["id"] == second["id"] and cancelled["state"] == "cancelled"
        with pytest.raises(marquee.Error) as e:
            client.wait_job(second["id"], progress=False)
        assert e.value.job["state"] == "cancelled"
    except marquee.FailedPrecondition as e:
        assert "running" in e.message  # the first ended before the cancel: second runs
    assert client.wait_job(first["id"], progress=False)["state"] == "succeeded"
