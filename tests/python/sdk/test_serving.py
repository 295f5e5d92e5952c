"""The SDK's serving calls against the /v1 routes of a real server: recommend, recommend_batch,
similar_items, events, decide, reward and the decision export."""
import json
import urllib.request

import pytest

import marquee


def raw_post(url, path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_recommend_equals_the_raw_route(client, server):
    got = client.recommend("recs@production", user="u1", k=5)
    want = raw_post(server.url, "/v1/recommend", {"model": "recs@production", "user": "u1",
                                                  "k": 5})
    assert got == want
    assert len(got["items"]) == 5 and got["version"] == 1


def test_recommend_history_and_filters(client, recs_items):
    hist = recs_items[:3]
    r = client.recommend("recs@production", history=hist, k=10)
    ids = [it["id"] for it in r["items"]]
    assert not set(ids) & set(hist), "seen items are excluded by default"
    deny = ids[:2]
    r2 = client.recommend("recs@production", history=hist, k=10, deny=deny)
    assert not set(deny) & {it["id"] for it in r2["items"]}
    allow = recs_items[10:14]
    r3 = client.recommend("recs@production", history=hist, k=10, allow=allow)
    assert {it["id"] for it in r3["items"]} <= set(allow)
    r4 = client.recommend("recs@production", history=hist, k=10, exclude_seen=False,
                          filter={"allow": hist})
    assert {it["id"] for it in r4["items"]} == set(hist)


def test_recommend_batch_in_order_with_per_entry_errors(client):
    reqs = [{"model": "recs@production", "user": "u1", "k": 3},
            {"model": "recs@production", "user": "nobody-here", "k": 3},
            {"model": "recs@production", "user": "u2", "k": 4}]
    out = client.recommend_batch(reqs)
    assert len(out) == 3
    assert out[0] == client.recommend("recs@production", user="u1", k=3)
    assert out[1]["error"]["code"] == "not_found"
    assert len(out[2]["items"]) == 4


def test_recommend_batch_splits_over_1000(client):
    reqs = [{"model": "recs@production", "user": f"u{i % 50 + 1}", "k": 1} for i in range(1203)]
    out = client.recommend_batch(reqs)
    assert len(out) == 1203
    assert out[1000] == out[0] or "error" in out[0]  # u1 again at index 1000


def test_similar_items_one_and_many(client, recs_items):
    one = client.similar_items("recs@production", recs_items[0], k=4)
    assert one["item"] == recs_items[0] and len(one["items"]) == 4
    assert recs_items[0] not in {it["id"] for it in one["items"]}
    many = client.similar_items("recs@production", recs_items[:2], k=4)
    assert [m["item"] for m in many] == recs_items[:2]
    assert many[0] == one


def test_events_change_the_next_recommendation(client, recs_items):
    user = "sdk-new-user"
    with pytest.raises(marquee.NotFound):
        client.recommend("recs@production", user=user, k=5)
    n = client.events([{"user": user, "item": recs_items[0]},
                       {"user": user, "item": recs_items[1], "value": 2.0, "type": "play"}])
    assert n == 2
    r = client.recommend("recs@production", user=user, k=5)
    assert len(r["items"]) == 5
    assert not {recs_items[0], recs_items[1]} & {it["id"] for it in r["items"]}


def test_decide_reward_and_decisions_export(client):
    d = client.decide("artwork@production", ["img-0", {"id": "img-1", "features": {"tone": "dark"}},
                                             "img-2"],
                      context={"device": "tv", "hour": 21}, user="42")
    assert d["action"] in ("img-0", "img-1", "img-2")
    probs = d["probabilities"]
    assert [p["id"] for p in probs] == ["img-0", "img-1", "img-2"]
    assert abs(sum(p["p"] for p in probs) - 1.0) < 1e-9
    j = client.reward(d["decision_id"], 1.0)
    assert j["joined"] is True and j["decision_id"] == d["decision_id"]
    with pytest.raises(marquee.AlreadyExists):
        client.reward(d["decision_id"], 0.0)
    with pytest.raises(marquee.NotFound):
        client.reward("0" * 32, 1.0)


def test_decisions_export_streams_every_decision(client):
    d = client.decide("artwork@production", ["img-0", "img-1"], context={"device": "tv"})
    client.reward(d["decision_id"], 0.5)
    rows = list(client.decisions(format="jsonl"))
    mine = [r for r in rows if d["decision_id"] in json.dumps(r)]
    assert len(mine) == 1, f"the decision is exported once ({len(rows)} rows)"


def test_serving_models_lists_the_served_references(client):
    m = client.serving_models()
    assert "recs@production" in json.dumps(m)
    assert "artwork@production" in json.dumps(m)


def test_health_and_model_status(client):
    assert client.health() is True
    s = client.model_status("recs")
    assert s["name"] == "recs" and [v["version"] for v in s["versions"]] in ([1, 2], [2, 1])
    with pytest.raises(marquee.NotFound):
        client.model_status("no-such-model")


def test_client_close_and_context_manager(server):
    with marquee.Client(server.url) as c:
        assert c.health()
        c.close()
        assert c.health(), "a closed client reconnects on the next call"
    assert c._transport._conn is None


def test_client_url_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("MARQUEE_URL", server.url + "/")
    c = marquee.Client()
    assert c.url == server.url and c.health()
    monkeypatch.delenv("MARQUEE_URL")
    with pytest.raises(marquee.InvalidArgument):
        marquee.Client()


def _version(stats, model, version):
    found = [m for m in stats["models"] if m["model"] == model and m["version"] == version]
    assert len(found) == 1, stats["models"]
    return found[0]


def test_serving_stats_count_requests_and_errors_per_version(client):
    before = client.serving_stats()
    v0 = _version(before, "recs", 1)
    assert v0["kind"] == "recommender" and v0["state"] == "ready"
    assert v0["aliases"] == ["production"] and v0["loaded_at"].endswith("Z")
    for user in ("u1", "u2", "u3"):
        client.recommend("recs@production", user=user, k=3)
    with pytest.raises(marquee.NotFound):
        client.recommend("recs@production", user="nobody-at-all", k=3)
    after = client.serving_stats()
    v1 = _version(after, "recs", 1)
    assert v1["requests"] - v0["requests"] == 4
    assert v1["errors"] - v0["errors"] == 1
    lat = v1["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= 2500
    route = {r["route"]: r for r in after["routes"]}["/v1/recommend"]
    assert route["requests"] >= 4 and route["errors_4xx"] >= 1
    assert after["uptime_s"] >= before["uptime_s"]
    assert set(after["bandits"]) >= {"decisions_total", "rewards_total"}
    assert after["events"]["ingested_total"] >= 0
