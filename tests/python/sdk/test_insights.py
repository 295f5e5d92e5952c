"""The dashboard's experiment and bandit views through the SDK: experiment_timeseries, bandits and
bandit, checked against what the same session sent and against the decision export and the
CLI's `marquee ope` (whose latest result the server reads back)."""
import json
import time

import pytest

import marquee
from conftest import cli
from test_experiments import EXPERIMENT as AB_TEST

EXPERIMENT = AB_TEST.replace('name = "sdk-ab"', 'name = "sdk-days"')


def test_experiment_timeseries_counts_every_exposure(client):
    client.create_experiment(EXPERIMENT)
    client.start_experiment("sdk-days")
    users = [f"u{i}" for i in range(1, 13)]
    deadline = time.monotonic() + 20
    while True:  # the server sees the new experiment within its poll interval
        try:
            client.recommend(None, user=users[0], k=3, experiment="sdk-days")
            break
        except marquee.NotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    for u in users[1:] + users[:4]:  # 16 exposures of 12 members in all
        client.recommend(None, user=u, k=3, experiment="sdk-days")
    while True:  # exposures are written by the server's flusher, every 100 ms
        t = client.experiment_timeseries("sdk-days")
        total = sum(sum(d["exposures"].values()) for d in t["days"])
        if total >= 16 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert total == 16
    assert t["metric"] == "plays_per_member" and t["cells"] == ["control", "treatment"]
    assert sum(sum(d["new_members"].values()) for d in t["days"]) == 12
    assert [s["day"] for s in t["sequential"]] == [d["day"] for d in t["days"]]
    assert t["sequential"][-1]["users"] == 12
    assert 0 <= t["sequential"][-1]["p_value"] <= 1
    with pytest.raises(marquee.NotFound):
        client.experiment_timeseries("no-such-experiment")


def test_bandit_views_match_the_decision_log_and_the_latest_ope(client, server):
    policy = {p["name"]: p for p in client.bandits()}["artwork"]
    assert policy["family"] == "epsilon-greedy"
    assert policy["aliases"] == {"production": 1}
    ids = [client.decide("artwork@production", ["img-0", "img-1", "img-2"],
                         context={"device": "tv"})["decision_id"] for _ in range(6)]
    for i, d in enumerate(ids[:3]):
        client.reward(d, float(i))  # 0, 1, 2
    after = {p["name"]: p for p in client.bandits()}["artwork"]
    assert after["decisions"] == policy["decisions"] + 6
    assert after["joined"] == policy["joined"] + 3
    assert after["rewards"] == pytest.approx(policy["rewards"] + 3)

    b = client.bandit("artwork", bucket="day")
    assert b["bucket"] == "day" and b["decisions"] == after["decisions"]
    assert sum(s["decisions"] for s in b["series"]) == b["decisions"]
    assert sum(a["decisions"] for a in b["actions"]) == b["decisions"]
    assert sum(a["share"] for a in b["actions"]) == pytest.approx(1.0)
    # The export holds the closed decisions: the same count and reward sum.
    rows = list(client.decisions(format="jsonl", policy="artwork"))
    assert b["closed"] == len(rows)
    assert b["rewards"] == pytest.approx(sum(r["outcome"]["reward"] for r in rows))
    assert client.bandit("artwork", since=time.time() + 3600)["decisions"] == 0
    with pytest.raises(marquee.InvalidArgument):
        client.bandit("artwork", bucket="week")
    with pytest.raises(marquee.NotFound):
        client.bandit("no-such-policy")

    # `marquee ope --policy` records its result; the server answers it as "ope".
    assert b["ope"] is None
    out = json.loads(cli(server.home, "ope", "--log", "artlog", "--policy", "artwork@production",
                         "--bootstrap", "10", "--json"))
    ope = client.bandit("artwork")["ope"]
    assert ope["policy"] == "artwork" and ope["version"] == 1 and ope["log"] == "artlog"
    assert ope["decisions"] == out["n"]
    assert [e["estimator"] for e in ope["estimates"]] == out["estimator_order"]
    for e in ope["estimates"]:
        want = out["estimates"][e["estimator"]]
        assert (e["value"], e["lo"], e["hi"]) == (want["value"], *want["ci"])
