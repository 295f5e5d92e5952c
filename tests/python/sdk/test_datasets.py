"""Datasets through the SDK: upload a file (streamed) and a DataFrame, list, show, delete."""
import pandas as pd
import pytest

import marquee


def plays(n_users=40, n_items=25):
    return [(f"m{u}", f"t{(u * 7 + j) % n_items}", 1 + (u + j) % 5)
            for u in range(n_users) for j in range(6)]


def test_import_a_file_and_a_dataframe_then_delete(client, tmp_path):
    rows = plays()
    path = tmp_path / "plays.csv"
    path.write_text("member,title,rating\n" + "".join(f"{u},{i},{r}\n" for u, i, r in rows))
    d = client.import_dataset("sdk-plays", str(path), format="csv", user_col="member",
                              item_col="title", value_col="rating", header=True)
    assert d["name"] == "sdk-plays" and d["interactions"] == len(rows)
    df = pd.DataFrame(rows, columns=["member", "title", "rating"]).head(100)
    d2 = client.import_dataset("sdk-plays-df", df, user_col="member", item_col="title",
                               value_col="rating")
    assert d2["interactions"] == 100
    names = {x["name"] for x in client.datasets()}
    assert {"sdk-plays", "sdk-plays-df", "shop"} <= names
    shown = client.dataset("sdk-plays")
    assert shown["users"] == 40 and shown["items"] == 25
    client.delete_dataset("sdk-plays-df")
    with pytest.raises(marquee.NotFound):
        client.dataset("sdk-plays-df")


def test_import_errors(client, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(marquee.InvalidArgument) as e:
        client.import_dataset("sdk-bad", str(path), format="csv", user_col="nope", item_col="b",
                              header=True)
    assert "nope" in e.value.message
    with pytest.raises(marquee.NotFound):
        client.import_dataset("sdk-bad", str(tmp_path / "missing.csv"))
    with pytest.raises(marquee.NotFound):
        client.dataset("no-such-dataset")
