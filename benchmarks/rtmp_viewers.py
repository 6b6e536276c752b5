"""Cost per RTMP viewer: the native asyncio viewer vs `rtmpdump` processes.

    .venv/bin/python benchmarks/rtmp_viewers.py --viewers 500 1000 2000 --seconds 30
    .venv/bin/python benchmarks/rtmp_viewers.py --viewers 500 --engine rtmpdump

Starts its own nginx-rtmp (HLS off) and an ffmpeg publisher looping the
synthetic ~1.1 Mbit/s clip on loopback. Then, per viewer count:
- native: N RtmpViewers in ONE child process (one event loop), so psutil
  can measure that process alone: CPU (user+sys) over a steady-state window
  that starts once every viewer has its first video frame and the read
  batching (SO_RCVLOWAT) is in place, and USS/RSS growth over the same
  process with the modules imported but no viewers;
- rtmpdump: N `rtmpdump --realtime -r URL -o /dev/null` processes (the old
  tool's way), summed CPU and PSS; bytes per process from /proc/PID/io.
"full rate" = every viewer received >= 95% of the source bitrate in the window.
Targets (DESIGN section 9): native <= 0.015% of a core and <= 50 KiB per viewer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TARGET_CPU_PCT, TARGET_KIB = 0.015, 50.0
FULL_RATE = 0.95
SETTLE_S = 2.5  # after the last first frame: bitrate estimates and lowat settle


@dataclass
class Row:
    engine: str
    viewers: int
    cpu_pct_per_viewer: float
    kib_per_viewer: float
    mem_kind: str
    nginx_cpu_pct: float
    full_rate: int
    joined: int
    errors: int
    window_s: float
    client_cpu_pct: float
    note: str = ""


# --- the stack under test ------------------------------------------------------------


def raise_nofile(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_split(procs: list[psutil.Process]) -> tuple[float, float]:
    """(user, system) CPU seconds of `procs`."""
    user = system = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            user += t.user
            system += t.system
    return user, system


def cpu_seconds(procs: list[psutil.Process]) -> float:
    return sum(cpu_split(procs))


def nginx_procs(pid: int) -> list[psutil.Process]:
    master = psutil.Process(pid)
    return [master, *master.children()]


# --- native engine: parent side ---------------------------------------------------------


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    q: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            q.put(line.strip())
        q.put("EOF")

    threading.Thread(target=pump, daemon=True).start()
    return q


def _expect(q: queue.Queue[str], prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = q.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise SystemExit(f"child: no {prefix!r} within {timeout:g}s") from None
        if line.startswith(prefix):
            return line
        if line == "EOF":
            raise SystemExit(f"child exited before {prefix!r}")


@dataclass
class ChildRun:
    """What the parent measured around a child's READY/JOINED/START/END/RESULT protocol."""

    n: int
    window_s: float  # START to END, wall
    user_s: float  # the child's CPU in the window
    sys_s: float
    nginx_s: float  # nginx's CPU in the window
    rss_kib: float  # growth since READY (imports done, no viewer yet)
    uss_kib: float
    joined: int
    result: dict[str, Any]

    def row(self, engine: str, full_rate: int, note: str) -> Row:
        window, cpu = self.window_s, self.user_s + self.sys_s
        return Row(
            engine=engine,
            viewers=self.n,
            cpu_pct_per_viewer=cpu / window * 100 / self.n,
            kib_per_viewer=self.uss_kib / self.n,
            mem_kind="USS",
            nginx_cpu_pct=self.nginx_s / window * 100,
            full_rate=full_rate,
            joined=self.joined,
            errors=self.result["errors"],
            window_s=window,
            client_cpu_pct=cpu / window * 100,
            note=(f"user {self.user_s / window * 100:.1f}% sys {self.sys_s / window * 100:.1f}%; "
                  f"RSS +{self.rss_kib / self.n:.1f} KiB/viewer; {note}"),
        )


