"""marquee.Client: everything the `marquee` CLI does, over a server's HTTP API.

    import marquee
    client = marquee.Client("http://127.0.0.1:8080", api_key=None)
    client.runs(model="payment-retry", metrics="auc>=0.7")      # a pandas DataFrame
    client.promote("payment-retry", 3, require="auc>=production")
    client.predict("payment-retry@production", df)              # a numpy array

Errors: every failure raises a marquee.Error subclass (errors.py) carrying the server's code and
message; a server that cannot be reached raises Unavailable naming the URL.
Thread-safety: a Client may be shared by threads; its requests go one at a time over its one
persistent connection (streams use their own). Use a Client per thread for parallel requests.
"""
import datetime
import json
import math
import os
import tempfile
import time
import urllib.parse

from ._http import Transport, file_size
from ._progress import Progress
from .errors import Error, error_for
from .tracking import Run

try:
    import numpy as _np
except ImportError:  # pragma: no cover - numpy is optional
    _np = None
try:
    import pandas as _pd
except ImportError:  # pragma: no cover - pandas is optional
    _pd = None

_TERMINAL_JOB_STATES = ("succeeded", "failed", "cancelled", "interrupted")
_EVENTS_PER_REQUEST = 10000  # the server's limit per POST /v1/events
_BATCH_PER_REQUEST = 1000  # the server's limit per POST /v1/recommend/batch


def _q(segment):
    """A path segment, percent-encoded (model names, refs such as name/3)."""
    return urllib.parse.quote(str(segment), safe="")


def _time(t):
    """A time argument as the API's ISO 8601 UTC string: str as is, datetime, or Unix seconds."""
    if t is None or isinstance(t, str):
        return t
    if isinstance(t, datetime.datetime):
        if t.tzinfo is not None:
            t = t.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(t, (int, float)):
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    raise error_for("invalid_argument", f"time {t!r} is not an ISO 8601 string, datetime or number")


def _strings(v):
    """None, a string or an iterable of strings, as a list."""
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    return [str(x) for x in v]


def _param_text(v):
    """A param value as the server compares it: booleans true/false, others as str()."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _toml_value(v):
    """A Python value as the TOML text of a `--set KEY=VALUE` override: strings quoted, booleans
    lower-case, lists as arrays, numbers as written."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v) if isinstance(v, float) else str(v)


def _want_frame(frame):
    if frame is None:
        return _pd is not None
    if frame and _pd is None:
        raise error_for("failed_precondition", "frame=True needs pandas, which is not importable")
    return bool(frame)


def _read_text(text_or_path, what):
    """TOML text, or the text of the file it names (a path: no newline, and the file exists)."""
    if isinstance(text_or_path, os.PathLike):
        text_or_path = os.fspath(text_or_path)
    if not isinstance(text_or_path, str):
        raise error_for("invalid_argument", f"{what} must be TOML text or a path, not "
                    f"{type(text_or_path).__name__}")
    if "\n" not in text_or_path and os.path.isfile(text_or_path):
        with open(text_or_path, encoding="utf-8") as f:
            return f.read()
    if "\n" not in text_or_path and "=" not in text_or_path:
        raise error_for("not_found", f"{what} file '{text_or_path}' does not exist (and it is not "
                    "TOML text)")
    return text_or_path


def _records(rows):
    """Rows for /v1/predict: a DataFrame's rows as records (NaN and None become null), or a list
    of dicts as given (NaN values become null)."""
    if _pd is not None and isinstance(rows, _pd.DataFrame):
        out = []
        cols = [str(c) for c in rows.columns]
        for values in rows.itertuples(index=False, name=None):
            rec = {}
            for c, v in zip(cols, values):
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    rec[c] = None
                elif _np is not None and isinstance(v, _np.generic):
                    v = v.item()
                    rec[c] = None if isinstance(v, float) and math.isnan(v) else v
                else:
                    rec[c] = v
            out.append(rec)
        return out
    if isinstance(rows, dict):
        rows = [rows]
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise error_for("invalid_argument", f"rows[{i}] is a {type(r).__name__}; rows are dicts "
                        "keyed by feature name, or a pandas DataFrame")
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in r.items()})
    return out


