"""Cost per HTTP-FLV viewer beside the RTMP viewer, both playing node-media-server.

    .venv/bin/python benchmarks/flv_viewers.py --viewers 200 500 --seconds 20

Starts node-media-server (the pinned npm package, tests/support/
node_media_server.py; run scripts/setup.sh first) and an ffmpeg publisher looping
the synthetic ~1.1 Mbit/s clip into it over RTMP. Then per viewer count and
engine (`rtmp`: RtmpViewer on its RTMP URL, `flv`: FlvViewer on its HTTP-FLV
URL, the same stream from the same server) N viewers run in ONE child
process, measured exactly as benchmarks/rtmp_viewers.py measures its
native engine (its child protocol and measure_child): CPU (user+sys) over a
steady window after every viewer has video and read batching is in place,
USS growth over the child with modules imported but no viewers. "server
CPU%" is node's. "full rate" = every viewer got >= 95% of the source bitrate.
Target (DESIGN section 9), as for RTMP: <= 0.015% of a core, <= 50 KiB per viewer.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rtmp_viewers import (  # noqa: E402  (benchmarks/ is not a package)
    FULL_RATE,
    Row,
    child_main,
    measure_child,
    print_row_progress,
    print_table,
    raise_nofile,
)

ENGINES = ("rtmp", "flv")


def run_engine(engine: str, url: str, n: int, args: argparse.Namespace, kbps: float,
               server_pid: int) -> Row:
    cmd = [sys.executable, __file__, "--child", engine, url, str(n), str(args.seconds),
           "--rcvlowat-ms", str(args.rcvlowat_ms), "--expected-kbps", str(kbps)]
    run = measure_child(cmd, n, args.seconds, server_pid)
    result = run.result
    rates = [b * 8 / 1000 / result["window_s"] for b in result["window_bytes"]]
    errs = f"; first errors: {result['first_errors']}" if result["errors"] else ""
    return run.row(
        f"native/{engine}", sum(r >= FULL_RATE * kbps for r in rates),
        f"lowat {result['lowat_bytes']} B = {result['delay_bound_ms']:.0f} ms of media; "
        f"min {min(rates):.0f} kbps{errs}",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", type=int, nargs="+", default=[200, 500])
    ap.add_argument("--seconds", type=float, default=20.0, help="steady-state window")
    ap.add_argument("--engine", choices=[*ENGINES, "both"], default="both")
    ap.add_argument("--rcvlowat-ms", type=float, default=200.0)
    # internal: the child process
    ap.add_argument("--child", nargs=4, metavar=("ENGINE", "URL", "N", "SECONDS"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--expected-kbps", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        engine, args.url = args.child[0], args.child[1]
        args.n, args.seconds = int(args.child[2]), float(args.child[3])
        args.kbps, args.uvloop = args.expected_kbps, False
        if engine == "flv":
            from streamperf.viewers.flv.viewer import FlvViewer

            child_main(args, FlvViewer)
        else:
            child_main(args)
        return

    from tests.support.node_media_server import NodeMediaServer, why_no_nms

    from streamperf.media.publisher import (
        Publisher,
        default_cache_dir,
        probe_source,
        synthetic_clip,
    )

    why = why_no_nms()
    if why:
        raise SystemExit(why)
    nofile = raise_nofile(max(args.viewers) * 2 + 1000)
    clip = synthetic_clip(default_cache_dir())
    kbps = probe_source(clip).bitrate_kbps
    engines = ENGINES if args.engine == "both" else (args.engine,)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-flv-") as tmp, \
            NodeMediaServer.running(Path(tmp) / "nms") as nms:
        urls = nms.urls("bench")
        pub = Publisher(clip, urls.ingest, Path(tmp) / "pub")
        try:
            pub.start(ready=lambda: nms.is_publishing("bench"))
            print(f"node-media-server pid {nms.pid}, publisher pid {pub.pid}, "
                  f"{urls.rtmp} and {urls.flv}, nofile {nofile}")
            for n in args.viewers:
                for engine in engines:
                    url = urls.flv if engine == "flv" else urls.rtmp
                    rows.append(run_engine(engine, url, n, args, kbps, nms.pid or 0))
                    print_row_progress(rows[-1])
                    if not pub.alive():
                        raise SystemExit(f"publisher died: {pub.log_tail(5, True)}")
        finally:
            pub.stop()
    print_table(rows, kbps)
    print("(the 'nginx CPU%' column is node-media-server's CPU here)")


if __name__ == "__main__":
    main()
