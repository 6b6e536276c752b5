"""Native asyncio RTMP viewer: handshake, connect, createStream, play, then
count bytes and media timestamps until the play time is up.

Cost matters here (thousands of viewers per process; DESIGN section 9):
- reads go through asyncio.BufferedProtocol into ONE buffer shared by all
  viewers of an event loop: the loop calls get_buffer, recv_into and
  buffer_updated back to back for one socket, and the parser keeps nothing
  that points into the buffer (only a partial header, copied out);
- the viewer owns a chunk parser (chunks.py ChunkParser) and feeds it
  each read in place; the parser skips payloads by offset and returns what
  it found (commands, first frames), an empty tuple for plain media;
- SO_RCVLOWAT, set once the first video frame is in (so startup figures
  are not delayed), makes the kernel wake us only when rcvlowat_ms worth of
  media has arrived (viewers/read_batching.py, shared with HTTP-FLV).
The viewer keeps no timers of its own beyond its end-of-play and setup
deadlines: the shard samples `bytes_received` and `media_ts_ms`.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from streamperf.viewers.base import (
    FIRST_AUDIO,
    FIRST_VIDEO,
    EventCallback,
    SocketViewerSteps,
    Viewer,
)
from streamperf.viewers.per_loop import PerLoop
from streamperf.viewers.read_batching import ReadBatching
from streamperf.viewers.rtmp import amf
from streamperf.viewers.rtmp.chunks import (
    ACK,
    COMMAND_AMF0,
    COMMAND_AMF3,
    MAX_HEADER,
    SET_CHUNK_SIZE,
    USER_CONTROL,
    WINDOW_ACK_SIZE,
    ChunkParser,
    FirstFrame,
    Found,
    RtmpProtocolError,
)
from streamperf.viewers.rtmp.encode import encode_message

HANDSHAKE_SIZE = 1536
READ_SIZE = 65536
OUT_CHUNK_SIZE = 4096  # announced before connect, so our commands go in one chunk
CSID_CONTROL, CSID_COMMAND, CSID_STREAM = 2, 3, 8

# user control events
STREAM_BEGIN, STREAM_EOF, SET_BUFFER_LENGTH, PING_REQUEST, PING_RESPONSE = 0, 1, 3, 6, 7

_TXN_CONNECT, _TXN_CREATE_STREAM = 1, 2
MAX_STREAM_ID = 0xFFFFFFFF  # a message stream id is 4 bytes in a chunk header
DEFAULT_RTMP_PORT = 1935  # RTMP's registered port: what a URL without one means

def _read_buffer(loop: asyncio.AbstractEventLoop) -> tuple[bytearray, list[memoryview]]:
    """One read buffer per event loop, with a memoryview per possible carry length."""
    buf = bytearray(MAX_HEADER + READ_SIZE)
    return buf, [memoryview(buf)[k : k + READ_SIZE] for k in range(MAX_HEADER + 1)]


_buffers = PerLoop(_read_buffer)


def parse_rtmp_url(url: str) -> tuple[str, int, str, str, str]:
    """(host, port, app, stream name with query, tcUrl) of rtmp://host[:port]/app[/...]/name."""
    parts = urlsplit(url)
    if parts.scheme != "rtmp" or not parts.hostname:
        raise ValueError(f"not an rtmp:// URL: {url}")
    path = parts.path.strip("/")
    if "/" not in path:
        raise ValueError(f"RTMP URL needs /app/stream: {url}")
    app, name = path.rsplit("/", 1)
    if parts.query:
        name = f"{name}?{parts.query}"
    port = parts.port or DEFAULT_RTMP_PORT
    host = parts.hostname
    tc_url = f"rtmp://{host}:{port}/{app}"
    return host, port, app, name, tc_url


