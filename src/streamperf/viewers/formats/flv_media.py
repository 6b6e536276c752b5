"""What FLV tags and RTMP media messages share: the media types and what the
first bytes of an audio/video payload say.

RTMP carries FLV tag bodies as its audio (8) and video (9) messages, so an
RTMP chunk stream (rtmp/chunks.py) and an HTTP-FLV tag stream (flv/tags.py)
hand the same payloads to the same checks: is this a picture or codec
configuration, a key frame, sound or an AAC sequence header. Both parsers
look at the first two payload bytes only until the first frames are seen,
through one `FirstFrames` each.
"""

from __future__ import annotations

from typing import NamedTuple

# RTMP message types = FLV tag types
AUDIO, VIDEO, SCRIPT_DATA = 8, 9, 18
MEDIA_TYPES = (AUDIO, VIDEO)
HEAD_BYTES = 2  # payload bytes the checks below look at


class FirstFrame(NamedTuple):
    """The first video (or audio) frame, not codec configuration, is complete."""

    video: bool
    ts: int


def is_video_frame(b0: int, b1: int, length: int) -> bool:
    """True for a video payload that carries a picture (not codec config)."""
    if b0 & 0x80:  # enhanced RTMP/FLV: low nibble is the packet type
        return (b0 & 0x0F) in (1, 3)  # CodedFrames, CodedFramesX
    if (b0 & 0x0F) == 7:  # AVC: byte 1 is AVCPacketType, 1 = NALUs
        return length >= 2 and b1 == 1
    return length >= 1


def is_keyframe(b0: int) -> bool:
    """True for a video payload whose frame type is a key frame (legacy and enhanced)."""
    return ((b0 >> 4) & 0x07) == 1


def is_audio_frame(b0: int, b1: int, length: int) -> bool:
    """True for an audio payload that carries sound (not an AAC sequence header)."""
    if (b0 >> 4) == 10:  # AAC: byte 1 is AACPacketType, 1 = raw
        return length >= 2 and b1 == 1
    return length >= 1


class FirstFrames:
    """Watches audio/video payload heads until the first real frame of each is seen.

    `peek` holds the media types still watched (empty once both first frames
    are in): a parser copies `HEAD_BYTES` of a payload only for those, and
    skips every other payload by offset.
    """

    __slots__ = ("audio_ts", "peek", "video_ts")

    def __init__(self) -> None:
        #: ts (ms) of the first video/audio frame, -1 until seen
        self.video_ts = -1
        self.audio_ts = -1
        self.peek: tuple[int, ...] = MEDIA_TYPES

    def check(self, mtype: int, ts: int, head: bytes | bytearray, length: int) -> FirstFrame | None:
        """The FirstFrame this payload (first bytes `head`, `length` in all) is, if any."""
        b0 = head[0] if head else 0
        b1 = head[1] if len(head) > 1 else 0
        if mtype == VIDEO:
            if self.video_ts < 0 and is_video_frame(b0, b1, length):
                self.video_ts = ts
                self.peek = tuple(t for t in self.peek if t != VIDEO)
                return FirstFrame(True, ts)
        elif mtype == AUDIO and self.audio_ts < 0 and is_audio_frame(b0, b1, length):
            self.audio_ts = ts
            self.peek = tuple(t for t in self.peek if t != AUDIO)
            return FirstFrame(False, ts)
        return None
