"""The pull: one ffmpeg per published stream, reading it back from nginx over RTMP and
writing fragmented MP4 to its stdout, read on the platform's event loop into a
StreamStore.

The flags, as measured with ffmpeg 5.1 on the publisher's 30 fps, 2 s GOP:
`frag_keyframe` starts a fragment at each key frame and `-frag_duration
330000` one every 10 frames (333-334 ms; 333333 would cut 10 or 11 as frame
times jitter by a millisecond), six per GOP. `-copyts` with
`frag_discont+delay_moov` makes each tfdt the publisher's RTMP timestamp (without
them ffmpeg's tfdt starts at 0). `empty_moov` keeps the moov free of samples,
`default_base_moof` makes each fragment stand alone (a part is a resource of
its own). ffmpeg's default probe (5 s) stays: nginx-rtmp sends a new player
audio at once and video from the next key frame, up to a GOP later, and a
shorter probe (0.5 s) wrote an audio-only stream.

While the stream is published the pull is retried (nginx may not serve the
stream yet when on_publish asks; the publisher may restart); it ends when its
output ends and nginx no longer has the stream, or when the origin stops.
ffmpeg is stopped by its PID: SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from streamperf.media.processes import dying_with_parent
from streamperf.platforms.reference.llhls.fragments import Fmp4Error, Fmp4Reader, InitSection
from streamperf.platforms.reference.llhls.store import StreamStore

log = logging.getLogger(__name__)

FRAG_DURATION_US = 330_000
RETRY_S = 0.5
#: retried without asking nginx this long after on_publish (the publish is starting)
START_GRACE_S = 10.0
#: no output this long: ffmpeg is stuck (nginx keeps an unpublished stream's players)
STALL_S = 5.0
STOP_GRACE_S = 3.0


def pull_command(ffmpeg: str, rtmp_url: str) -> list[str]:
    """ffmpeg pulling `rtmp_url` and writing it as fragmented MP4 to stdout."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning",
        "-copyts", "-i", rtmp_url,
        "-c", "copy", "-f", "mp4",
        "-movflags", "empty_moov+default_base_moof+frag_keyframe+frag_discont+delay_moov",
        "-frag_duration", str(FRAG_DURATION_US), "pipe:1",
    ]  # fmt: skip


class PullFeed:
    """Pulls one stream into its store until it is no longer published or `stop()`."""

    def __init__(self, store: StreamStore, command: list[str], log_path: Path,
                 is_published: Callable[[], Awaitable[bool]]) -> None:
        self.store = store
        self.command = command
        self.log_path = log_path
        self.is_published = is_published
        self.pulls = 0  # ffmpeg processes started
        self.pid: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._since = time.monotonic()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start pulling, on the running loop; a pull under way starts again (a new
        publisher: a new timeline, a new epoch), and one that ended, anew."""
        self._since = time.monotonic()
        if self.running:
            if self._proc is not None and self._proc.returncode is None:
                # its output ends, and the loop pulls again (within START_GRACE_S)
                with contextlib.suppress(ProcessLookupError):
                    self._proc.terminate()
        else:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._pull_once()
            except (OSError, Fmp4Error) as e:
                log.warning("LL-HLS pull of %s: %s", self.store.name, e)
            if self._stopping:
                return
            if time.monotonic() - self._since > START_GRACE_S and not await self._published():
                return
            await asyncio.sleep(RETRY_S)

    async def _published(self) -> bool:
        try:
            return await self.is_published()
        except Exception:  # nginx gone: nothing to pull
            return False

    async def _pull_once(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as err:
            # the platform's loop thread outlives its pulls: it may be their parent
            proc = await asyncio.create_subprocess_exec(
                *dying_with_parent(self.command), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=err)
        self._proc, self.pid = proc, proc.pid
        self.pulls += 1
        reader = Fmp4Reader()
        assert proc.stdout is not None
        try:
            while True:
                try:
                    async with asyncio.timeout(STALL_S):
                        data = await proc.stdout.read(256 * 1024)
                except TimeoutError:
                    break
                if not data:
                    break
                arrival = time.time()
                for item in reader.feed(data):
                    if isinstance(item, InitSection):
                        self.store.add_init(item)
                    else:
                        self.store.add_fragment(item, arrival)
        finally:
            await _end(proc)
            self._proc = None

    async def stop(self) -> None:
        """Stop pulling: ffmpeg by its PID (SIGTERM, then SIGKILL), and the loop."""
        self._stopping = True
        task = self._task
        if task is not None:  # the pull's `finally` ends ffmpeg (one reader of its pipe)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    for stop in (proc.terminate, proc.kill):
        with contextlib.suppress(ProcessLookupError):
            stop()  # by the PID asyncio holds for it
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_GRACE_S):
                # read on: ffmpeg finishing its output must not block on a full pipe
                await asyncio.gather(proc.wait(), _drain(proc))
            return


async def _drain(proc: asyncio.subprocess.Process) -> None:
    if proc.stdout is not None:
        while await proc.stdout.read(256 * 1024):
            pass
