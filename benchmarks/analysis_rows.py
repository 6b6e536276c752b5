"""How long reading, analysing and reporting an event log takes, and how much memory.

Generates logs of the documented schema (docs/events.md): a run's header rows,
each viewer's API calls, play, first audio/video, then a `bytes` and a
`media_ts` row every second while it watches, host rows every 2 s, play_end,
run_end; in time order, as a run writes them. One viewer in 50 stalls for 4 s
once and one in 100 falls slowly behind, so the stall and lag paths do work.

Each step runs in a child process of its own, so its peak RSS is its own:

- read + analyse: the event log loaded, then analysed (the SLA judged too);
- report: `streamperf report LOG` end to end (read, analyse, judge, charts, HTML);
- conclude: what a pytest run does at its end (load/outcome.py `conclude`: read,
  analyse, judge, charts, report fragment, summary.json, viewers.csv).

`--code DIR` runs the steps against another tree's `src` (e.g. the code before
this change, `git archive <commit> src | tar -x -C /tmp/before`), so before and
after are measured back to back on the same logs:

    .venv/bin/python benchmarks/analysis_rows.py --rows 1M 10M 72M \
        --code before=/tmp/before/src --code after=src

Logs go under --dir (default /tmp), several GB at 72 M rows; they are deleted
at the end unless --keep. Sizes: 1M = 500 viewers x 1,000 s, 10M = 2,500 x
2,000 s, 72M = 10,000 x 3,600 s (the issue's).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {"1M": (500, 1_000), "10M": (2_500, 2_000), "72M": (10_000, 3_600)}
T0 = 1_795_000_000.0
KBPS = 1_100.0
HOSTS = 4  # load-generator processes writing host rows


def generate(path: Path, viewers: int, seconds: int, seed: int = 1) -> int:
    """Write the log; returns its row count."""
    rng = np.random.default_rng(seed)
    rows = 0
    start = T0 + 2.0
    ramp = min(0.05, 60.0 / viewers)
    join = start + np.arange(viewers) * ramp  # play row
    first = join + 0.4 + rng.random(viewers) * 0.2  # first media arrival
    names = [f"testfan{i}" for i in range(viewers)]
    host_of = [f"gen{i % HOSTS}" for i in range(viewers)]
    stall_at = np.where(np.arange(viewers) % 50 == 1, 60 + rng.random(viewers) * 100, np.inf)
    slow = np.arange(viewers) % 100 == 2
    per_s = KBPS * 1000 / 8
    with open(path, "w", encoding="utf-8") as f:
        f.write("t,host,viewer,event,name,value,status,detail\n")
        f.write(f'{T0:.3f},ctl,,run_start,bench,0,0.1.0,"{{""users"": {viewers}, '
                f'""ramp_s"": {ramp}, ""duration_s"": {seconds}}}"\n')
        f.write(f"{T0:.3f},ctl,,publish_start,rtmp://127.0.0.1/live/x,{T0 - 30:.3f},,\n")
        f.write(f"{T0:.3f},ctl,,source,bitrate_kbps,{KBPS},file,\n")
        rows += 4
        media0 = 30.0 + first - T0  # media ts at the first media
        joined = 0
        for s in range(seconds + 1):
            now = start + s
            lines: list[str] = []
            # Viewers who join in this second: API journey, play, first frames.
            while joined < viewers and join[joined] < now:
                i = joined
                n, h, tj = names[i], host_of[i], join[i]
                lines += [f"{tj - 0.3:.3f},{h},{n},api,POST /api/v1/sign_in,0.1,200,\n",
                          f"{tj - 0.1:.3f},{h},{n},api,POST /api/v1/join,0.05,200,\n",
                          f"{tj:.3f},{h},{n},play,rtmp,0.4,,rtmp://127.0.0.1/live/x\n",
                          f"{first[i]:.3f},{h},{n},first_audio,,{media0[i]:.3f},,\n",
                          f"{first[i] + 0.1:.3f},{h},{n},first_video,,{media0[i]:.3f},,\n"]
                joined += 1
            watching = np.flatnonzero(first[:joined] + 1 <= now)
            if len(watching):
                rel = now - first[watching]
                media = rel - np.clip(rel - stall_at[watching], 0, 4)  # a 4 s stall
                media = np.where(slow[watching], rel * 0.999, media)
                got = per_s * (1 + 0.05 * rng.standard_normal(len(watching)))
                got = np.where((rel > stall_at[watching]) & (rel < stall_at[watching] + 4),
                               0, got)
                ts = media0[watching] + media
                tt = now + (watching % 97) * 0.001
                for i, t, b, m in zip(watching.tolist(), tt.tolist(), got.astype(int).tolist(),
                                      ts.tolist(), strict=True):
                    lines.append(f"{t:.3f},{host_of[i]},{names[i]},bytes,,{b},,\n"
                                 f"{t:.3f},{host_of[i]},{names[i]},media_ts,,{m:.3f},,\n")
                rows += 2 * len(watching)
            if s % 2 == 0:
                for h in range(HOSTS):
                    for name, value in (("cpu_pct", 40), ("proc_cpu_pct", 60),
                                        ("rss_mib", 300), ("net_in_bytes", 2e6),
                                        ("net_out_bytes", 3e4), ("loop_lag_s", 0.002)):
                        lines.append(f"{now:.3f},gen{h},,host,{name},{value},,\n")
                rows += 6 * HOSTS
            f.write("".join(lines))
        end = start + seconds + 1
        f.write("".join(f"{end:.3f},{host_of[i]},{names[i]},play_end,rtmp,{seconds},,\n"
                        for i in range(viewers)))
        f.write(f"{end:.3f},ctl,,run_end,done,0,,\n")
        rows += viewers * 6 + viewers + 1
    return rows


# --- the steps, each in a child process -------------------------------------------------

CHILD = r"""
import json, resource, sys, time
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
path = sys.argv[1]
out = {}
t = time.perf_counter()
from streamperf.results.eventlog.rows import read_events
from streamperf.results.eventlog import schema as ev
from streamperf.results.judging.judge import analyse_for, judge, log_basis
try:
    from streamperf.results.eventlog.columnar import read_log as reader
