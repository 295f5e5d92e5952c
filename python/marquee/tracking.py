"""Remote tracking: a Run logged from Python into a Marquee server's registry.

    with client.start_run(model="payment-retry", params={"eta": 0.05}, dataset="uci") as run:
        for step in range(100):
            run.log_metric("logloss", loss, step=step)
        run.log_metric("auc", 0.78)
        run.register_model("model.json", family="xgboost")

Metric points are buffered and sent in batches of up to `Run.BATCH` (1,000) points: when the
buffer fills, on flush(), before artifacts and registration, and when the run finishes. Leaving the
`with` block finishes the run completed; an exception finishes it failed with the exception's
message and propagates. Thread-safety: a Run may be logged to from several threads (its buffer is
locked); the order of points from different threads is the order they reach log_metric.
"""
import os
import threading
import time
import urllib.parse

from ._http import file_size
from .errors import Error, error_for


def _now_ms():
    return int(time.time() * 1000)


class Run:
    """One tracked run. `id` is the server's run id; `info` the RUN object last received."""

    BATCH = 1000  # points per POST .../metrics

    def __init__(self, client, info):
        self._client = client
        self.info = info
        self.id = info["id"]
        self._lock = threading.Lock()
        self._buffer = []  # guarded by _lock
        self._flush_lock = threading.Lock()  # one flush at a time: a batch is sent once
        self._finished = False

    def __repr__(self):
        return f"Run(id={self.id!r}, model={self.info.get('model')!r})"

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._finished:
            return False
        if exc_type is None:
            self.finish("completed")
            return False
        try:
            self.finish("failed", message=f"{exc_type.__name__}: {exc}")
        except Error:
            pass  # the original exception is the one the caller needs to see
        return False

    def _path(self, suffix=""):
        return f"/api/v1/runs/{urllib.parse.quote(str(self.id), safe='')}{suffix}"

    def log_metric(self, key, value, step=None, timestamp=None):
        """Buffers one metric point (`step` an int, `timestamp` Unix milliseconds, default now);
        sends a batch when BATCH points are buffered. Raises InvalidArgument for a key that is
        not a non-empty string or a value that is not a number."""
        if not isinstance(key, str) or not key:
            raise error_for("invalid_argument", f"metric key {key!r} is not a non-empty string")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise error_for("invalid_argument", f"metric '{key}': value {value!r} is not a number") from None
        point = {"key": key, "value": value,
                 "timestamp": _now_ms() if timestamp is None else int(timestamp)}
        if step is not None:
            point["step"] = int(step)
        with self._lock:
            self._buffer.append(point)
            full = len(self._buffer) >= self.BATCH
        if full:
            self.flush()

    def log_metrics(self, metrics, step=None, timestamp=None):
        """log_metric for every key: value of `metrics`, all with the same step and timestamp."""
        ts = _now_ms() if timestamp is None else timestamp
        for key, value in metrics.items():
            self.log_metric(key, value, step=step, timestamp=ts)

    def flush(self):
        """Sends every buffered point (in batches of BATCH); returns how many the server logged.
        On an error the points not yet acknowledged stay buffered and the error is raised."""
        logged = 0
        with self._flush_lock:
            while True:
                with self._lock:
                    batch = self._buffer[:self.BATCH]
                if not batch:
                    return logged
                r = self._client._post(self._path("/metrics"), {"metrics": batch})
                with self._lock:
                    del self._buffer[:len(batch)]  # points appended meanwhile stay after it
                logged += int((r or {}).get("logged", len(batch)))

    def log_artifact(self, path, name=None):
        """Uploads the file at `path` (streamed, not read into memory) as artifact `name`
        (default: the file's name); returns {"name", "digest", "bytes"}."""
        name = name or os.path.basename(path)
        if not os.path.isfile(path):
            raise error_for("not_found", f"artifact file '{path}' does not exist")
        with open(path, "rb") as f:
            return self._client._transport.request(
                "POST", self._path("/artifacts/" + urllib.parse.quote(name, safe="")), body=f,
                content_length=file_size(f), headers={"Content-Type": "application/octet-stream"})

    def artifacts(self):
        """The run's artifacts: a list of {"name", "digest", "bytes"}."""
        return self._client._get(self._path("/artifacts"))["artifacts"]

    def set_tags(self, tags=None, remove=None, **kw):
        """Sets tags (a dict and/or keywords) and removes the keys in `remove`; returns all tags."""
        tags = dict(tags or {}, **kw)
        return self._client._put(self._path("/tags"), {"set": {k: str(v) for k, v in tags.items()},
                                                       "remove": list(remove or [])})["tags"]

    def register_model(self, path_or_artifact, family="xgboost", model=None):
        """Registers a model version from this run. `path_or_artifact` is a local file (uploaded
        first as an artifact named after it) or the name of an artifact already logged.
        `family` is the model family (xgboost); `model` the model name (default: the run's).
        Buffered metrics are sent first, so the version carries them. Returns the VERSION dict."""
        name = path_or_artifact
        if os.path.isfile(path_or_artifact):
            name = self.log_artifact(path_or_artifact)["name"]
        self.flush()
        body = {"artifact": name, "family": family}
        if model is not None:
            body["model"] = model
        return self._client._post(self._path("/register"), body)

    def finish(self, status="completed", message=None):
        """Sends buffered points and ends the run as `status` ("completed" or "failed");
        returns the final RUN dict. A second call raises FailedPrecondition from the server."""
        if status == "completed":
            self.flush()
        else:
            try:
                self.flush()
            except Error:
                pass  # a failing run still finishes as failed
        body = {"status": status}
        if message is not None:
            body["message"] = message
        self.info = self._client._post(self._path("/finish"), body)
        self._finished = True
        return self.info

    def refresh(self):
        """The RUN dict as the server has it now (also stored in `info`)."""
        self.info = self._client.get_run(self.id)
        return self.info
