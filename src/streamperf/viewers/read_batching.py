"""SO_RCVLOWAT read batching, shared by the viewers that read one TCP stream (RTMP, HTTP-FLV).

Set once the first video frame is in (so startup figures are not delayed),
it makes the kernel wake a viewer only when `rcvlowat_ms` worth of media has
arrived: a few wake-ups per second instead of dozens (DESIGN.md section 9).
The bitrate it is sized from is given (`expected_kbps`) or measured over
ESTIMATE_S; `read_delay_bound_s` records the delay the batching may add.
Linux semantics; elsewhere reads stay plain.
"""

from __future__ import annotations

import asyncio
import socket
import time

LOWAT_MAX = 65536
ESTIMATE_S = 1.0  # wall time of data used to estimate the bitrate when not given
SO_RCVLOWAT: int | None = getattr(socket, "SO_RCVLOWAT", None)


def lowat_bytes(kbps: float, bound_ms: float) -> int:
    """SO_RCVLOWAT that holds back at most `bound_ms` of media at `kbps`."""
    return max(1, min(LOWAT_MAX, int(kbps * 1000 / 8 * bound_ms / 1000)))


class ReadBatching:
    """Mixed into a viewer protocol that has `_transport` and `bytes_received`."""

    _transport: asyncio.BaseTransport | None
    bytes_received: int

    def _init_batching(self, rcvlowat_ms: float, expected_kbps: float | None) -> None:
        self.rcvlowat_ms = rcvlowat_ms
        self.expected_kbps = expected_kbps
        #: SO_RCVLOWAT in force (0: none) and the media delay it may add (s)
        self.rcvlowat_bytes = 0
        self.read_delay_bound_s = 0.0
        #: bitrate the lowat was sized from (given or measured), kbps
        self.lowat_kbps: float | None = None
        self._est_t0 = 0.0
        self._est_b0 = 0

    def _batch_from_now(self) -> None:
        """At the first video frame: batch at the given bitrate, or start measuring it."""
        if self.expected_kbps:
            self._set_lowat(self.expected_kbps)
        elif SO_RCVLOWAT is not None:
            self._est_t0 = time.monotonic()
            self._est_b0 = self.bytes_received

    def _estimating(self) -> bool:
        """Still measuring the bitrate; once ESTIMATE_S of data is in, batch at it."""
        if self._est_t0 and time.monotonic() - self._est_t0 >= ESTIMATE_S:
            elapsed = time.monotonic() - self._est_t0
            self._est_t0 = 0.0
            self._set_lowat((self.bytes_received - self._est_b0) * 8 / 1000 / elapsed)
        return bool(self._est_t0)

    def _set_lowat(self, kbps: float) -> None:
        transport = self._transport
        if SO_RCVLOWAT is None or transport is None or kbps <= 0:
            return
        n = lowat_bytes(kbps, self.rcvlowat_ms)
        sock = transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVLOWAT, n)
        except (OSError, AttributeError):
            return  # not supported here: plain reads, no added delay
        self.rcvlowat_bytes = n
        self.lowat_kbps = kbps
        self.read_delay_bound_s = n * 8 / 1000 / kbps
