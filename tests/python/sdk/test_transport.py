"""Typed errors and the connection: every server error arrives as the marquee.Error subclass of
its code with the server's message; a refused connection is Unavailable naming the URL; a
keep-alive connection the server closed is reopened; the API key is sent."""
import socket
import threading
import time

import pytest

import marquee
from conftest import READER


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_unavailable_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    c = marquee.Client(url, timeout=5)
    with pytest.raises(marquee.Unavailable) as e:
        c.recommend("recs", user="u1")
    assert url in str(e.value) and e.value.code == "unavailable" and e.value.status is None


def test_bad_url_is_invalid_argument():
    with pytest.raises(marquee.InvalidArgument):
        marquee.Client("ftp://example.org")


def test_not_found_carries_code_message_status(client):
    with pytest.raises(marquee.NotFound) as e:
        client.recommend("no-such-model@production", user="u1")
    assert e.value.code == "not_found" and e.value.status == 404
    assert "no-such-model" in e.value.message
    assert isinstance(e.value, marquee.Error)


def test_invalid_argument_names_the_field(client):
    with pytest.raises(marquee.InvalidArgument) as e:
        client.recommend("recs@production", user="u1", k=0)
    assert e.value.status == 400 and "k" in e.value.message
    with pytest.raises(marquee.InvalidArgument) as e:
        client.recommend("recs@production", user="u1", colour="red")
    assert "colour" in e.value.message


def test_nan_in_a_json_body_is_refused_before_sending(client):
    with pytest.raises(marquee.InvalidArgument):
        client.reward("0" * 32, float("nan"))


def test_unknown_code_is_the_base_class():
    e = marquee.errors.error_from_status(500, b'{"error": {"code": "io_error", "message": "disk"}}')
    assert type(e) is marquee.Error and e.code == "io_error" and e.message == "disk"
    e = marquee.errors.error_from_status(502, b"<html>bad gateway</html>")
    assert type(e) is marquee.Error and "bad gateway" in e.message
    e = marquee.errors.error_from_status(503, b"down")
    assert type(e) is marquee.Unavailable


def test_api_keys_unauthenticated_and_permission_denied(auth_server):
    anon = marquee.Client(auth_server.url)
    with pytest.raises(marquee.Unauthenticated) as e:
        anon.serving_models()
    assert e.value.status == 401
    wrong = marquee.Client(auth_server.url, api_key="not-a-key")
    with pytest.raises(marquee.Unauthenticated):
        wrong.serving_models()
    reader = marquee.Client(auth_server.url, api_key=READER)
    reader.serving_models()  # read scope: allowed
    with pytest.raises(marquee.PermissionDenied) as e:
        reader.events([{"user": "a", "item": "b"}])  # write scope
    assert e.value.status == 403


def test_reconnects_after_the_server_closed_an_idle_connection(auth_server):
    """The auth server closes idle keep-alive connections after 1 s: the next call must open a
    new connection transparently. (With 300 ms, two back-to-back calls could be that far apart on
    a loaded 2-core machine, and the shared-connection check below failed.)"""
    c = marquee.Client(auth_server.url, api_key=READER)
    first = c.serving_models()
    conn = c._transport._conn
    assert conn is not None, "the connection is kept alive between calls"
    assert c.serving_models() == first
    assert c._transport._conn is conn, "back-to-back calls share one connection"
    time.sleep(2.0)
    assert c.serving_models() == first
    assert c._transport._conn is not conn, "the closed connection was replaced"


def test_one_client_shared_by_threads(client):
    want = client.recommend("recs@production", user="u3", k=3)
    results, errors = [], []

    def worker():
        try:
            for _ in range(20):
                results.append(client.recommend("recs@production", user="u3", k=3))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 80 and all(r == want for r in results)


def test_a_server_that_does_not_answer_is_unavailable_naming_the_timeout():
    with socket.socket() as s:  # accepts connections (backlog), never answers
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        c = marquee.Client(url, timeout=0.3)
        with pytest.raises(marquee.Unavailable) as e:
            c.health()
    assert "no answer within 0.3 s" in e.value.message and url in e.value.message
