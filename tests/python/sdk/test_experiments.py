"""Experiments through the SDK: create from TOML, start, route a member, stop, analyse."""
import pytest

import marquee

EXPERIMENT = """
[experiment]
name = "sdk-ab"
salt = "s1"
mode = "ab"

[[cell]]
name = "control"
model = "recs@production"

[[cell]]
name = "treatment"
model = "recs/2"
"""


def test_experiment_lifecycle(client, server, tmp_path):
    e = client.create_experiment(EXPERIMENT)
    assert e["name"] == "sdk-ab"
    assert "sdk-ab" in [x["name"] for x in client.experiments()]
    with pytest.raises(marquee.AlreadyExists):
        client.create_experiment(EXPERIMENT)
    client.start_experiment("sdk-ab")
    assert client.experiment("sdk-ab")["state"] == "running"
    a = client.analyze("sdk-ab")
    assert {c["name"] for c in a["cells"]} == {"control", "treatment"}
    client.stop_experiment("sdk-ab")
    assert client.experiment("sdk-ab")["state"] == "stopped"
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT.replace("sdk-ab", "sdk-ab-file"))
    assert client.create_experiment(str(path))["name"] == "sdk-ab-file"
    with pytest.raises(marquee.NotFound):
        client.analyze("no-such-experiment")
