"""Cost per ABR HLS and DASH viewer beside plain HLS and RTMP, on one live ladder.

    .venv/bin/python benchmarks/abr_viewers.py --viewers 1000 --seconds 30
    .venv/bin/python benchmarks/abr_viewers.py --viewers 1000 --kinds hls abr-hls --loop uvloop
    .venv/bin/python benchmarks/abr_viewers.py --viewers 300 --kinds hls dash --profile /tmp/p

Starts the bundled platform's ladder (media/ladder.py: the synthetic clip
encoded once into 720p/480p/240p, cached) in its own nginx-rtmp, published
by one ffmpeg (media/ladder_publisher.py: HLS master + variants and a DASH
MPD under /ladder, the top rendition to the RTMP ingest), as `--ladder` does.
Then, one child process at a time (never two measured at once: 2 cores), N
viewers of each kind:
- rtmp: the top rendition over RTMP (rtmp_viewers.py's native child);
- hls: the top variant's media playlist, no master: no ABR, the same bytes
  an ABR viewer on the top rendition fetches, so the two compare like with like;
- abr-hls: the master playlist, hls.js rules (`--abr hlsjs`);
- dash: the MPD, dash.js rules (`--abr dashjs`).
The method is hls_viewers.py's (its child, shared): joins spread over one
segment, CPU (user+sys) of the child over a steady window from 2 segments
after the last first frame, USS growth over the child with modules imported
and no viewers. "full rate" = >= 95% of the top rendition's bitrate over the
window less one segment. "held" = the rendition each viewer's latest
`rendition` row named at the window's end (plain HLS and RTMP have none).
Target (DESIGN section 9, issue 22): an ABR or DASH viewer <= 1.2x the plain
HLS viewer's CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# benchmarks/ is not a package: its shared helpers are imported from the path above
from hls_viewers import child_main, child_row, wait_segments  # noqa: E402
from rtmp_viewers import Row, measure_child, print_rows, raise_nofile, run_native  # noqa: E402

if TYPE_CHECKING:
    from streamperf.media.rungs import Rendition

TARGET_RATIO = 1.2
STREAM = "bench"
KINDS = ("rtmp", "hls", "abr-hls", "dash")


def dash_requests(v: Any) -> tuple[int, int]:
    """(requests, MPD loads) a DashViewer has made so far."""
    return v.mpd_loads + v.mpd_failures + v.segments_fetched, v.mpd_loads


# --- the child process ---------------------------------------------------------------------


def ladder_child(args: argparse.Namespace) -> None:
    from streamperf.viewers.dash.viewer import DashViewer
    from streamperf.viewers.hls.viewer import HlsViewer

    if args.kind == "dash":
        child_main(args, lambda url, on_event: DashViewer(url, on_event, abr="dashjs"),
                   dash_requests)
    else:  # hls: a media playlist, so no policy whatever the mode; abr-hls: the master
        child_main(args, lambda url, on_event: HlsViewer(url, on_event, abr="hlsjs"))


# --- parent side ---------------------------------------------------------------------------


def run_kind(kind: str, url: str, n: int, args: argparse.Namespace, top: Rendition,
             nginx: int) -> tuple[Row, dict[str, int]]:
    """One kind measured in a child of its own: its Row and the renditions held (for
    RTMP and plain HLS, which have no ladder rows, the top one they play)."""
    kbps = top.kbps
    if kind == "rtmp":
        row = run_native(url, n, args, kbps, nginx)
        row.engine = "rtmp"
        return row, {f"{top.name} (the push)": row.joined}
    cmd = [sys.executable, __file__, "--child", kind, url, str(n), str(args.seconds),
           "--loop", args.loop]
    if args.profile:  # the whole child under cProfile (its CPU figures grow with it)
        cmd[1:1] = ["-m", "cProfile", "-o", str(Path(args.profile) / f"{kind}.prof")]
    run = measure_child(cmd, n, args.seconds, nginx)
    row = child_row(run, kind, kbps, "MPD" if kind == "dash" else "playlist")
    row.note += f"; {run.result['window_switches']} switches in the window"
    held: dict[str, int] = run.result["renditions"]
    if kind == "hls":
        held = {f"{top.name} (its playlist)" if k == "-" else k: v for k, v in held.items()}
    return row, held


def print_summary(rows: list[Row], held: dict[str, dict[str, int]]) -> None:
    print(f"\n{'kind':<8} {'viewers':>7} {'% core/viewer':>14} {'USS MiB/viewer':>15} "
          f"{'full rate':>10}  renditions held at the end")
    for r in rows:
        names = ", ".join(f"{k} {v}" for k, v in sorted(held[r.engine].items()))
        print(f"{r.engine:<8} {r.viewers:>7} {r.cpu_pct_per_viewer:>13.4f}% "
              f"{r.kib_per_viewer / 1024:>15.4f} {r.full_rate / r.viewers:>9.1%}  {names}")
    by = {r.engine: r.cpu_pct_per_viewer for r in rows}
    if by.get("hls"):  # 0: a tiny run under the clock tick, no ratio to print
        for kind in ("abr-hls", "dash"):
            if kind in by:
                ratio = by[kind] / by["hls"]
                verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
                print(f"{kind} / plain hls CPU per viewer: {ratio:.2f}x "
                      f"(target <= {TARGET_RATIO}x: {verdict})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=30.0, help="steady-state window")
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--profile", metavar="DIR",
                    help="run each HTTP kind's child under cProfile, writing DIR/KIND.prof")
    # internal: the child process of an HTTP kind
    ap.add_argument("--child", nargs=4, metavar=("KIND", "URL", "N", "SECONDS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.kind, args.url = args.child[0], args.child[1]
        args.n, args.seconds = int(args.child[2]), float(args.child[3])
        ladder_child(args)
        return
    # what rtmp_viewers.run_native reads: its defaults, the kbps told (not estimated)
    args.rcvlowat_ms, args.estimate, args.uvloop = 200.0, False, args.loop == "uvloop"

    from streamperf.media.ladder import make_ladder
    from streamperf.media.ladder_outputs import MASTER, MPD, media_playlist
    from streamperf.media.ladder_publisher import LadderPublisher
    from streamperf.media.publisher import default_cache_dir, synthetic_clip
    from streamperf.media.rungs import DEFAULT_LADDER
    from streamperf.media.server import MediaServer

    nofile = raise_nofile(args.viewers * 2 + 1000)
    ladder = make_ladder(synthetic_clip(default_cache_dir()), DEFAULT_LADDER,
                         default_cache_dir())
    top = ladder.top
    rows: list[Row] = []
    held: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-abr-") as tmp:
        server = MediaServer(Path(tmp) / "nginx", hls=False, ladder=True).start()
        # no UTCTiming URL: the viewers' host is the origin's, one clock (a CLOCK row says so)
        pub = LadderPublisher(ladder, server.ingest_url(STREAM), server.ladder_dir(STREAM),
                              Path(tmp) / "pub")
        try:
            pub.start(ready=lambda: server.is_publishing(STREAM))
            urls = {"rtmp": server.rtmp_url(STREAM),
                    "hls": server.ladder_url(STREAM, media_playlist(top.name)),
                    "abr-hls": server.ladder_url(STREAM, MASTER),
                    "dash": server.ladder_url(STREAM, MPD)}
            wait_segments(urls["hls"], 4)
            print(f"nginx pid {server.pid}, publisher pid {pub.pid}, nofile {nofile}; ladder "
                  + ", ".join(f"{r.name} {r.kbps:.0f} kbps" for r in ladder.renditions))
            for kind in args.kinds:
                row, held[kind] = run_kind(kind, urls[kind], args.viewers, args, top,
                                           server.pid or 0)
                rows.append(row)
                print(f"  done: {kind} x{row.viewers} ({urls[kind]}): "
                      f"{row.cpu_pct_per_viewer:.4f}%/viewer, nginx {row.nginx_cpu_pct:.1f}%, "
                      f"full rate {row.full_rate}/{row.viewers}", flush=True)
                if not pub.alive():
                    raise SystemExit(f"publisher died: {pub.log_tail(5, True)}")
        finally:
            pub.stop()
            server.stop()
    print_rows(rows, top.kbps, engine_width=8)
    print_summary(rows, held)


if __name__ == "__main__":
    main()
