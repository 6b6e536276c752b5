"""Small blocking TCP servers on 127.0.0.1 for the platform client's failure modes."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

Handler = Callable[[socket.socket, threading.Event], None]


@contextlib.contextmanager
def loopback_server(handle: Handler) -> Iterator[int]:
    """Yields the port of a server that gives each connection to `handle(conn, stop)`,
    one at a time on its thread; the handler owns the connection. At exit `stop` is
    set, the thread joined and the listening socket closed."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.1)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            handle(conn, stop)

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield int(srv.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        srv.close()