def measure_child(cmd: list[str], n: int, seconds: float, nginx: int) -> ChildRun:
    """Run a child benchmark process and measure its steady window."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        q = _lines(proc)
        child = psutil.Process(proc.pid)
        _expect(q, "READY", 30)
        base = child.memory_full_info()
        joined_line = _expect(q, "JOINED", 60 + n / 50)
        _expect(q, "START", 30)
        (u0, s0), g0, t0 = cpu_split([child]), cpu_seconds(nginx_procs(nginx)), time.monotonic()
        _expect(q, "END", seconds + 30)
        (u1, s1), g1, t1 = cpu_split([child]), cpu_seconds(nginx_procs(nginx)), time.monotonic()
        mem = child.memory_full_info()
        result = json.loads(_expect(q, "RESULT", 60).split(" ", 1)[1])
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return ChildRun(n, t1 - t0, u1 - u0, s1 - s0, g1 - g0, (mem.rss - base.rss) / 1024,
                    (mem.uss - base.uss) / 1024, int(joined_line.split()[1]), result)


def run_native(url: str, n: int, args: argparse.Namespace, kbps: float, nginx: int) -> Row:
    cmd = [sys.executable, __file__, "--child", url, str(n), str(args.seconds)]
    cmd += ["--rcvlowat-ms", str(args.rcvlowat_ms)]
    if not args.estimate:
        cmd += ["--expected-kbps", str(kbps)]
    if args.uvloop:
        cmd.append("--uvloop")
    run = measure_child(cmd, n, args.seconds, nginx)
    result = run.result
    rates = [b * 8 / 1000 / result["window_s"] for b in result["window_bytes"]]
    loop = "uvloop" if args.uvloop else "asyncio"
    return run.row(
        f"native/{loop}", sum(r >= FULL_RATE * kbps for r in rates),
        f"lowat {result['lowat_bytes']} B = {result['delay_bound_ms']:.0f} ms of media; "
        f"min {min(rates):.0f} kbps",
    )


# --- native engine: the child process -----------------------------------------------------


def loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop]:
    if use_uvloop:
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def error_collector() -> tuple[list[str], Callable[[str, str, float, str], None]]:
    """A viewer event callback keeping error rows only, and the list it fills."""
    errors: list[str] = []

    def on_event(event: str, name: str, value: float, detail: str) -> None:
        if event == "error":
            errors.append(f"{name}: {detail}")

    return errors, on_event


async def wait_joined(viewers: Sequence[Any], errors: list[str], n: int) -> None:
    """Until every viewer has video or an error (or a deadline); prints JOINED."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60 + n / 50
    while loop.time() < deadline:
        if all(v.first_video_wall is not None or v.error for v in viewers):
            break
        await asyncio.sleep(0.2)
    joined = sum(v.first_video_wall is not None for v in viewers)
    print(f"JOINED {joined} {len(errors)}", flush=True)


def run_child_loop(main: Coroutine[Any, Any, dict[str, object]], use_uvloop: bool) -> None:
    with asyncio.Runner(loop_factory=loop_factory(use_uvloop)) as runner:
        result = runner.run(main)
    print("RESULT " + json.dumps(result), flush=True)


