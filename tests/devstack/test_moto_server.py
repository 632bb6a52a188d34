"""The dev stack's moto endpoint: moto's own application, its package listing read once, served
with connections kept alive (over real HTTP)."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections.abc import Callable

import boto3
import moto.backends
import psutil
from botocore.config import Config

from roto.devstack.moto_server import listed_once
from roto.devstack.services import LOCAL_AWS_ENV, MotoServer

CREDENTIALS = {
    "region_name": LOCAL_AWS_ENV["AWS_DEFAULT_REGION"],
    "aws_access_key_id": LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
    "aws_secret_access_key": LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
}


def _authorization(service: str) -> str:
    """A SigV4 header's shape, from which moto tells the service (it checks no signature)."""
    return (
        "AWS4-HMAC-SHA256 Credential=local/20261203/us-east-1/"
        f"{service}/aws4_request, SignedHeaders=host, Signature=0"
    )


def test_a_listing_is_read_once_and_given_back_unchanged() -> None:
    calls = []

    def listing() -> list[str]:
        calls.append(1)
        return ["s3", "sqs"]

    cached = listed_once(listing)
    assert cached() == ("s3", "sqs")
    assert cached() == ("s3", "sqs")
    assert len(calls) == 1


def test_the_cached_listing_is_motos_own() -> None:
    """What the launcher keeps is what moto would list on each request (its service packages,
    s3 and sqs among them)."""
    original = moto.backends.list_of_moto_modules
    cached = listed_once(original)
    assert cached() == tuple(original())
    assert {"s3", "sqs"} <= set(cached())


def test_the_endpoint_keeps_a_connection_alive_across_s3_and_sqs_calls() -> None:
    """Several calls on one TCP connection, as S3 and SQS allow: none is answered with
    ``Connection: close``, and each is served on the connection the first one opened."""
    server = MotoServer.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.connect()
        opened = connection.sock
        calls = [
            ("s3", "PUT", "/keepalive-bucket", b""),
            ("s3", "PUT", "/keepalive-bucket/mask.json", b'{"rle": []}'),
            ("s3", "GET", "/keepalive-bucket/mask.json", b""),
            ("sqs", "POST", "/", b"Action=CreateQueue&QueueName=keepalive&Version=2012-11-05"),
        ]
        for service, method, path, body in calls:
            headers = {"Authorization": _authorization(service)}
            if method == "POST":
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
            assert answer.status == 200, (method, path, answer.status, payload[:300])
            assert (answer.getheader("Connection") or "").lower() != "close", (method, path)
            assert connection.sock is opened, f"{method} {path} came on a new connection"
        assert b"keepalive" in payload  # the new queue's URL
        connection.close()
    finally:
        server.stop()


def test_a_long_poll_in_flight_does_not_hold_up_a_stop() -> None:
    """An SQS long poll holds a request for up to 20 s; stopping the endpoint cuts it off."""
    server = MotoServer.start()
    sqs = boto3.client("sqs", endpoint_url=server.endpoint, **CREDENTIALS)
    url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
    # The client above keeps its connection open: the poll's, from a client of its own, is new.
    before = _served_connections(server)
    polling = threading.Thread(
        target=_poll_until_cut_off, args=(server, url), name="long-poll", daemon=True
    )
    polling.start()
    _wait_for(lambda: _served_connections(server) > before, "the long poll's connection")
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 10, "the stop waited for the long poll"
    assert server.proc.poll() is not None
    polling.join(timeout=10)
    assert not polling.is_alive(), "the long poll outlived the endpoint"


def _poll_until_cut_off(server: MotoServer, url: str) -> None:
    # One attempt: botocore's default retries would call the stopped endpoint again after
    # backoffs of up to 1, 2, 4 and 8 s, and keep this thread alive past the test's wait.
    once = Config(retries={"total_max_attempts": 1})
    sqs = boto3.client("sqs", endpoint_url=server.endpoint, config=once, **CREDENTIALS)
    with contextlib.suppress(Exception):  # the stop cuts the connection
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)


def _served_connections(server: MotoServer) -> int:
    """Open TCP connections on the endpoint's side (its port is their local one)."""
    return sum(
        1
        for c in psutil.net_connections("tcp")
        if c.laddr and c.laddr.port == server.port and c.status == psutil.CONN_ESTABLISHED
    )


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never came")
        time.sleep(0.05)