except ImportError:
    reader = read_events
log = reader(path)
frame = getattr(log, "frame", log)
out["read_s"], out["read_gib"] = time.perf_counter() - t, peak()
t = time.perf_counter()
basis = log_basis(frame, {})
a = analyse_for(log, basis)
v = judge(a, basis)
out["analyse_s"], out["analyse_gib"] = time.perf_counter() - t, peak()
out["figures"] = {k: v for k, v in a.summary().items() if isinstance(v, (int, float))}
print(json.dumps(out))
"""

CONCLUDE = r"""
import sys
from pathlib import Path
from streamperf.load.outcome import conclude
from streamperf.results.judging.judge import Basis
conclude(Path(sys.argv[1]), "bench", Basis(), {}, {})
"""


def measured(code: Path, args: list[str], cap_gib: float) -> tuple[str, float, float, int]:
    """Run a child with `code` on its path: (stdout, wall s, peak RSS GiB, exit status).
    A child whose RSS passes cap_gib is stopped (the machine is shared): status -9."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err, text=True)
        capped = 0.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                with open(f"/proc/{proc.pid}/statm") as f:
                    rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
            except (OSError, IndexError, ValueError):
                rss = 0.0
            if rss > cap_gib and not capped:
                capped = rss
                proc.kill()
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        text = out.read()
        if capped:
            text = f"stopped at {capped:.1f} GiB after {wall:.0f} s (--cap-gib {cap_gib:g})"
        elif proc.returncode:
            tail = err.read().strip().splitlines()
            text = f"FAILED ({proc.returncode}): {tail[-1] if tail else ''}"
    return text, wall, usage.ru_maxrss / 1024 / 1024, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", nargs="+", default=["1M", "10M"], choices=list(SIZES))
    ap.add_argument("--code", action="append", default=[],
                    help="LABEL=DIR: a src tree to measure (repeatable); default after=src")
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--cap-gib", type=float, default=8.0,
                    help="stop a step whose RSS passes this many GiB (the machine is shared; "
                         "a step extrapolated from the previous size to pass it is skipped)")
    args = ap.parse_args()
    codes = [(c.split("=", 1)[0], Path(c.split("=", 1)[1]).resolve()) for c in args.code] or [
        ("after", (Path(__file__).parent.parent / "src").resolve())]
    print(f"{'rows':>6} {'code':>7} | {'read s':>7} {'analyse s':>9} {'GiB':>5} | "
          f"{'report s':>8} {'GiB':>5} | {'conclude s':>10} {'GiB':>5} | {'GiB/M rows':>10}")
    last_gib_per_row: dict[str, float] = {}
    for size in args.rows:
        viewers, seconds = SIZES[size]
        path = Path(args.dir) / f"streamperf-bench-{size}.csv"
        if not path.exists():
            t = time.perf_counter()
            n = generate(path, viewers, seconds)
            print(f"# generated {path}: {n:,} rows, {path.stat().st_size / 2**30:.2f} GiB "
                  f"in {time.perf_counter() - t:.0f} s", flush=True)
        with open(path, "rb") as f:
            n_rows = sum(1 for _ in f) - 1
        try:
            for label, code in codes:
                guess = last_gib_per_row.get(label, 0) * n_rows
                if guess > args.cap_gib:
                    print(f"{size:>6} {label:>7} | skipped: would need ~{guess:.0f} GiB "
                          f"(extrapolated)", flush=True)
                    continue
                text, _, gib, rc = measured(code, [sys.executable, "-c", CHILD, str(path)],
                                             args.cap_gib)
                if rc:
                    print(f"{size:>6} {label:>7} | {text}", flush=True)
                    continue
                r = json.loads(text.strip().splitlines()[-1])
                html = Path(args.dir) / f"streamperf-bench-{size}-{label}.html"
                cli = ("import sys; from streamperf.cli import main; "
                       "sys.exit(main(sys.argv[1:]))")
                rtext, rwall, rgib, rrc = measured(
                    code, [sys.executable, "-c", cli, "report", str(path), "-o", str(html)],
                    args.cap_gib)
                html.unlink(missing_ok=True)
                rep = f"{rwall:8.1f} {rgib:5.2f}" if rrc in (0, 1, 3) else rtext[:60]
                with tempfile.TemporaryDirectory(dir=args.dir) as run_dir:
                    (Path(run_dir) / "events.csv").symlink_to(path)
                    ctext, cwall, cgib, crc = measured(
                        code, [sys.executable, "-c", CONCLUDE, run_dir], args.cap_gib)
                con = f"{cwall:10.1f} {cgib:5.2f}" if not crc else ctext[:40]
                peak = max(gib, rgib, cgib if not crc else 0.0)
                last_gib_per_row[label] = peak / n_rows
                print(f"{size:>6} {label:>7} | {r['read_s']:7.1f} {r['analyse_s']:9.1f} "
                      f"{gib:5.2f} | {rep} | {con} | {peak / n_rows * 1e6:10.3f}", flush=True)
                print(f"# {label} {size} figures: {json.dumps(r['figures'], sort_keys=True)}",
                      flush=True)
        finally:
            if not args.keep:
                path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
