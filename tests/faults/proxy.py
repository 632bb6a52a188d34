"""A local TCP proxy in front of a real service, for injecting network faults into real
processes: it forwards, refuses connections (nothing listens), or black-holes them (accepts and
never answers, as a half-dead host or a dropped route does). It runs on its own threads, so it
keeps working while a test's event loop is blocked on the very service it stands in front of."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator

FORWARD, BLACKHOLE, DOWN = "forward", "blackhole", "down"


class TcpProxy:
    """``127.0.0.1:port`` in front of ``target``; ``mode`` says what connections get."""

    def __init__(self, target_host: str, target_port: int, mode: str = FORWARD) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._mode = mode
        self._open: set[socket.socket] = set()
        self._closed = False
        self._accepting = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._accepting.start()
        self.set_mode(mode)

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Switch at once: connections already open are cut (a forward connection does not
        survive a fault), and ``down`` stops listening so new ones are refused."""
        with self._lock:
            self._mode = mode
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
            self._open.clear()
            if mode == DOWN:
                self._close_listener()
            elif self._listener is None:
                self._listener = socket.create_server(("127.0.0.1", self.port))
                self._accepting = threading.Thread(
                    target=self._accept, name="proxy-accept", daemon=True
                )
                self._accepting.start()

    def close(self) -> None:
        self._closed = True
        self.set_mode(DOWN)

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept(self) -> None:
        listener = self._listener
        while listener is not None and not self._closed:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed (down)
            with self._lock:
                self._open.add(client)
                mode = self._mode
            if mode == FORWARD:
                threading.Thread(
                    target=self._forward, args=(client,), name="proxy-pipe", daemon=True
                ).start()
            # BLACKHOLE: keep the socket open and never read or answer.

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            with contextlib.suppress(OSError):
                client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            if self._mode != FORWARD:
                upstream.close()
                return
            self._open.add(upstream)
        pair = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select(list(pair), [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.close()


@contextlib.contextmanager
def proxy(target_host: str, target_port: int, mode: str = FORWARD) -> Iterator[TcpProxy]:
    """A ``TcpProxy`` for the duration of a ``with`` block."""
    running = TcpProxy(target_host, target_port, mode)
    try:
        yield running
    finally:
        running.close()
