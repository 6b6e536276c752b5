"""A platform API that misbehaves on purpose, for fault tests: a small aiohttp proxy on
127.0.0.1 in front of a real platform (the bundled one), answering chosen endpoints
with a 5xx, not at all (until a long sleep ends), or a 200 whose body drips a byte
at a time. Everything else is passed through as it is.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from tests.support.loopback_servers import start_app

ERROR, HANG, DRIP = "5xx", "hang", "drip"


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    kind: str  # ERROR, HANG or DRIP
    every: int = 1  # fault every n-th matching call (1: all of them)
    seconds: float = 30.0  # HANG: how long before answering; DRIP: how long the drip lasts
    seen: int = 0
    served: int = 0  # calls answered with the fault

    def take(self, method: str, path: str) -> bool:
        if method != self.method or not self.path.fullmatch(path):
            return False
        self.seen += 1
        if (self.seen - 1) % self.every:
            return False
        self.served += 1
        return True


@dataclass
class FaultServer:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        for fault in self.faults:
            if fault.take(request.method, request.path):
                return await self._misbehave(fault, request)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length", "transfer-encoding")}
        async with self._client.request(request.method, self.upstream + request.path_qs,
                                        headers=headers, data=body) as up:
            data = await up.read()
            return web.Response(status=up.status, body=data,
                                content_type=up.content_type or "application/json")

    async def _misbehave(self, fault: Fault, request: web.Request) -> web.StreamResponse:
        if fault.kind == ERROR:
            return web.json_response({"error": "upstream unavailable"}, status=503)
        if fault.kind == HANG:
            await asyncio.sleep(fault.seconds)
            return web.json_response({})
        body = b'{"ok": true, "padding": "' + b"x" * 40 + b'"}'
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Content-Length": str(len(body))})
        await resp.prepare(request)
        pause = fault.seconds / len(body)
        try:
            for i in range(len(body)):
                await resp.write(body[i:i + 1])
                await asyncio.sleep(pause)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass  # the client gave up waiting, as it should
        return resp

    @contextmanager
    def running(self) -> Iterator[FaultServer]:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        runner: list[web.AppRunner] = []

        async def start() -> None:
            self._client = aiohttp.ClientSession()
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            r, _ = await start_app(app, shutdown_timeout=0.5)
            self.port = int(r.addresses[0][1])
            runner.append(r)

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(start())
            started.set()
            loop.run_forever()

        thread = threading.Thread(target=serve, name="fault-server", daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("fault server did not start")
        try:
            yield self
        finally:
            async def stop() -> None:
                await runner[0].cleanup()
                await self._client.close()
                # Handlers still hanging (HANG) end now, not when the loop is collected.
                rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in rest:
                    task.cancel()
                await asyncio.gather(*rest, return_exceptions=True)

            asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
