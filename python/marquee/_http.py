"""The SDK's HTTP transport: one persistent http.client connection per Client.

Thread-safety: a Transport may be shared by threads; requests on the persistent connection are
serialised by a lock (one request at a time per Client; use one Client per thread for parallel
requests). Streaming reads (server-sent events, exports) use a connection of their own, so a
long stream does not block other calls.
"""
import http.client
import json
import os
import socket
import threading
import urllib.parse

from .errors import Unavailable, error_for, error_from_status

# Failures that mean a kept-alive connection was closed by the server between requests: the
# request is sent again once on a fresh connection.
_STALE = (http.client.RemoteDisconnected, http.client.CannotSendRequest, BrokenPipeError,
          ConnectionResetError, ConnectionAbortedError)


def _json_default(o):
    """json.dumps's fallback: numpy scalars and arrays become Python numbers and lists."""
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def dumps(obj):
    """JSON bytes of obj (numpy values accepted; NaN is an error, as JSON has none)."""
    try:
        return json.dumps(obj, default=_json_default, allow_nan=False).encode()
    except ValueError as e:
        raise error_for("invalid_argument", f"cannot encode the request as JSON: {e}") from None


class Transport:
    """HTTP to one server. `url` is http[s]://host[:port][/prefix]; `api_key` is sent as
    `Authorization: Bearer KEY`; `timeout` (seconds) applies to connecting and to each read."""

    def __init__(self, url, api_key=None, timeout=30):
        parts = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise error_for("invalid_argument", f"server url '{url}' is not http[s]://host[:port]")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._base_headers = {"Accept": "application/json", "User-Agent": "marquee-python"}
        if api_key:
            self._base_headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn = None  # guarded by _lock

    def _new_connection(self, timeout=None):
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self.timeout if timeout is None else timeout)

    def _headers(self, extra):
        if not extra:
            return self._base_headers
        return {**self._base_headers, **extra}

    def _unavailable(self, e):
        if isinstance(e, ConnectionRefusedError) or isinstance(e, socket.gaierror):
            what = "cannot reach the Marquee server at"
        elif isinstance(e, TimeoutError):
            what = f"no answer within {self.timeout} s from the Marquee server at"
        else:
            what = "the connection failed to the Marquee server at"
        return Unavailable("unavailable", f"{what} {self.url}: {e}")

    def close(self):
        """Closes the persistent connection (the next request opens a new one)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def request(self, method, path, query=None, json_body=None, body=None, headers=None,
                content_length=None):
        """Sends one request and returns the decoded JSON answer (None for an empty body).
        `body` may be bytes or a binary file object (streamed, with `content_length`). Raises
        the Error subclass of the server's code for a 4xx/5xx answer, Unavailable when the
        server cannot be reached."""
        extra = dict(headers or {})
        if json_body is not None:
            body = dumps(json_body)
            extra["Content-Type"] = "application/json"
        if body is not None and content_length is not None:
            extra["Content-Length"] = str(content_length)
        target = self._target(path, query)
        rewind = body.tell() if hasattr(body, "read") and hasattr(body, "tell") else None
        with self._lock:
            for attempt in (0, 1):
                reused = self._conn is not None
                if self._conn is None:
                    self._conn = self._new_connection()
                try:
                    self._conn.request(method, target, body=body, headers=self._headers(extra))
                    resp = self._conn.getresponse()
                    data = resp.read()
                except _STALE as e:
                    self._conn.close()
                    self._conn = None
                    if reused and attempt == 0 and (rewind is not None or not hasattr(body, "read")):
                        if rewind is not None:
                            body.seek(rewind)
                        continue  # the server closed the idle connection: once more, fresh
                    raise self._unavailable(e) from None
                except (OSError, http.client.HTTPException) as e:
                    self._conn.close()
                    self._conn = None
                    raise self._unavailable(e) from None
                if resp.will_close:
                    self._conn.close()
                    self._conn = None
                break
        return self._decode(resp.status, data)

    def _target(self, path, query):
        target = self._prefix + path
        if query:
            pairs = []
            for k, v in query.items():
                if v is None:
                    continue
                for item in (v if isinstance(v, (list, tuple)) else [v]):
                    if isinstance(item, bool):
                        item = "true" if item else "false"
                    pairs.append((k, str(item)))
            if pairs:
                target += "?" + urllib.parse.urlencode(pairs)
        return target

    @staticmethod
    def _decode(status, data):
        if status >= 400:
            raise error_from_status(status, data)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise error_for("internal", f"the server answered HTTP {status} with a body that is not "
                        f"JSON: {data[:200]!r}", status) from None

    def stream(self, method, path, query=None, headers=None, timeout=None, expect=None):
        """Opens a request on a connection of its own and yields the answer's lines (bytes,
        without the line end) as they arrive; the connection is closed when the generator ends
        or is closed; none when `expect` is given and the answer's Content-Type is another.
        Raises like request() for an error answer."""
        conn = self._new_connection(timeout)
        try:
            try:
                conn.request(method, self._target(path, query), headers=self._headers(headers))
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                raise self._unavailable(e) from None
            if resp.status >= 400:
                raise error_from_status(resp.status, resp.read())
            if expect and not (resp.getheader("Content-Type") or "").startswith(expect):
                return  # not the stream asked for (a server or proxy without it): no lines
            while True:
                try:
                    line = resp.readline()
                except (OSError, http.client.HTTPException) as e:
                    raise self._unavailable(e) from None
                if not line:
                    return
                yield line.rstrip(b"\r\n")
        finally:
            conn.close()


def file_size(f):
    """The byte count of an open binary file from its current position."""
    pos = f.tell()
    end = f.seek(0, os.SEEK_END)
    f.seek(pos)
    return end - pos

