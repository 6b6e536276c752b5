"""One port for RTMP and HTTP, as a Wowza origin serves them (the seed's port 2000).

The seed published to `rtmp://ORIGIN:2000/live/USER` and asked the same
port `http://ORIGIN:2000/redirect/live/USER` for its edge. nginx cannot
listen with its rtmp and http modules on one port, so this front does what
Wowza does: it reads a connection's first bytes and relays the connection
to nginx's RTMP port, or to its HTTP port when they start an HTTP request.

Only the publisher and the edge lookups pass through it (viewers play from
the edge the redirect names, nginx's own RTMP port), so relaying a ~1 Mbps
stream in Python costs next to nothing. It runs on the caller's event loop.

Everything it relays reaches nginx from loopback, which nginx's `/stat`
allow-list and the seed mode's on_publish trust: so it looks at the real
client first (`local`): RTMP (a publisher) only from this machine, and no
`/stat` for anyone else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: An HTTP request starts with its method; an RTMP handshake with byte 0x03 (C0).
HTTP_STARTS = (b"GET ", b"HEAD", b"POST", b"PUT ", b"DELE", b"OPTI", b"PATC")
SNIFF_BYTES = 4
MAX_REQUEST_LINE = 8192
FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
SNIFF_TIMEOUT_S = 10.0
READ_SIZE = 65536

Address = tuple[str, int]


def route(first: bytes, rtmp: Address, http: Address) -> Address:
    """Where a connection that began with `first` goes."""
    return http if first.startswith(HTTP_STARTS) else rtmp


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(READ_SIZE):
            dst.write(data)
            await dst.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        dst.close()


class SharedPort:
    """Listens on `host:port`; relays RTMP to `rtmp`, HTTP to `http`."""

    def __init__(self, host: str, port: int, rtmp: Address, http: Address,
                 local: Callable[[str], bool] = lambda ip: False) -> None:
        self.host = host
        self.local = local  # whether a client address is this machine's
        self.port = port
        self.rtmp = rtmp
        self.http = http
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> SharedPort:
        self._server = await asyncio.start_server(self._relay, self.host, self.port,
                                                  backlog=1024)
        return self

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        up_writer: asyncio.StreamWriter | None = None
        try:
            first = await asyncio.wait_for(reader.readexactly(SNIFF_BYTES), SNIFF_TIMEOUT_S)
            peer = writer.get_extra_info("peername")
            here = bool(peer) and self.local(str(peer[0]))
            to = route(first, self.rtmp, self.http)
            if not here and to == self.rtmp:
                return  # a publisher from elsewhere: nginx would take it for ours
            if not here:  # HTTP from elsewhere: never /stat (who watches, from where)
                line = await asyncio.wait_for(reader.readuntil(b"\n"), SNIFF_TIMEOUT_S)
                first += line
                target = first.split(b" ", 2)[1] if first.count(b" ") >= 2 else b""
                if target.startswith(b"/stat") or len(first) > MAX_REQUEST_LINE:
                    writer.write(FORBIDDEN)
                    await writer.drain()
                    return
            up_reader, up_writer = await asyncio.open_connection(*to)
            up_writer.write(first)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        except asyncio.CancelledError:
            # close(): end quietly (asyncio's server callback reports a cancelled
            # handler task as an error).
            pass
        finally:
            writer.close()
            if up_writer is not None:
                up_writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def close(self) -> None:
        """Stop listening and end every relayed connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
