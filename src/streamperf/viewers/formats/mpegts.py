"""MPEG-TS: the first PES presentation time (PTS) of a segment, from its first bytes.

An HLS viewer needs one number per segment, the PTS of its first audio or
video PES, so this reads 188-byte packets only until it has that: PAT ->
PMT (which PIDs carry video, which audio) -> the first PES header with a
PTS. In nginx-rtmp segments PAT and PMT are packets 0 and 1 and the first
PES starts in packet 2, so a few hundred bytes suffice; everything after is
the caller's to count, not to parse. A PES on a PID the PMT did not list
(or before any PMT) is classified by its stream_id instead.

PTS are 33-bit 90 kHz counters and wrap every ~26.5 h; `unwrap_pts` puts a
PTS on the same lap as a reference.
"""

from __future__ import annotations

PACKET = 188
SYNC = 0x47
PTS_HZ = 90_000
PTS_WRAP = 1 << 33

# ISO/IEC 13818-1 stream_type values: MPEG-1/2 video, MPEG-4 part 2, H.264, HEVC;
# MPEG-1/2 audio, AAC (ADTS), AAC (LATM), AC-3 / E-AC-3 (ATSC).
VIDEO_TYPES = frozenset({0x01, 0x02, 0x10, 0x1B, 0x24})
AUDIO_TYPES = frozenset({0x03, 0x04, 0x0F, 0x11, 0x81, 0x87})

_VIDEO, _AUDIO = 1, 2


def unwrap_pts(pts: int, ref: int) -> int:
    """`pts` (33 bits) moved by whole wraps to lie within half a wrap of `ref`."""
    return pts + round((ref - pts) / PTS_WRAP) * PTS_WRAP


def _pts(b: bytes | bytearray, i: int) -> int:
    # 5 bytes: '001x' PTS[32..30] marker, PTS[29..15] marker, PTS[14..0] marker
    return (
        ((b[i] >> 1) & 0x07) << 30
        | b[i + 1] << 22
        | (b[i + 2] >> 1) << 15
        | b[i + 3] << 7
        | b[i + 4] >> 1
    )


