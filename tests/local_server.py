"""A throwaway HTTP server on 127.0.0.1 (ephemeral port) for the download tests.

It only ever binds the loopback address; tests never reach any other host.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_length: int | None = None  # a larger value than len(body) simulates truncation
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Content-Disposition
    raw: bytes | None = None  # sent as is instead of an HTTP response (invalid HTTP)
    reset_after: int | None = None  # body bytes sent before the connection is reset (RST)
    trickle: float = 0.0  # seconds slept before each body byte, sent one at a time


@dataclass
class LocalServer:
    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def add(self, path: str, body: bytes, **options: Any) -> str:
        """Serve ``body`` at ``path``; return its URL."""
        self.routes[path] = Route(body, **options)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(server: LocalServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            server.requests.append(self.path)
            route = server.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            self.close_connection = True  # then the socket closes: a short body is truncated
            if route.raw is not None:
                self.wfile.write(route.raw)
                return
            self.send_response(route.status)
            length = route.content_length if route.content_length is not None else len(route.body)
            self.send_header("Content-Length", str(length))
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if route.reset_after is not None:
                self.wfile.write(route.body[: route.reset_after])
                self.wfile.flush()
                # Linger 0: closing sends a TCP reset instead of an orderly end of stream.
                linger = struct.pack("ii", 1, 0)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.close()
                return
            step = 1 if route.trickle else max(len(route.body), 1)
            try:
                for start in range(0, len(route.body), step):
                    time.sleep(route.trickle)
                    self.wfile.write(route.body[start : start + step])
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a deadline or read timeout under test)

        def finish(self) -> None:
            with contextlib.suppress(OSError, ValueError):  # a connection reset on purpose
                super().finish()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@contextlib.contextmanager
def local_server() -> Iterator[LocalServer]:
    """A running server; shut down and closed on exit."""
    server = LocalServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def unused_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
