"""Cost per HLS viewer: N HlsViewers in one process, each with its own connection.

    .venv/bin/python benchmarks/hls_viewers.py --viewers 500 1000 --seconds 30
    .venv/bin/python benchmarks/hls_viewers.py --viewers 1000 --loop asyncio

Starts its own nginx-rtmp (HLS: 2 s fragments, 10 s playlist) and an ffmpeg
publisher looping the synthetic ~1.1 Mbit/s clip on loopback, waits until
the playlist holds 4 segments, then per viewer count and event loop runs N
viewers in ONE child process (helpers shared with rtmp_viewers.py):
joins spread over one target duration (players do not all reload in the
same instant), CPU (user+sys) of that process over a steady-state window
that starts 2 target durations after the last first frame (join bursts
done), and USS growth over the same process with modules imported and the
loop running but no viewers.
"full rate" = every viewer received >= 95% of the source bitrate over the
window less one target duration (segments arrive whole, 2 s at a time).
Target (issue 14, srs-bench sb_hls_load's figure): <= 0.0075% of a core per viewer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rtmp_viewers import (  # noqa: E402  (benchmarks/ is not a package)
    ChildRun,
    Row,
    error_collector,
    measure_child,
    print_rows,
    raise_nofile,
    run_child_loop,
    wait_joined,
)

TARGET_CPU_PCT = 0.0075
FULL_RATE = 0.95
TD = 2.0  # hls_fragment of streamperf.media.server


# --- parent side -------------------------------------------------------------------------


def run_child(
    url: str, n: int, args: argparse.Namespace, loop: str, kbps: float, nginx: int
) -> Row:
    cmd = [sys.executable, __file__, "--child", url, str(n), str(args.seconds), "--loop", loop]
    return child_row(measure_child(cmd, n, args.seconds, nginx), f"hls/{loop}", kbps)


def child_row(run: ChildRun, engine: str, kbps: float, manifest: str = "playlist") -> Row:
    """The Row of a child_main run; full rate against `kbps` (shared by abr_viewers.py)."""
    result = run.result
    w = result["window_s"]
    rates = [b * 8 / 1000 / w for b in result["window_bytes"]]
    need = FULL_RATE * kbps * (w - TD) / w
    errs = f"; first errors: {result['first_errors']}" if result["errors"] else ""
    return run.row(
        engine, sum(r >= need for r in rates),
        f"{result['requests_per_s']:.2f} requests/s per viewer "
        f"({result['playlist_per_s']:.2f} {manifest}); "
        f"min {min(rates):.0f} kbps, median {sorted(rates)[len(rates) // 2]:.0f} kbps; "
        f"media time {result['min_media_s']:.1f}-{result['max_media_s']:.1f} s "
        f"in {w:.1f} s{errs}",
    )


def hls_requests(v: Any) -> tuple[int, int]:
    """(requests, playlist loads) an HlsViewer has made so far."""
    return v.playlist_loads + v.playlist_failures + v.segments_fetched, v.playlist_loads


class HeldRenditions:
    """Per viewer, the rendition its latest `rendition` row named, and its switches."""

    def __init__(self, on_event: Callable[[str, str, float, str], None]) -> None:
        from streamperf.viewers.abr import RENDITION

        self.kind = RENDITION
        self.on_event = on_event
        self.names: list[str] = []
        self.switches = 0

    def callback(self) -> Callable[[str, str, float, str], None]:
        """The event callback of one more viewer."""
        i, kind = len(self.names), self.kind
        self.names.append("")

        def on_event(event: str, name: str, value: float, detail: str) -> None:
            if event == kind:
                self.switches += self.names[i] != ""  # its first row is the start
                self.names[i] = name
            self.on_event(event, name, value, detail)

        return on_event


def child_main(
    args: argparse.Namespace,
    make: Callable[[str, Callable[[str, str, float, str], None]], Any] | None = None,
    requests: Callable[[Any], tuple[int, int]] = hls_requests,
) -> None:
    """N viewers of args.url in this process; `make(url, on_event)` makes one (default
    HlsViewer; abr_viewers.py passes DASH and ladder ones), `requests` counts its own."""
    if make is None:
        from streamperf.viewers.hls.viewer import HlsViewer

        make = HlsViewer

    raise_nofile(args.n * 2 + 100)
    errors, on_event = error_collector()
    held = HeldRenditions(on_event)

    async def main() -> dict[str, object]:
        loop = asyncio.get_running_loop()
        print("READY", flush=True)
        await asyncio.sleep(0.5)  # parent samples baseline memory now
        viewers = [make(args.url, held.callback()) for _ in range(args.n)]
        budget = args.seconds + 60 + args.n / 50 + 3 * TD
        tasks = []
        step = TD / args.n  # joins spread evenly over one target duration
        for i, v in enumerate(viewers):
            tasks.append(asyncio.ensure_future(v.run(budget)))
            await asyncio.sleep(step * 10 if i % 10 == 9 else 0)
        await wait_joined(viewers, errors, args.n)
        await asyncio.sleep(2 * TD)
        b0 = [v.bytes_received for v in viewers]
        m0 = [v.media_ts_ms for v in viewers]
        r0, p0 = map(sum, zip(*map(requests, viewers), strict=True))
        s0 = held.switches
        t0 = loop.time()
        print("START", flush=True)
        await asyncio.sleep(args.seconds)
        b1 = [v.bytes_received for v in viewers]
        m1 = [v.media_ts_ms for v in viewers]
        r1, p1 = map(sum, zip(*map(requests, viewers), strict=True))
        t1 = loop.time()
        renditions = Counter(name or "-" for name in held.names)  # "-": no ladder rows
        switches = held.switches - s0
        print("END", flush=True)
        await asyncio.sleep(0.5)  # parent samples CPU and memory with viewers still live
        for v in viewers:
            v.close()
        await asyncio.gather(*tasks)
        media = [(b - a) / 1000 for a, b in zip(m0, m1, strict=True)]
        window = t1 - t0
        return {
            "window_s": window,
            "window_bytes": [b - a for a, b in zip(b0, b1, strict=True)],
            "errors": len(errors),
            "first_errors": errors[:3],
            "requests_per_s": (r1 - r0) / window / args.n,
            "playlist_per_s": (p1 - p0) / window / args.n,
            "min_media_s": min(media),
            "max_media_s": max(media),
            "renditions": dict(renditions),
            "window_switches": switches,
        }

    run_child_loop(main(), args.loop == "uvloop")


# --- main --------------------------------------------------------------------------------


def print_table(rows: list[Row], kbps: float) -> None:
    print_rows(rows, kbps, engine_width=20)
    ok = all(r.cpu_pct_per_viewer <= TARGET_CPU_PCT for r in rows)
    print(f"target <= {TARGET_CPU_PCT}% of a core per HLS viewer: {'met' if ok else 'NOT met'}")


def wait_segments(url: str, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                text = resp.read().decode()
            if sum(1 for line in text.splitlines() if line.endswith(".ts")) >= n:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url}: fewer than {n} segments after {timeout:g}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", type=int, nargs="+", default=[500, 1000])
    ap.add_argument("--seconds", type=float, default=30.0, help="steady-state window")
    ap.add_argument("--loop", choices=["uvloop", "asyncio", "both"], default="both")
    # internal: the child process
    ap.add_argument("--child", nargs=3, metavar=("URL", "N", "SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.url, args.n, args.seconds = args.child[0], int(args.child[1]), float(args.child[2])
        child_main(args)
        return

    from streamperf.media.publisher import (
        Publisher,
        default_cache_dir,
        probe_source,
        synthetic_clip,
    )
    from streamperf.media.server import MediaServer

    loops = ["uvloop", "asyncio"] if args.loop == "both" else [args.loop]
    nofile = raise_nofile(max(args.viewers) * 2 + 1000)
    clip = synthetic_clip(default_cache_dir())
    kbps = probe_source(clip).bitrate_kbps
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-hls-") as tmp:
        server = MediaServer(Path(tmp) / "nginx").start()
        pub = Publisher(clip, server.ingest_url("bench"), Path(tmp) / "pub")
        try:
            pub.start(ready=lambda: server.is_publishing("bench"))
            url = server.hls_url("bench")
            wait_segments(url, 4)
            print(f"nginx pid {server.pid}, publisher pid {pub.pid}, {url}, nofile {nofile}")
            for n in args.viewers:
                for loop in loops:
                    rows.append(run_child(url, n, args, loop, kbps, server.pid or 0))
                    r = rows[-1]
                    print(
                        f"  done: {r.engine} x{n}: {r.cpu_pct_per_viewer:.4f}%/viewer, "
                        f"{r.kib_per_viewer:.1f} KiB {r.mem_kind}, nginx {r.nginx_cpu_pct:.1f}%, "
                        f"full rate {r.full_rate}/{n}",
                        flush=True,
                    )
                    if not pub.alive():
                        raise SystemExit(f"publisher died: {pub.log_tail(5, True)}")
        finally:
            pub.stop()
            server.stop()
    print_table(rows, kbps)


if __name__ == "__main__":
    main()