class TsScanner:
    """Feed a segment's bytes from its start until `done`; read the PTS fields.

    `first_pts` is the PTS of the first audio/video PES in file order;
    `video_pts` / `audio_pts` the first of each kind. With `want_both`
    False (the usual case) scanning is done at the first PTS; with True it
    goes on until both kinds are found or the PMT shows one is absent.
    """

    __slots__ = (
        "_carry",
        "_kinds",
        "_pmt_pids",
        "audio_pts",
        "first_pts",
        "has_audio",
        "has_video",
        "packets",
        "scanned",
        "video_pts",
        "want_both",
    )

    def __init__(self, want_both: bool = False) -> None:
        self.want_both = want_both
        self.first_pts: int | None = None
        self.video_pts: int | None = None
        self.audio_pts: int | None = None
        #: None until a PMT was read; then whether it lists such a stream
        self.has_video: bool | None = None
        self.has_audio: bool | None = None
        self.packets = 0  # TS packets parsed
        self.scanned = 0  # bytes fed
        self._carry = b""
        self._pmt_pids: set[int] = set()
        self._kinds: dict[int, int] = {}  # PID -> _VIDEO | _AUDIO, from the PMT

    @property
    def done(self) -> bool:
        if self.first_pts is None:
            return False
        if not self.want_both:
            return True
        video = self.video_pts is not None or self.has_video is False
        audio = self.audio_pts is not None or self.has_audio is False
        return video and audio

    def feed(self, data: bytes | bytearray | memoryview) -> bool:
        """Parse whole packets of `data` (plus any carried partial one); return `done`."""
        self.scanned += len(data)
        if self._carry:
            buf = self._carry + bytes(data)
        elif isinstance(data, bytes):
            buf = data
        else:
            buf = bytes(data)
        pos = 0
        end = len(buf)
        while pos + PACKET <= end:
            if buf[pos] != SYNC:
                pos = self._resync(buf, pos + 1)
                continue
            self._packet(buf, pos)
            pos += PACKET
            if self.done:
                self._carry = b""
                return True
        self._carry = buf[pos:]
        return False

    @staticmethod
    def _resync(buf: bytes, pos: int) -> int:
        # Next 0x47 that is followed by another one a packet later (or by the end).
        end = len(buf)
        while True:
            pos = buf.find(b"\x47", pos)
            if pos < 0:
                return end  # nothing left that could start a packet
            if pos + PACKET >= end or buf[pos + PACKET] == SYNC:
                return pos
            pos += 1

    def _packet(self, b: bytes, p: int) -> None:
        self.packets += 1
        pusi = b[p + 1] & 0x40
        if not pusi:
            return  # only section or PES starts carry what we read
        pid = (b[p + 1] & 0x1F) << 8 | b[p + 2]
        afc = (b[p + 3] >> 4) & 0x03
        if not afc & 0x01:
            return  # no payload
        i = p + 4
        if afc & 0x02:
            i += 1 + b[i]
        end = p + PACKET
        if i >= end:
            return
        if pid == 0:
            self._pat(b, i + 1 + b[i], end)  # skip pointer_field
        elif pid in self._pmt_pids:
            self._pmt(b, i + 1 + b[i], end)
        elif b[i : i + 3] == b"\x00\x00\x01" and i + 14 <= end:
            self._pes(b, i, pid)

    def _pat(self, b: bytes, i: int, end: int) -> None:
        if i + 8 > end or b[i] != 0x00:
            return
        length = (b[i + 1] & 0x0F) << 8 | b[i + 2]
        stop = min(i + 3 + length - 4, end)  # minus CRC
        j = i + 8
        while j + 4 <= stop:
            program = b[j] << 8 | b[j + 1]
            if program != 0:  # 0 is the network PID
                self._pmt_pids.add((b[j + 2] & 0x1F) << 8 | b[j + 3])
            j += 4

    def _pmt(self, b: bytes, i: int, end: int) -> None:
        if i + 12 > end or b[i] != 0x02:
            return
        length = (b[i + 1] & 0x0F) << 8 | b[i + 2]
        stop = min(i + 3 + length - 4, end)
        j = i + 12 + ((b[i + 10] & 0x0F) << 8 | b[i + 11])  # skip program_info
        video = audio = False
        while j + 5 <= stop:
            stype = b[j]
            pid = (b[j + 1] & 0x1F) << 8 | b[j + 2]
            if stype in VIDEO_TYPES:
                self._kinds[pid] = _VIDEO
                video = True
            elif stype in AUDIO_TYPES:
                self._kinds[pid] = _AUDIO
                audio = True
            j += 5 + ((b[j + 3] & 0x0F) << 8 | b[j + 4])
        self.has_video = video or self.has_video is True
        self.has_audio = audio or self.has_audio is True

    def _pes(self, b: bytes, i: int, pid: int) -> None:
        kind = self._kinds.get(pid)
        if kind is None:
            sid = b[i + 3]
            if 0xE0 <= sid <= 0xEF:
                kind = _VIDEO
            elif 0xC0 <= sid <= 0xDF:
                kind = _AUDIO
            else:
                return
        if not b[i + 7] & 0x80:  # PTS_DTS_flags: no PTS
            return
        pts = _pts(b, i + 9)
        if self.first_pts is None:
            self.first_pts = pts
        if kind == _VIDEO:
            if self.video_pts is None:
                self.video_pts = pts
        elif self.audio_pts is None:
            self.audio_pts = pts


def scan(data: bytes | bytearray, want_both: bool = True) -> TsScanner:
    """Scan the first bytes of a segment at once (tests, one-off use)."""
    scanner = TsScanner(want_both)
    scanner.feed(data)
    return scanner


__all__ = [
    "AUDIO_TYPES",
    "PACKET",
    "PTS_HZ",
    "PTS_WRAP",
    "VIDEO_TYPES",
    "TsScanner",
    "scan",
    "unwrap_pts",
]
