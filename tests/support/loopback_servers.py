"""Servers on 127.0.0.1 at a free port, each stopped (and its handlers ended) at exit.

- `loopback_server`: a blocking TCP server on its own thread (the platform
  client's failure modes);
- `LoopbackServer`: an asyncio TCP server on the test's loop, a subclass's
  `serve` answering each connection (replays, hostile media servers);
- `start_app` / `serving`: an aiohttp.web app (hostile origins and platforms);
- `app_on_thread`: an aiohttp.web app on a thread's loop of its own, at one or more
  ports (origins a browser or a viewer on the test's own loop plays from);
- `port_free`: whether a server could bind a chosen port now.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Self

from aiohttp import web


def port_free(port: int, addr: str = "127.0.0.1") -> bool:
    """Whether `addr:port` can be bound now, with SO_REUSEADDR as the servers that take a
    chosen port set it (sshd, nginx): one left in TIME_WAIT counts as free, one a server
    listens on does not."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
        except OSError:
            return False
    return True


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


class LoopbackServer:
    """An asyncio TCP server; `async with` starts it, leaving stops it.

    A subclass answers a connection in `serve`; the connection is closed after it
    returns, and a client hanging up ends it quietly. Leaving cancels the handlers
    still running (a silent server's, a viewer's that never hung up) and waits for
    them, so that no task outlives the block.
    """

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        left = list(self._handlers)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self.serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: what a server sees every day
        except asyncio.CancelledError:
            # Leaving the block cancels it: end as if done, since asyncio's stream callback
            # reports a handler that ends cancelled to the loop's exception handler, which
            # tests watch for the viewer's own errors.
            pass
        finally:
            writer.close()
            self._handlers.discard(task)


async def start_app(app: web.Application, **runner_kw: Any) -> tuple[web.AppRunner, str]:
    """Serve `app` on 127.0.0.1 at a free port: its runner (`cleanup()` stops it) and base URL."""
    runner = web.AppRunner(app, access_log=None, **runner_kw)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` served while the block runs; yields its base URL."""
    runner, base = await start_app(app)
    try:
        yield base
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def app_on_thread(app: web.Application, ports: int = 1) -> Iterator[list[str]]:
    """`app` served on its own thread's event loop while the block runs, at `ports` free
    ports of 127.0.0.1: yields their base URLs. Its own loop, so that a sync test (a
    browser's) can use it, and a viewer on the test's loop is not slowed by serving."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="app-on-thread", daemon=True)
    thread.start()
    runner = web.AppRunner(app, access_log=None)

    async def start() -> list[str]:
        await runner.setup()
        for _ in range(ports):
            await web.TCPSite(runner, "127.0.0.1", 0).start()
        return [f"http://{a[0]}:{a[1]}" for a in runner.addresses]

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