class Client:
    """A Marquee server. `url`: http[s]://host:port (default: $MARQUEE_URL); `api_key`: sent as
    a Bearer token, for a server with --api-keys (default: $MARQUEE_API_KEY); `timeout`: seconds
    for connecting and for each read. Opens no connection until the first call."""

    def __init__(self, url=None, api_key=None, timeout=30):
        url = url or os.environ.get("MARQUEE_URL")
        if not url:
            raise error_for("invalid_argument", "no server url: pass Client(url) or set MARQUEE_URL")
        self._transport = Transport(url, api_key=api_key or os.environ.get("MARQUEE_API_KEY"),
                                    timeout=timeout)
        self.url = self._transport.url

    def __repr__(self):
        return f"Client({self.url!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Closes the persistent connection (a later call reconnects)."""
        self._transport.close()

    # ------------------------------------------------------------------------------------------
    # plumbing

    def _get(self, path, query=None):
        return self._transport.request("GET", path, query=query)

    def _post(self, path, body=None, query=None):
        return self._transport.request("POST", path, query=query,
                                       json_body={} if body is None else body)

    def _put(self, path, body):
        return self._transport.request("PUT", path, json_body=body)

    def _delete(self, path):
        return self._transport.request("DELETE", path)

    def health(self):
        """True when GET /healthz answers 200 (raises Unavailable when the server is down)."""
        self._get("/healthz")
        return True

    # ------------------------------------------------------------------------------------------
    # tracking

    def start_run(self, model, params=None, dataset=None, tags=None, family=None,
                  description=None):
        """Creates a run of `model` on the server (params: name -> value; tags: name -> text;
        dataset: the dataset it used) and returns a Run (a context manager)."""
        body = {"model": model}
        if family is not None:
            body["family"] = family
        if params:
            body["params"] = dict(params)
        if tags:
            body["tags"] = {k: str(v) for k, v in tags.items()}
        if dataset is not None:
            body["dataset"] = dataset
        if description is not None:
            body["description"] = description
        return Run(self, self._post("/api/v1/runs", body))

    def get_run(self, run_id):
        """The RUN dict with details; `run_id` is an id or a model reference "name/3"."""
        return self._get(f"/api/v1/runs/{_q(run_id)}")

    def metric_keys(self, run_id):
        """The keys of the metrics a run logged (GET /api/v1/runs/ID/metrics lists each with its
        point count and last step and value)."""
        return [m["key"] for m in self._get(f"/api/v1/runs/{_q(run_id)}/metrics")["metrics"]]

    def metric_history(self, run_id, key, page_size=1000):
        """Every point of one metric of a run, in step order: a list of {"step", "value",
        "timestamp"} (read page by page)."""
        points, after = [], None
        while True:
            r = self._get(f"/api/v1/runs/{_q(run_id)}/metrics/{_q(key)}",
                          {"after_step": after, "limit": page_size})
            points.extend(r["points"])
            after = r.get("next_after_step")
            if after is None or not r["points"]:
                return points

    # ------------------------------------------------------------------------------------------
    # runs and registry

    def runs(self, model=None, status=None, metrics=None, since=None, until=None, limit=20,
             before=None, frame=None, sort=None, params=None, offset=None):
        """Runs, newest first: filtered by model, status, metric thresholds (strings such as
        "auc>=0.7", one or a list) and start time (since/until: ISO strings, datetimes or Unix
        seconds); at most `limit` (None: every run), older than run id `before`. `sort` orders
        them otherwise: "started_at" (oldest first), "metric:KEY" (ascending) or "-metric:KEY"
        (descending; runs without the metric last); `params` keeps runs whose top-level params
        equal the values given (a dict {"factors": 64}, or "KEY=VALUE" strings); `offset` skips
        that many runs of the order (paging). A pandas DataFrame (nested fields flattened as
        "metrics.auc", "params.eta") when pandas is importable and `frame` is not False; else
        the list of RUN dicts."""
        if isinstance(params, dict):
            params = [f"{k}={_param_text(v)}" for k, v in params.items()]
        r = self._get("/api/v1/runs", {"model": model, "status": status,
                                       "metric": _strings(metrics), "since": _time(since),
                                       "until": _time(until), "limit": limit, "before": before,
                                       "all": 1 if limit is None else None, "sort": sort,
                                       "param": _strings(params), "offset": offset})
        runs = r["runs"]
        if not _want_frame(frame):
            return runs
        return _pd.json_normalize(runs) if runs else _pd.DataFrame(columns=["id", "model"])

    def compare(self, run_ids):
        """Several runs side by side: {"runs", "metrics", "params_differing"}."""
        return self._get("/api/v1/runs/compare", {"ids": ",".join(str(i) for i in run_ids)})

    def models(self):
        """The registered models (list of dicts: name, versions, latest_version, aliases...)."""
        return self._get("/api/v1/models")["models"]

    def model(self, name):
        """One model: versions, latest version, aliases, alias history, tags."""
        return self._get(f"/api/v1/models/{_q(name)}")

    def versions(self, name):
        """The model's VERSION dicts."""
        return self._get(f"/api/v1/models/{_q(name)}/versions")["versions"]

    def version(self, name, version):
        """One VERSION dict; `version` is N, "vN" or an alias."""
        return self._get(f"/api/v1/models/{_q(name)}/versions/{_q(version)}")

    def diff(self, name, a, b):
        """The differences between versions a and b of a model."""
        return self._get(f"/api/v1/models/{_q(name)}/diff", {"a": a, "b": b})

    def promote(self, name, version, alias="production", require=None, note=None):
        """Points `alias` of model `name` at `version` (N or another alias), if every gate in
        `require` (a string such as "auc>=production" or a list) holds; a failed gate raises
        FailedPrecondition. Returns {"model","alias","from_version","to_version","action",
        "checks"}."""
        body = {"version": version, "alias": alias}
        req = _strings(require)
        if req:
            body["require"] = req
        if note is not None:
            body["note"] = note
        return self._post(f"/api/v1/models/{_q(name)}/promote", body)

    def rollback(self, name, alias="production", note=None):
        """Moves `alias` back to the version it pointed at before; same answer as promote."""
        body = {"alias": alias}
        if note is not None:
            body["note"] = note
        return self._post(f"/api/v1/models/{_q(name)}/rollback", body)

    def tag(self, name, tags=None, version=None, remove=None, **kw):
        """Sets tags (a dict and/or keywords) on model `name` (or on one version) and removes the
        keys in `remove`; returns {"model", "version", "tags"}."""
        tags = dict(tags or {}, **kw)
        body = {"set": {k: str(v) for k, v in tags.items()}, "remove": list(remove or [])}
        if version is not None:
            body["version"] = version
        return self._put(f"/api/v1/models/{_q(name)}/tags", body)

    # ------------------------------------------------------------------------------------------
    # jobs

    def train(self, config, overrides=None, wait=True, progress=True, timeout=None):
        """Submits a training job and (wait=True) follows its log until it ends.

        `config`: a dict (TOML sections as dicts), TOML text, or a path to a TOML file;
        `overrides`: ["model.lambda=300", ...] (TOML values, as `marquee train --set`) or a dict
        {"model.lambda": 300, "data.dataset": "ml100k"} (values written as TOML). Progress goes to
        stderr (one updating line on a terminal, plain lines otherwise, an updating display in a
        notebook); progress=False is silent. Returns the JOB dict (wait=False: as submitted; else
        finished). A job that fails raises the Error subclass of its error code (with the JOB as
        `.job`); a cancelled or interrupted one raises Error with code "cancelled"/"interrupted".
        `timeout` (seconds) bounds the wait: Unavailable when it passes."""
        if isinstance(config, dict):
            cfg = config
        else:
            cfg = _read_text(config, "config")
        body = {"config": cfg}
        if overrides:
            if isinstance(overrides, dict):
                overrides = [f"{k}={_toml_value(v)}" for k, v in overrides.items()]
            body["overrides"] = _strings(overrides)
        job = self._post("/api/v1/jobs", body)
        if not wait:
            return job
        return self.wait_job(job["id"], progress=progress, timeout=timeout)

    def wait_job(self, job_id, progress=True, timeout=None):
        """Follows a job's log (Server-Sent Events) until it ends; returns the finished JOB or
        raises its error as train() does."""
        show = Progress(enabled=bool(progress))
        deadline = None if timeout is None else time.monotonic() + timeout
        job = None
        try:
            job = self._follow(job_id, show)
        except Error as e:
            if e.code != "unavailable":
                raise
        offset = show.count  # the log lines the stream showed
        while job is None or job.get("state") not in _TERMINAL_JOB_STATES:
            # No event stream, or it ended early (a proxy, a restart): poll the job and show
            # the log lines it gained, until it ends.
            if deadline is not None and time.monotonic() > deadline:
                raise error_for("unavailable", f"job {job_id} did not end within {timeout} s")
            job = self.job(job_id)
            if progress:
                offset = self._show_log(job_id, offset, show)
            if job.get("state") in _TERMINAL_JOB_STATES:
                break
            time.sleep(0.5)
        show.done(f"job {job_id}: {job['state']}")
        return self._job_result(job)

    def _show_log(self, job_id, offset, show):
        """Shows the job's log lines from line `offset` on; returns the next offset. A log that
        cannot be read (no such route) shows nothing."""
        try:
            page = self._get(f"/api/v1/jobs/{_q(job_id)}/log", {"offset": offset})
        except Error:
            return offset
        lines = page.get("lines", [])
        for line in lines:
            show.line(line)
        return page.get("next_offset", offset + len(lines))

    def _follow(self, job_id, show):
        event, data, final = None, [], None
        for raw in self._transport.stream("GET", f"/api/v1/jobs/{_q(job_id)}/log",
                                          query={"follow": 1},
                                          headers={"Accept": "text/event-stream"}, timeout=None,
                                          expect="text/event-stream"):
            line = raw.decode("utf-8", "replace")
            if line.startswith(":"):
                continue  # an SSE comment (keep-alive)
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:][1:] if line[5:].startswith(" ") else line[5:])
            elif line == "":
                if event == "end":
                    final = json.loads("\n".join(data))
                    break
                if data:
                    show.line("\n".join(data))
                event, data = None, []
        return final

    @staticmethod
    def _job(job):
        """A JOB as the contract names it: the server's "outcome" (the `marquee train --json`
        object: run_id, model, version, metrics...) is also given as "result"."""
        if isinstance(job, dict) and "result" not in job and "outcome" in job:
            job["result"] = job["outcome"]
        return job

    @staticmethod
    def _job_result(job):
        job = Client._job(job)
        state = job.get("state")
        if state == "succeeded":
            return job
        err = job.get("error") or {}
        e = error_for(err.get("code", state), err.get("message", f"job {job.get('id')} {state}"))
        e.job = job
        raise e

    def job(self, job_id):
        """One JOB dict (state, progress, result, error)."""
        return self._job(self._get(f"/api/v1/jobs/{_q(job_id)}"))

    def jobs(self):
        """Every job the server knows, as JOB dicts."""
        return [self._job(j) for j in self._get("/api/v1/jobs")["jobs"]]

    def job_log(self, job_id):
        """A job's log so far: {"lines": [...], "state"}."""
        return self._get(f"/api/v1/jobs/{_q(job_id)}/log")

    def cancel_job(self, job_id):
        """Asks the server to cancel a queued or running job; returns the JOB dict."""
        return self._post(f"/api/v1/jobs/{_q(job_id)}/cancel")

    # ------------------------------------------------------------------------------------------
    # experiments

    def experiments(self):
        """Every experiment (list of dicts)."""
        return self._get("/api/v1/experiments")["experiments"]

    def experiment(self, name):
        """One experiment."""
        return self._get(f"/api/v1/experiments/{_q(name)}")

    def create_experiment(self, toml_text_or_path):
        """Creates an experiment from its TOML definition (text or a file path)."""
        return self._post("/api/v1/experiments",
                          {"toml": _read_text(toml_text_or_path, "experiment definition")})

    def start_experiment(self, name):
        """Starts an experiment (traffic is split from now on)."""
        return self._post(f"/api/v1/experiments/{_q(name)}/start")

    def stop_experiment(self, name):
        """Stops an experiment (the control answers from now on)."""
        return self._post(f"/api/v1/experiments/{_q(name)}/stop")

    def analyze(self, name):
        """The analysis of an experiment: the JSON of `marquee experiments analyze --json`."""
        return self._get(f"/api/v1/experiments/{_q(name)}/analysis")

    def experiment_timeseries(self, name):
        """An experiment day by day (UTC), for charts: {"days": [{"day", "exposures": {cell: n},
        "new_members": {cell: n}}], "sequential": [{"day", "p_value", "users", "p_values"}],
        "metric", "cells", ...}; "p_value" is the always-valid (mSPRT) p-value at the end of the
        day, from the analysis's own sequential test."""
        return self._get(f"/api/v1/experiments/{_q(name)}/timeseries")

    # ------------------------------------------------------------------------------------------
    # datasets

    def datasets(self):
        """Every dataset snapshot (list of dicts)."""
        return self._get("/api/v1/datasets")["datasets"]

    def dataset(self, name):
        """One dataset snapshot with its statistics."""
        return self._get(f"/api/v1/datasets/{_q(name)}")

    def import_dataset(self, name, source, server_side=False, **reader_options):
        """Imports a dataset snapshot named `name` from `source`: a local file (streamed as the
        request body, never read whole), a pandas DataFrame (written as CSV with a header to a
        temporary file, then streamed), or with server_side=True a path on the server.
        reader_options, as the CLI's `dataset import` flags: format picks the kind (an
        interaction file by default; "tabular" a CSV of features and a label for XGBoost;
        "bandit-jsonl" a bandit log; "obd" an Open Bandit Dataset campaign, server_side only).
        Interaction files take delimiter, user_col, item_col, value_col, time_col, header,
        skip_bad_lines; tabular ones label (required), id_col, time_col, delimiter,
        types={"COL": "numeric|categorical|boolean|ignore"} and drop=["COL", ...]. source="..."
        records where the data came from. Returns the snapshot's dict."""
        types = reader_options.pop("types", None)
        if types:
            reader_options["type"] = [f"{k}={v}" for k, v in types.items()]
        if isinstance(reader_options.get("drop"), str):
            reader_options["drop"] = [reader_options["drop"]]
        path = f"/api/v1/datasets/{_q(name)}"
        if server_side:
            return self._post(path, dict(reader_options, path=os.fspath(source)))
        if _pd is not None and isinstance(source, _pd.DataFrame):
            opts = dict(reader_options)
            opts.setdefault("format", "csv")
            opts.setdefault("header", True)
            with tempfile.NamedTemporaryFile("w+b", suffix=".csv") as tmp:
                source.to_csv(tmp, index=False)
                tmp.flush()
                tmp.seek(0)
                return self._upload(path, tmp, opts)
        source = os.fspath(source)
        if not os.path.isfile(source):
            raise error_for("not_found", f"dataset file '{source}' does not exist")
        with open(source, "rb") as f:
            return self._upload(path, f, reader_options)

    def _upload(self, path, f, options):
        return self._transport.request("POST", path, query=options, body=f,
                                       content_length=file_size(f),
                                       headers={"Content-Type": "application/octet-stream"})

    def dataset_histograms(self, name):
        """For charts of an interaction dataset: {"dataset", "kind", "time_range": {"min", "max"}
        (ISO 8601 or None), "activity" and "popularity": {"buckets": [{"lo", "hi", "count"}]}},
        log2 buckets [lo, hi) of interactions per user and per item. InvalidArgument for a
        tabular dataset or a bandit log."""
        return self._get(f"/api/v1/datasets/{_q(name)}/histograms")

    def delete_dataset(self, name):
        """Deletes the dataset name (admin scope)."""
        return self._delete(f"/api/v1/datasets/{_q(name)}")

    # ------------------------------------------------------------------------------------------
    # serving

    def serving_stats(self):
        """What the server has served: {"started_at", "now", "uptime_s", "routes": [{"route",
        "requests", "errors_4xx", "errors_5xx", "latency_ms": {"p50", "p90", "p99"}}],
        "models": [{"model", "version", "aliases", "kind", "state", "loaded_at", "requests",
        "errors", "latency_ms"}], "events": {"ingested_total"}, "bandits": {"decisions_total",
        "rewards_total", "defaulted_total"}}. Counters are cumulative; rates come from two
        calls."""
        return self._get("/api/v1/serving/stats")

    def serving_models(self):
        """What the server serves now (GET /v1/models)."""
        return self._get("/v1/models")

    def model_status(self, name):
        """A model's serving status and versions (GET /v1/models/{name})."""
        return self._get(f"/v1/models/{_q(name)}")

    @staticmethod
    def _recommend_body(model, user, history, k, filters):
        body = {"k": k}
        if model is not None:
            body["model"] = model
        if user is not None:
            body["user"] = str(user)
        if history is not None:
            body["history"] = [str(i) for i in history]
        flt = dict(filters.pop("filter", None) or {})
        for key in ("allow", "deny"):
            if key in filters:
                flt[key] = [str(i) for i in filters.pop(key)]
        if flt:
            body["filter"] = flt
        body.update(filters)  # exclude_seen, experiment: checked by the server
        return body

    def recommend(self, model, user=None, history=None, k=10, **filters):
        """Top-k items of `model` (a reference such as "recs@production") for a user and/or a
        history; filters: allow=[ids], deny=[ids], exclude_seen=bool, or experiment=NAME (with
        model None: the user's cell answers). Returns {"model", "version", "items": [{"id",
        "score"}]}."""
        return self._post("/v1/recommend", self._recommend_body(model, user, history, k, filters))

    def recommend_batch(self, requests):
        """Several recommend requests (dicts as recommend's body), sent 1,000 per call; returns
        one answer per request in order (an entry whose model, user or item is unknown is an
        {"error": ...} dict)."""
        out = []
        requests = list(requests)
        for i in range(0, len(requests), _BATCH_PER_REQUEST):
            chunk = requests[i:i + _BATCH_PER_REQUEST]
            out.extend(self._post("/v1/recommend/batch", {"requests": chunk})["responses"])
        return out

    def similar_items(self, model, item, k=10, **filters):
        """Items most similar to `item`; with a list of items, a list of answers in order."""
        if isinstance(item, (list, tuple)):
            return [self.similar_items(model, i, k, **filters) for i in item]
        body = {"model": model, "item": str(item), "k": k}
        flt = {key: [str(i) for i in filters.pop(key)] for key in ("allow", "deny")
               if key in filters}
        if flt:
            body["filter"] = flt
        body.update(filters)
        return self._post("/v1/similar-items", body)

    def events(self, events):
        """Logs events (dicts with user, item, and optional type, value, ts), durably; sent
        10,000 per request. Returns how many were accepted."""
        events = list(events)
        accepted = 0
        for i in range(0, len(events), _EVENTS_PER_REQUEST):
            r = self._post("/v1/events", {"events": events[i:i + _EVENTS_PER_REQUEST]})
            accepted += int(r.get("accepted", 0))
        return accepted

    def predict(self, model, rows, explain=False):
        """Scores tabular rows with an XGBoost model version. `rows`: a pandas DataFrame (its rows
        sent as records; NaN = missing) or a list of dicts keyed by feature name. Returns a numpy
        array of the predictions when numpy is importable (shape (n,) or (n, classes)), else a
        list; with explain=True the list of prediction dicts (score, contributions, bias,
        margin)."""
        r = self._post("/v1/predict", {"model": model, "rows": _records(rows),
                                       "explain": bool(explain)})
        preds = r["predictions"]
        if explain:
            return preds
        values = [p["scores"] if "scores" in p else p["score"] for p in preds]
        return _np.asarray(values, dtype=float) if _np is not None else values

    def decide(self, model, actions, context=None, user=None):
        """Asks a bandit policy to choose among `actions` (ids or {"id", "features"} dicts) for
        a context; returns {"decision_id", "action", "probabilities", "model", "version"}."""
        acts = [a if isinstance(a, dict) else {"id": str(a)} for a in actions]
        body = {"model": model, "actions": acts}
        if context is not None:
            body["context"] = context
        if user is not None:
            body["user"] = str(user)
        return self._post("/v1/decide", body)

    def reward(self, decision_id, reward):
        """Joins a reward to a logged decision; returns the join's answer."""
        return self._post("/v1/reward", {"decision_id": decision_id, "reward": reward})

    def bandits(self):
        """Every bandit policy with decisions or in the registry (list of dicts: name, family,
        aliases, versions, decisions, closed, joined, rewards, reward_rate, last_decision_at)."""
        return self._get("/api/v1/bandits")["policies"]

    def bandit(self, name, bucket="hour", since=None):
        """One policy: its decisions, rewards and reward rate per `bucket` ("hour" or "day") in
        "series", the chosen actions' shares in "actions", and the latest off-policy evaluation
        `marquee ope --policy` recorded in "ope" (None when there is none). since: only
        decisions taken from then on (ISO 8601 text, datetime or Unix seconds)."""
        return self._get(f"/api/v1/bandits/{_q(name)}",
                         query={"bucket": bucket, "since": _time(since)})

    def decisions(self, format="jsonl", policy=None):
        """Iterates the exported decision log, one dict per row, as the server streams it
        (format "jsonl" or "dsjson"; policy: only that policy's decisions)."""
        for line in self._transport.stream("GET", "/api/v1/decisions",
                                           query={"format": format, "policy": policy},
                                           headers={"Accept": "application/x-ndjson"}):
            if line.strip():
                yield json.loads(line)