class RtmpViewer(SocketViewerSteps, ReadBatching, asyncio.BufferedProtocol):
    """One RTMP player (the contract: viewers.base.Viewer; stopping: SocketViewerSteps)."""

    protocol = "rtmp"

    def __init__(
        self,
        url: str,
        on_event: EventCallback,
        connect_timeout: float = 10.0,
        rcvlowat_ms: float = 200.0,
        expected_kbps: float | None = None,
    ) -> None:
        #: the chunk parser this protocol feeds (server-to-client direction)
        self.parser = ChunkParser()
        self.url = url
        self.host, self.port, self.app, self.stream_name, self.tc_url = parse_rtmp_url(url)
        self.on_event = on_event
        self.connect_timeout = connect_timeout
        self._init_batching(rcvlowat_ms, expected_kbps)
        self.bytes_received = 0
        self.playing = False
        #: time.time() when run() began (the viewer asked to play)
        self.play_requested_wall: float | None = None
        #: time.time() when the first video frame was complete
        self.first_video_wall: float | None = None
        self.stream_id = 0
        self.error: str | None = None  # first error name, for callers that want it
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._views: list[memoryview] = []
        self._k = 0  # carried header bytes in front of the current read
        self._hs: bytearray | None = bytearray()  # handshake bytes until done
        self._slow = True  # handshake or bitrate estimate still in progress
        self._broken: Exception | None = None  # raised in get_buffer (see there)
        self._ack_window = 0
        self._ack_at = 1 << 62
        self._done: asyncio.Future[None] | None = None
        self._closed = False

    # --- the Viewer API ---------------------------------------------------
    async def run(self, duration: float) -> None:
        loop = asyncio.get_running_loop()
        self.play_requested_wall = time.time()
        self._buf, self._views = _buffers.get(loop)
        done = self._done = loop.create_future()
        end_timer = loop.call_later(duration, self._end)
        setup_timer = loop.call_later(self.connect_timeout, self._setup_timeout)
        try:
            if self._closed:
                return
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await loop.create_connection(lambda: self, self.host, self.port)
            except TimeoutError:
                self._fail("timeout", f"TCP connect not done in {self.connect_timeout:g}s")
                return
            except OSError as e:
                # asyncio's message hides the reason ("Connect call failed"); errno has it
                why = os.strerror(e.errno) if e.errno else str(e) or type(e).__name__
                self._fail("connect", f"TCP connect failed: {why}")
                return
            if self._closed:
                return
            await done
        finally:
            end_timer.cancel()
            setup_timer.cancel()
            self._shutdown()

    # --- asyncio protocol -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is not an asyncio.Transport subclass, only alike
        self._transport = transport = cast(asyncio.Transport, transport)
        if self._closed:
            transport.abort()
            return
        # C0 (version 3) + C1 (time, zero, filler); zero version bytes ask
        # for the simple handshake, which nginx-rtmp and others accept.
        c1 = bytearray(HANDSHAKE_SIZE)
        c1[0:4] = int(time.monotonic() * 1000 % 2**32).to_bytes(4, "big")
        c1[8:] = os.urandom(HANDSHAKE_SIZE - 8)
        transport.write(b"\x03" + bytes(c1))

    def get_buffer(self, sizehint: int) -> memoryview:
        try:
            carry = self.parser.carry
            k = self._k = len(carry)
            if k:
                self._buf[:k] = carry
            return self._views[k]
        except Exception as e:  # zero-cost until raised
            # Never expected; but the event loop would only say "get_buffer failed" and
            # drop the connection, and closing from here is unsafe under uvloop. So: a
            # scratch buffer now, and this viewer's protocol error, naming the cause, in
            # buffer_updated (the slow path checks for it).
            self._broken = e
            self._slow = True
            self._k = 0
            return memoryview(bytearray(READ_SIZE))

    def buffer_updated(self, nbytes: int) -> None:
        self.bytes_received += nbytes
        if self._slow:
            self._slow_read(nbytes)
            return
        try:
            found = self.parser.feed_buffer(self._buf, self._k + nbytes)
            if found:
                self._handle(found)
        except Exception as e:  # free on the hot path: try costs nothing until raised
            self._protocol_error(e)
            return
        if self.bytes_received >= self._ack_at:
            self._send_ack()

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost reports it

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.playing = False
        if not self._closed:
            why = f"connection lost: {exc}" if exc else "server closed the connection"
            if not self.parser.at_message_boundary():
                why += " mid-message"
            self._fail("disconnect", why)

    # --- reads before steady state ------------------------------------------
    def _slow_read(self, nbytes: int) -> None:
        if self._broken is not None:
            self._protocol_error(self._broken)
            return
        k = self._k
        hs = self._hs
        if hs is not None:
            need = 1 + 2 * HANDSHAKE_SIZE - len(hs)
            take = min(need, nbytes)
            hs += self._buf[k : k + take]
            if take < need:
                return
            self._hs = None
            self._handshake_done(hs)
            if self._closed:
                return
            try:
                self._handle(self.parser.feed_data(self._buf[k + take : k + nbytes]))
            except Exception as e:
                self._protocol_error(e)
            self._slow = self._needs_slow()
            return
        try:
            self._handle(self.parser.feed_buffer(self._buf, k + nbytes))
        except Exception as e:
            self._protocol_error(e)
            return
        if self.bytes_received >= self._ack_at:
            self._send_ack()
        self._slow = self._needs_slow()

    def _needs_slow(self) -> bool:
        return self._hs is not None or self._estimating() or self.parser.first_video_ts < 0

    def _handshake_done(self, hs: bytearray) -> None:
        if hs[0] != 3:
            self._fail("protocol", f"handshake: server version {hs[0]}, expected 3")
            return
        s1 = bytes(hs[1 : 1 + HANDSHAKE_SIZE])
        # C2 echoes S1; then announce our chunk size and connect at once.
        self._write(
            s1
            + encode_message(
                CSID_CONTROL, SET_CHUNK_SIZE, 0, OUT_CHUNK_SIZE.to_bytes(4, "big"), 128
            )
            + self._command(
                "connect",
                _TXN_CONNECT,
                {
                    "app": self.app,
                    "flashVer": "LNX 9,0,124,2",
                    "tcUrl": self.tc_url,
                    "fpad": False,
                    "capabilities": 15,
                    "audioCodecs": 3575,
                    "videoCodecs": 252,
                    "videoFunction": 1,
                },
            )
        )

    # --- what the parser found ------------------------------------------------
    def _handle(self, found: Sequence[Found]) -> None:
        for item in found:
            if self._closed:  # e.g. play refused: the rest is moot
                return
            if isinstance(item, FirstFrame):
                self._first_frame(item.video, item.ts)
            else:
                self._message(item.mtype, item.payload)

    def _message(self, mtype: int, payload: bytes) -> None:
        if mtype == USER_CONTROL:
            self._user_control(payload)
        elif mtype == WINDOW_ACK_SIZE and len(payload) >= 4:
            self._ack_window = int.from_bytes(payload[:4], "big")
            self._ack_at = self.bytes_received + self._ack_window if self._ack_window else 1 << 62
        elif mtype == COMMAND_AMF0 or mtype == COMMAND_AMF3:
            body = payload[1:] if mtype == COMMAND_AMF3 and payload[:1] == b"\x00" else payload
            try:
                values = amf.decode(body)
            except amf.AmfError as e:
                raise RtmpProtocolError(f"bad command message: {e}") from e
            if values and isinstance(values[0], str):
                self._command_received(values[0], values[1:])
        # ACK, SET_PEER_BANDWIDTH: nothing to do for a player

    def _user_control(self, payload: bytes) -> None:
        if len(payload) < 2:
            return
        event = int.from_bytes(payload[:2], "big")
        if event == PING_REQUEST:
            self._write(
                encode_message(
                    CSID_CONTROL,
                    USER_CONTROL,
                    0,
                    PING_RESPONSE.to_bytes(2, "big") + payload[2:6],
                    OUT_CHUNK_SIZE,
                )
            )

    def _command_received(self, name: str, args: list[Any]) -> None:
        txn = args[0] if args else 0
        info = args[2] if len(args) > 2 and isinstance(args[2], dict) else {}
        if name == "_result" and txn == _TXN_CONNECT:
            self._write(self._command("createStream", _TXN_CREATE_STREAM, None))
        elif name == "_result" and txn == _TXN_CREATE_STREAM:
            self.stream_id = _stream_id(args)
            self._write(
                self._command("play", 0, None, self.stream_name, -2, msid=self.stream_id)
                + encode_message(
                    CSID_CONTROL,
                    USER_CONTROL,
                    0,
                    SET_BUFFER_LENGTH.to_bytes(2, "big")
                    + self.stream_id.to_bytes(4, "big")
                    + (3000).to_bytes(4, "big"),
                    OUT_CHUNK_SIZE,
                )
            )
        elif name == "_error":
            what = "connect" if txn == _TXN_CONNECT else "createStream"
            self._fail("protocol", f"{what} refused: {_status_text(info)}")
        elif name == "onStatus":
            code = str(info.get("code", ""))
            if code == "NetStream.Play.Start":
                self.playing = True
            elif info.get("level") == "error" or code.endswith((".Failed", ".StreamNotFound")):
                self._fail("protocol", f"play refused: {_status_text(info)}")
        elif name == "close":
            self._fail("disconnect", "server sent close")

    def _first_frame(self, video: bool, ts: int) -> None:
        if not video:
            self.on_event(FIRST_AUDIO, "", ts / 1000, "")
            return
        self.first_video_wall = time.time()
        self.on_event(FIRST_VIDEO, "", ts / 1000, "")
        self._batch_from_now()  # only from here on: startup figures are not delayed

    # --- helpers ------------------------------------------------------------
    def _command(self, name: str, txn: int, *args: Any, msid: int = 0) -> bytes:
        payload = amf.encode(name, txn, *args) if args else amf.encode(name, txn)
        csid = CSID_STREAM if msid else CSID_COMMAND
        return encode_message(csid, COMMAND_AMF0, msid, payload, OUT_CHUNK_SIZE)

    def _send_ack(self) -> None:
        self._write(
            encode_message(
                CSID_CONTROL, ACK, 0, (self.bytes_received & 0xFFFFFFFF).to_bytes(4, "big"), 128
            )
        )
        self._ack_at = self.bytes_received + self._ack_window

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def _protocol_error(self, e: Exception) -> None:
        """What the server sent could not be followed: this viewer's protocol error.

        Never an exception out of buffer_updated (asyncio would log a traceback
        and call it a disconnect). Anything but RtmpProtocolError is named.
        """
        why = str(e) if isinstance(e, RtmpProtocolError) else f"{type(e).__name__}: {e}"
        self._fail("protocol", why)

    def _setup_timeout(self) -> None:
        if not self.playing and not self._closed:
            stage = "handshake" if self._hs is not None else "connect/createStream/play"
            self._fail(
                "timeout",
                f"no NetStream.Play.Start within {self.connect_timeout:g}s (stuck in {stage})",
            )

    def _error_url(self) -> str:
        return self.url


def _stream_id(args: list[Any]) -> int:
    """The message stream id a createStream `_result` gives, or RtmpProtocolError.

    AMF0 numbers are doubles: NaN, infinities, fractions, negatives and
    anything past the 4 bytes a chunk header holds are no stream id.
    """
    sid = args[2] if len(args) > 2 else None
    if not isinstance(sid, float | int) or isinstance(sid, bool):
        raise RtmpProtocolError(f"createStream answered {str(args)[:80]}")
    whole = isinstance(sid, int) or (math.isfinite(sid) and sid.is_integer())
    if not (whole and 0 <= sid <= MAX_STREAM_ID):
        raise RtmpProtocolError(f"createStream answered stream id {sid!r}, not 0..{MAX_STREAM_ID}")
    return int(sid)


def _status_text(info: dict[str, Any]) -> str:
    code = info.get("code", "?")
    desc = info.get("description")
    return f"{code} ({desc})" if desc else str(code)


__all__ = ["RtmpViewer", "parse_rtmp_url"]

if TYPE_CHECKING:  # mypy checks that RtmpViewer fits the Viewer protocol
    _fits: type[Viewer] = RtmpViewer
