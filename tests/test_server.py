"""The server itself on loopback: slow clients are cut off, query strings stay out of logs."""

import logging
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI

from lunggate.api.server import BoundedH11Protocol, DropQueryStrings


@pytest.fixture
def server():
    app = FastAPI()

    @app.post("/echo")
    async def echo(payload: dict) -> dict:
        return payload

    protocol = type("Fast", (BoundedH11Protocol,), {"read_timeout": 0.5})
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=protocol, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield srv.servers[0].sockets[0].getsockname()[1]
    srv.should_exit = True
    thread.join(5)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False


@pytest.mark.parametrize(
    "partial",
    [
        b"",
        b"POST /echo HTTP/1.1\r\nHost: x\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\n"
        b'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"a": ',
    ],
    ids=["silent", "headers-unfinished", "body-short"],
)
def test_a_request_that_arrives_too_slowly_is_closed(server, partial):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(partial)
        assert closed_within(sock, 3.0)


def test_a_prompt_request_is_served(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        body = b'{"a": 1}'
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        sock.settimeout(3)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")


def test_access_log_drops_query_strings():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4", "POST", "/v1/predict?api_key=s3cret", "1.1", 200),
        None,
    )
    assert DropQueryStrings().filter(record)
    assert "s3cret" not in record.getMessage() and "/v1/predict" in record.getMessage()


@pytest.mark.slow
def test_soak_serves_every_request_and_reports_memory_per_round():
    from lunggate.lab.soak import soak

    report = soak(rounds=2, per_round=8, clients=4)
    assert report["requests"] == 16 and report["non_200"] == 0
    assert len(report["rss_mb_per_round"]) == 2 and report["rss_mb_at_start"] > 100