def child_main(args: argparse.Namespace, make: Callable[..., Any] | None = None) -> None:
    """N viewers of args.url; `make(url, on_event, rcvlowat_ms=, expected_kbps=)` makes one
    (default RtmpViewer; flv_viewers.py passes FlvViewer, which has the same knobs)."""
    if make is None:
        from streamperf.viewers.rtmp.viewer import RtmpViewer

        make = RtmpViewer

    raise_nofile(args.n * 2 + 100)
    errors, on_event = error_collector()

    async def main() -> dict[str, object]:
        loop = asyncio.get_running_loop()
        print("READY", flush=True)
        await asyncio.sleep(0.5)  # parent samples baseline memory now
        viewers = [
            make(args.url, on_event, rcvlowat_ms=args.rcvlowat_ms, expected_kbps=args.kbps)
            for _ in range(args.n)
        ]
        budget = args.seconds + 60 + args.n / 50 + SETTLE_S
        tasks = []
        for i, v in enumerate(viewers):  # ramp: 200 per 100 ms
            tasks.append(asyncio.ensure_future(v.run(budget)))
            if i % 200 == 199:
                await asyncio.sleep(0.1)
        await wait_joined(viewers, errors, args.n)
        await asyncio.sleep(SETTLE_S)
        b0 = [v.bytes_received for v in viewers]
        t0 = loop.time()
        print("START", flush=True)
        await asyncio.sleep(args.seconds)
        b1 = [v.bytes_received for v in viewers]
        t1 = loop.time()
        print("END", flush=True)
        await asyncio.sleep(0.5)  # parent samples CPU and memory with viewers still live
        for v in viewers:
            v.close()
        await asyncio.gather(*tasks)
        lowats = sorted(v.rcvlowat_bytes for v in viewers)
        bounds = sorted(v.read_delay_bound_s for v in viewers)
        return {
            "window_s": t1 - t0,
            "window_bytes": [b - a for a, b in zip(b0, b1, strict=True)],
            "errors": len(errors),
            "first_errors": errors[:3],
            "lowat_bytes": lowats[len(lowats) // 2],
            "delay_bound_ms": bounds[-1] * 1000,
        }

    run_child_loop(main(), args.uvloop)


# --- rtmpdump engine -------------------------------------------------------------------


def _written(p: psutil.Process) -> int:
    # FLV bytes written to /dev/null (wchar): recv() on a socket does not
    # show in rchar, and FLV tags carry about the same overhead as RTMP chunks.
    with contextlib.suppress(psutil.Error):
        return int(p.io_counters().write_chars)
    return 0


def run_rtmpdump(url: str, n: int, args: argparse.Namespace, kbps: float, nginx: int) -> Row:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(n):
            procs.append(
                subprocess.Popen(
                    ["rtmpdump", "--realtime", "-q", "-r", url, "-o", "/dev/null"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            if i % 50 == 49:
                time.sleep(0.1)
        ps = [psutil.Process(p.pid) for p in procs]
        # joined: received more than a key frame's worth (no per-frame view into rtmpdump)
        deadline = time.monotonic() + 30 + n / 50
        while time.monotonic() < deadline:
            if all(_written(p) > 100_000 for p in ps):
                break
            time.sleep(0.5)
        joined = sum(_written(p) > 100_000 for p in ps)
        time.sleep(SETTLE_S)
        r0 = [_written(p) for p in ps]
        c0, g0, t0 = cpu_seconds(ps), cpu_seconds(nginx_procs(nginx)), time.monotonic()
        time.sleep(args.seconds)
        r1 = [_written(p) for p in ps]
        c1, g1, t1 = cpu_seconds(ps), cpu_seconds(nginx_procs(nginx)), time.monotonic()
        pss = 0
        for p in ps:
            with contextlib.suppress(psutil.Error):
                pss += p.memory_full_info().pss
        errors = sum(p.poll() is not None for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
            if p.poll() is None:
                p.kill()
                p.wait()
    window = t1 - t0
    rates = [(b - a) * 8 / 1000 / window for a, b in zip(r0, r1, strict=True)]
    return Row(
        engine="rtmpdump",
        viewers=n,
        cpu_pct_per_viewer=(c1 - c0) / window * 100 / n,
        kib_per_viewer=pss / 1024 / n,
        mem_kind="PSS",
        nginx_cpu_pct=(g1 - g0) / window * 100,
        full_rate=sum(r >= FULL_RATE * kbps for r in rates),
        joined=joined,
        errors=errors,
        window_s=window,
        client_cpu_pct=(c1 - c0) / window * 100,
        note=f"min {min(rates):.0f} kbps",
    )


# --- main --------------------------------------------------------------------------------


def print_rows(rows: list[Row], kbps: float, engine_width: int = 16) -> None:
    """The figures table and a note per row; shared by the HLS benchmark."""
    w = engine_width
    head = (
        f"{'engine':<{w}} {'viewers':>7} {'CPU%/viewer':>12} {'KiB/viewer':>14} "
        f"{'client CPU%':>11} {'nginx CPU%':>10} {'full rate?':>14}"
    )
    print(f"\nsource {kbps:.0f} kbps; CPU as % of one core; window {rows[0].window_s:.0f} s")
    print(head)
    print("-" * len(head))
    for r in rows:
        full = f"{'yes' if r.full_rate == r.viewers else 'NO'} {r.full_rate}/{r.viewers}"
        mem = f"{r.kib_per_viewer:.1f} {r.mem_kind}"
        print(
            f"{r.engine:<{w}} {r.viewers:>7} {r.cpu_pct_per_viewer:>11.4f}% {mem:>14} "
            f"{r.client_cpu_pct:>10.1f}% {r.nginx_cpu_pct:>9.1f}% {full:>14}"
        )
    for r in rows:
        extra = f"; {r.errors} errors" if r.errors else ""
        joined = "" if r.joined == r.viewers else f"; only {r.joined} joined"
        print(f"  {r.engine} x{r.viewers}: {r.note}{joined}{extra}")


def print_table(rows: list[Row], kbps: float) -> None:
    print_rows(rows, kbps)
    natives = [r for r in rows if r.engine.startswith("native")]
    if natives:
        ok = all(
            r.cpu_pct_per_viewer <= TARGET_CPU_PCT and r.kib_per_viewer <= TARGET_KIB
            for r in natives
        )
        print(
            f"target native <= {TARGET_CPU_PCT}% CPU and <= {TARGET_KIB:.0f} KiB per viewer: "
            f"{'met' if ok else 'NOT met'}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--seconds", type=float, default=30.0, help="steady-state window")
    ap.add_argument("--engine", choices=["native", "rtmpdump", "both"], default="both")
    ap.add_argument("--uvloop", action="store_true", help="native viewers on uvloop")
    ap.add_argument("--rcvlowat-ms", type=float, default=200.0)
    ap.add_argument(
        "--estimate", action="store_true", help="viewers measure the bitrate (not told it)"
    )
    ap.add_argument(
        "--rtmpdump-max",
        type=int,
        default=500,
        help="cap on rtmpdump processes (2000 of them swamp 2 cores and tell nothing new)",
    )
    # internal: the native child process
    ap.add_argument("--child", nargs=3, metavar=("URL", "N", "SECONDS"), help=argparse.SUPPRESS)
    ap.add_argument("--expected-kbps", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.url, args.n, args.seconds = args.child[0], int(args.child[1]), float(args.child[2])
        args.kbps = args.expected_kbps
        child_main(args)
        return

    from streamperf.media.publisher import (
        Publisher,
        default_cache_dir,
        probe_source,
        synthetic_clip,
    )
    from streamperf.media.server import MediaServer

    nofile = raise_nofile(max(args.viewers) * 2 + 1000)
    clip = synthetic_clip(default_cache_dir())
    kbps = probe_source(clip).bitrate_kbps
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-rtmp-") as tmp:
        server = MediaServer(Path(tmp) / "nginx", hls=False).start()
        pub = Publisher(clip, server.ingest_url("bench"), Path(tmp) / "pub")
        try:
            pub.start(ready=lambda: server.is_publishing("bench"))
            url = server.rtmp_url("bench")
            print(f"nginx pid {server.pid}, publisher pid {pub.pid}, {url}, nofile {nofile}")
            for n in args.viewers:
                if args.engine in ("native", "both"):
                    rows.append(run_native(url, n, args, kbps, server.pid or 0))
                    print_row_progress(rows[-1])
                if args.engine in ("rtmpdump", "both"):
                    m = min(n, args.rtmpdump_max)
                    if m < n:
                        print(f"rtmpdump capped at {m} processes (asked {n})")
                    if not any(r.engine == "rtmpdump" and r.viewers == m for r in rows):
                        rows.append(run_rtmpdump(url, m, args, kbps, server.pid or 0))
                        print_row_progress(rows[-1])
                if not pub.alive():
                    raise SystemExit(f"publisher died: {pub.log_tail(5, True)}")
        finally:
            pub.stop()
            server.stop()
    print_table(rows, kbps)


def print_row_progress(r: Row) -> None:
    print(
        f"  done: {r.engine} x{r.viewers}: {r.cpu_pct_per_viewer:.4f}%/viewer, "
        f"{r.kib_per_viewer:.1f} KiB {r.mem_kind}, nginx {r.nginx_cpu_pct:.1f}%, "
        f"full rate {r.full_rate}/{r.viewers}",
        flush=True,
    )


if __name__ == "__main__":
    main()
