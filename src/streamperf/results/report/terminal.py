"""Text for people: the live progress line and the end-of-run table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamperf.results.analysis.figures import Analysis
from streamperf.results.formatting import figure
from streamperf.results.judging.judge import INTERRUPTED, INVALID, Verdict
from streamperf.results.report.live import Progress, rendition_shares


def progress_line(p: Progress) -> str:
    """The controller's line while a run plays; with the rendition shares of the
    playing viewers when they play a ladder."""
    shares = rendition_shares(p)
    return (
        f"[streamperf] {p.elapsed_s:5.0f}s  viewers {p.with_media}/{p.target}"
        f" (playing {p.playing}, done {p.done})  lagged {p.lagged}"
        f"  mean {p.mean_kbps:6.0f} kbps"
        + (f"  renditions {shares}" if shares else "")
        + f"  api errors {p.api_errors}/{p.api_calls}  viewer errors {p.viewer_errors}"
    )


def summary_table(name: str, a: Analysis, verdict: Verdict) -> str:
    return metrics_table(name, a.summary(), a.lag_threshold_s, verdict)


def metrics_table(name: str, s: Mapping[str, Any], lag_threshold_s: float,
                  verdict: Verdict) -> str:
    """The end-of-run table from Analysis.summary() figures (also as in summary.json)."""
    def f(key: str) -> str:
        return figure(s.get(key), key)

    rows = [
        ("viewers with media", f"{s['viewers_with_media']} / {s['viewers_planned']}"),
        ("startup p50 / p95", f"{f('startup_p50_s')} / {f('startup_p95_s')}"),
        (f"lagged (drift > {lag_threshold_s:g} s)", f("viewers_lagged")),
        ("max drift", f("max_drift_s")),
        ("latency p50 / p95 (lone viewer at origin)", _latency(s, f)),
        ("stalls (viewers with)", f"{f('stalls')} ({f('viewers_with_stalls')})"),
        ("mean kbps / source", f"{f('mean_kbps')} / {f('source_kbps')}"
         + (" (measured)" if s.get("source_kbps_basis") == "measured" else "")),
        ("min bitrate ratio", f("min_bitrate_ratio")),
        ("min media seconds", f("min_media_s")),
        ("viewer errors (disconnects)", f"{f('viewer_errors')} ({f('disconnects')})"),
        ("API calls / errors", f"{f('api_calls')} / {f('api_errors')}"),
    ]
    if s.get("rendition_shares"):  # the viewers played a ladder
        rows[7:7] = [
            ("average bitrate played (ladder)", f("played_mean_kbps")),
            ("renditions (share of time)", _shares(s["rendition_shares"])),
            ("renditions at the end", ", ".join(
                f"{k} {v}" for k, v in (s.get("renditions_at_end") or {}).items())),
            ("bitrate switches up / down", f"{f('switches_up')} / {f('switches_down')}"),
        ]
    if s.get("llhls_viewers"):  # LL-HLS viewers: what they asked their origin for
        rows += _origin_rows(s, f)
    width = max(len(k) for k, _ in rows)
    lines = [f"streamperf {name}: {verdict.headline}"]
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    lines += [f"  ! {b}" for b in verdict.breaches]
    lines += [f"  n/a {n}" for n in verdict.not_applicable]
    lines += [f"  fault: {line}" for line in s.get("faults") or ()]
    if verdict.word == INVALID:
        lines.append(f"  INVALID RUN: {verdict.invalid}")
    elif verdict.word == INTERRUPTED:
        lines.append(f"  INTERRUPTED RUN: {verdict.reason}")
    if "run_dir" in s:
        lines.append(f"  events: {s['run_dir']}/events.csv")
    return "\n".join(lines)


def _origin_rows(s: Mapping[str, Any], f: Any) -> list[tuple[str, str]]:
    """The LL-HLS origin load: requests a second in all, per viewer, by kind; waits."""
    kinds = ", ".join(f"{k} {figure(v)}" for k, v in (s.get("llhls_rps_by_kind") or {}).items()
                      if v)
    early = f"{f('llhls_early')} of {f('llhls_blocked')} answered early"
    return [
        ("LL-HLS requests/s (per viewer)",
         f"{f('llhls_rps')} ({f('llhls_rps_per_viewer')}), peak {f('llhls_peak_rps')}"
         + (f": {kinds}" if kinds else "")),
        ("LL-HLS block wait p50 / p95",
         f"{f('llhls_block_wait_p50_s')} / {f('llhls_block_wait_p95_s')}, {early}"),
    ]


def _shares(shares: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in shares.items())


def _latency(s: Mapping[str, Any], f: Any) -> str:
    """Latency only where it can be measured: never a zero for "no clock"."""
    if s.get("latency_basis") == "not measurable":
        return "not measurable (no publish clock, no PROGRAM-DATE-TIME in the stream)"
    text = f"{f('latency_p50_s')} / {f('latency_p95_s')} ({f('origin_latency_s')})"
    basis = str(s.get("latency_basis") or "")
    words = {"program date time": "PROGRAM-DATE-TIME",
             "availability start time": "MPD availabilityStartTime"}
    clocks = [words[part] for part in basis.split(" and ") if part in words]
    if clocks:
        text += f" from the stream's {' and '.join(clocks)}"
    return text


def run_summary_lines(summary: Mapping[str, Any], verdict: Verdict | None = None) -> str:
    """A finished run, from its summary.json content: table, verdict, lost hosts.

    The verdict is the one recorded there unless given (a re-judgement)."""
    settings = summary.get("settings") or {}
    judged = summary.get("judged_against") or {}
    lag = judged.get("lag_threshold_s") or settings.get("lag_threshold_s") or 3.0
    if verdict is None:
        verdict = Verdict.from_json(summary["verdict"])
    text = metrics_table(str(summary.get("name", "run")), summary.get("metrics") or {},
                         float(lag), verdict)
    lines = [text]
    lost = summary.get("lost_hosts") or {}
    if lost:
        lines.append("  lost load generators: "
                     + "; ".join(f"{host} ({why})" for host, why in lost.items()))
    return "\n".join(lines)
