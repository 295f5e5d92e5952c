"""The SDK's request encoding, without a server: DataFrame rows as JSON records (NaN -> null,
numpy scalars -> Python numbers), times as ISO 8601 UTC, dict overrides as TOML values, and
JSON bodies with numpy values."""
import datetime
import json
import math

import numpy as np
import pandas as pd
import pytest

import marquee
from marquee._http import dumps
from marquee.client import _records, _time, _toml_value


def test_dataframe_rows_become_records_with_nan_as_null():
    df = pd.DataFrame({"amount": [1.5, np.nan], "attempt": np.array([1, 2], dtype=np.int64),
                       "country": ["US", None], "flag": [True, False]})
    recs = _records(df)
    assert recs == [{"amount": 1.5, "attempt": 1, "country": "US", "flag": True},
                    {"amount": None, "attempt": 2, "country": None, "flag": False}]
    assert type(recs[0]["attempt"]) is int and type(recs[0]["flag"]) is bool
    json.dumps(recs, allow_nan=False)  # encodable as strict JSON


def test_dict_rows_nan_and_bad_rows():
    assert _records([{"a": math.nan, "b": 2}]) == [{"a": None, "b": 2}]
    assert _records({"a": 1}) == [{"a": 1}]
    with pytest.raises(marquee.InvalidArgument) as e:
        _records([{"a": 1}, [1, 2]])
    assert "rows[1]" in e.value.message


def test_times_as_iso_utc():
    assert _time(None) is None
    assert _time("2026-12-05T07:05:41Z") == "2026-12-05T07:05:41Z"
    assert _time(0) == "1970-01-01T00:00:00Z"
    tz = datetime.timezone(datetime.timedelta(hours=2))
    assert _time(datetime.datetime(2026, 12, 5, 9, 5, 41, tzinfo=tz)) == "2026-12-05T07:05:41Z"
    with pytest.raises(marquee.InvalidArgument):
        _time([2026])


def test_override_values_are_toml():
    assert [_toml_value(v) for v in ("ml100k", True, 300, 0.5, ["a", 1])] == \
        ['"ml100k"', "true", "300", "0.5", '["a", 1]']


def test_json_bodies_take_numpy_values():
    assert json.loads(dumps({"a": np.float32(0.5), "b": np.arange(3), "c": np.int64(7)})) == \
        {"a": 0.5, "b": [0, 1, 2], "c": 7}
    with pytest.raises(marquee.InvalidArgument):
        dumps({"x": float("inf")})
