"""Job progress display and the Server-Sent Events reader, without a marquee server: Progress
writes one rewritten line on a TTY and plain lines otherwise; wait_job parses `data:` lines and
the `event: end` JOB, and falls back to polling GET /api/v1/jobs/ID when the stream ends early
(a proxy cut, a restart). The HTTP side is a loopback http.server speaking the contract's
format (docs/api/openapi.yaml, /api/v1/jobs/{id}/log)."""
import http.server
import io
import json
import threading

import pytest

import marquee
from marquee._progress import Progress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_tty_rewrites_one_line():
    out = FakeTTY()
    p = Progress(stream=out)
    p.line("loading")
    p.line("training 50%")
    p.done("job 7: succeeded")
    assert out.getvalue() == ("\rloading\x1b[K\rtraining 50%\x1b[K\rjob 7: succeeded\x1b[K\n")


def test_progress_plain_and_silent():
    out = io.StringIO()
    p = Progress(stream=out)
    p.line("a")
    p.line("b")
    p.done("end")
    assert out.getvalue() == "a\nb\nend\n"
    quiet = io.StringIO()
    q = Progress(enabled=False, stream=quiet)
    q.line("a")
    q.done("end")
    assert quiet.getvalue() == ""


JOB = {"id": "7", "state": "succeeded", "result": {"run_id": 3, "model": "m", "version": 1},
       "error": None}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "full"  # "full": the whole stream; "cut": log lines, then the connection closes
    polls = 0

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.startswith("/api/v1/jobs/7/log"):
            body = b": keep-alive\n\ndata: loading dataset\n\ndata: training\ndata: 2 of 2\n\n"
            if Handler.mode == "full":
                body += b"event: end\ndata: " + json.dumps(JOB).encode() + b"\n\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path == "/api/v1/jobs/7":
            Handler.polls += 1
            job = dict(JOB, state="running" if Handler.polls < 2 else "failed",
                       error={"code": "resource_exhausted", "message": "out of memory"})
            body = json.dumps(job).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture()
def fake():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_wait_job_reads_the_event_stream(fake, capsys):
    Handler.mode = "full"
    job = marquee.Client(fake).wait_job("7")
    assert job == JOB
    err = capsys.readouterr().err
    assert err == "loading dataset\ntraining\n2 of 2\njob 7: succeeded\n"


def test_wait_job_polls_after_a_cut_stream_and_raises_the_jobs_error(fake):
    Handler.mode, Handler.polls = "cut", 0
    with pytest.raises(marquee.ResourceExhausted) as e:
        marquee.Client(fake).wait_job("7", progress=False)
    assert e.value.message == "out of memory" and e.value.job["state"] == "failed"
    assert Handler.polls == 2
