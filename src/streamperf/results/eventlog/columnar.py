"""The event log as the analysis reads it: the many per-second samples as compact
columns, every other row as a small DataFrame.

Nearly every row of a long run is a sample: a `bytes` and a `media_ts` row a
second per viewer (a 10,000-viewer hour is 72 M of them against some 100 k
others). Read into one pandas DataFrame of strings they cost about 340 bytes
a row (24 GB for that hour); here a sample costs 20 (viewer code int32, t and
value float64), so the hour fits in about 1.5 GB while its figures stay exact
(every sample is kept: percentiles over samples need them all).

Why this and not the others (benchmarks/analysis_rows.py, docs/cost.md; 10 M
rows on the 2-core machine, shared):
- pandas' CSV reader (read_events) parses on one core and keeps every text
  cell as a Python string: 10.2 s and 3.9 GiB to read, where this reads in
  2.8 s and 0.6 GiB (72 M rows: 20-27 s, and 2.8 GiB at the analysis's peak);
- pyarrow's streaming reader parses 4 MiB blocks (1.8 s of the 2.8 s), the
  viewer and event columns straight into dictionaries; each block is split
  at once into the samples (numpy columns) and the rest, so the samples'
  text is never held;
- DuckDB (not measured) would do the per-second SQL, but not the playhead
  model (a loop per viewer over its samples) nor the per-sample SLA
  percentiles, and is one more engine to ship; per-viewer aggregates kept
  as rows arrive would not serve `streamperf report` on a log alone (nor old
  logs), and a file beside the CSV could disagree with it after a crash.
The CSV stays the one record (docs/events.md); nothing is written beside it.

`read_events` (rows.py) still gives the whole log as one DataFrame for
small logs and users' own scripts; `EventLog.of` turns such a DataFrame
(or a seed tool log, seed_log.py) into an EventLog, so every analysis runs
the same code.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.rows import diagnose, read_events

#: The per-second rows, kept as columns; every other kind stays in EventLog.frame.
SAMPLE_KINDS = (ev.SAMPLE_BYTES, ev.SAMPLE_MEDIA_TS, ev.SAMPLE_CAPTURE_T)
TEXT_COLUMNS = ("host", "viewer", "event", "name", "status", "detail")
BLOCK_BYTES = 4 << 20  # one parse block of the CSV reader


@dataclass
class Samples:
    """Rows of one sample kind in log order: viewer code, t, value."""

    viewer: np.ndarray  # int32 codes into EventLog.names
    t: np.ndarray  # float64
    value: np.ndarray  # float64

    @classmethod
    def empty(cls) -> Samples:
        return cls(np.empty(0, np.int32), np.empty(0), np.empty(0))

    #: True where the row is its viewer's first of this kind in the log
    first: np.ndarray | None = None
    by_viewer: bool = False  # sorted by (viewer, t), as by_viewer() leaves it

    def __len__(self) -> int:
        return len(self.t)

    def sort_by_viewer(self) -> None:
        """Reorder in place by (viewer, t), stable, noting each viewer's first row
        in the log before. Column by column, each replaced as it is sorted: beside
        the rows, memory holds the order and one column."""
        if self.by_viewer:
            return
        order = stable_order(self.viewer)
        self.viewer = self.viewer[order]
        self.t = self.t[order]
        starts = np.r_[0, np.flatnonzero(self.viewer[1:] != self.viewer[:-1]) + 1] if len(
            self) else np.zeros(0, np.int64)
        back = self.t[1:] < self.t[:-1]
        back[starts[1:] - 1] = False
        if back.any():  # a viewer's rows out of time order: by time too (stable)
            again = np.lexsort((self.t, self.viewer))
            order = order[again]
            self.viewer, self.t = self.viewer[again], self.t[again]
            # Each viewer's first row in the log: its smallest original position.
            lengths = np.diff(np.r_[starts, len(self)])
            self.first = order == np.repeat(np.minimum.reduceat(order, starts), lengths)
        else:  # a stable sort keeps each viewer's rows in log order
            self.first = np.zeros(len(self), bool)
            self.first[starts] = True
        del back
        self.value = self.value[order]
        self.by_viewer = True


def stable_order(keys: np.ndarray) -> np.ndarray:
    """A stable argsort of non-negative int codes: radix sorts of 16 bits at a time."""
    if not len(keys) or int(keys.max()) < 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    return order[np.argsort((keys[order] >> 16).astype(np.uint16), kind="stable")]


def segments(code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code, start, end) of each run of equal codes in a sorted array."""
    if not len(code):
        empty = np.empty(0, np.int64)
        return empty, empty, empty
    starts = np.r_[0, np.flatnonzero(code[1:] != code[:-1]) + 1]
    ends = np.r_[starts[1:], len(code)]
    return code[starts], starts, ends


@dataclass
class EventLog:
    """One run's log. `frame` holds every row but the samples, typed as read_events
    types them, indexed by the row's position in the log."""

    frame: pd.DataFrame
    names: np.ndarray  # viewer names of the samples, sorted; a code indexes it
    samples: dict[str, Samples] = field(default_factory=dict)
    #: per viewer code: position in the log and host of its first sample row
    first_row: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    first_host: np.ndarray = field(default_factory=lambda: np.empty(0, object))

    def kind(self, name: str) -> Samples:
        return self.samples.get(name) or Samples.empty()

    @property
    def rows(self) -> int:
        return len(self.frame) + sum(len(s) for s in self.samples.values())

    @classmethod
    def of(cls, log: EventLog | pd.DataFrame) -> EventLog:
        """An EventLog as is; a DataFrame in the schema of read_events split into one."""
        if isinstance(log, EventLog):
            return log
        return from_frame(log)


def from_frame(df: pd.DataFrame) -> EventLog:
    """Split a read_events DataFrame (or a seed log's) into frame and samples."""
    df = df.reset_index(drop=True)
    is_sample = df["event"].isin(SAMPLE_KINDS).to_numpy(bool)
    frame = df[~is_sample]
    s = df[is_sample]
    viewers = s["viewer"].astype(str).to_numpy(object)
    names, codes = np.unique(viewers, return_inverse=True)
    codes = codes.astype(np.int32)
    positions = np.flatnonzero(is_sample)
    first = _first_index(codes, len(names))
    log = EventLog(frame, names.astype(object), first_row=positions[first],
                   first_host=s["host"].astype(str).to_numpy(object)[first])
    kinds = s["event"].astype(str).to_numpy(object)
    t = s["t"].to_numpy(float)
    value = s["value"].to_numpy(float)
    for kind in SAMPLE_KINDS:
        k = kinds == kind
        if k.any():
            log.samples[kind] = Samples(codes[k], t[k], value[k])
    return log


def _first_index(codes: np.ndarray, n: int) -> np.ndarray:
    """Index of each code's first occurrence (codes cover 0..n-1)."""
    if not n:
        return np.empty(0, np.int64)
    _, first = np.unique(codes, return_index=True)
    return first


class _Suspect(Exception):
    """The fast reader saw something read_events refuses: diagnose names it."""


class _Rows:
    """The CSV reader's rows with a wrong field count. Too few (a log cut mid-line by
    a crash) are left out, unless they hold what no line may (a NUL, an overlong
    line); too many are what read_events refuses: noted, for diagnose."""

    def __init__(self) -> None:
        self.suspect = False

    def __call__(self, row: Any) -> str:
        text = row.text or ""
        if row.actual_columns > row.expected_columns or "\0" in text or (
                len(text) > ev.MAX_LINE_CHARS) or not _cut_row(text):
            self.suspect = True
        return "skip"


def _cut_row(text: str) -> bool:
    """A short row as a crash leaves one, its t (and value) numbers as far as they go;
    read_events would refuse one with garbage there."""
    import math

    try:
        fields = next(csv.reader([text]), [])
        return all(math.isfinite(float(f)) for i, f in enumerate(fields[:6])
                   if i in (0, 5) and (i == 0 or f.strip()))
    except (ValueError, csv.Error):
        return False


#: A field longer than this might make its line longer than MAX_LINE_CHARS (8 fields,
#: quotes doubled): diagnose measures the lines then. The writer's are under 400.
SUSPECT_FIELD_CHARS = ev.MAX_LINE_CHARS // 16 - 16


def _suspect_batch(batch: Any, t: np.ndarray, value: np.ndarray) -> bool:
    """A block holding what read_events refuses, seen column by column: a `t` not a
    finite number, a `value` neither empty nor finite, a NUL byte or a long field."""
    import pyarrow.compute as pc

    if batch.column("t").null_count or not np.isfinite(t).all():
        return True
    nonfinite = np.count_nonzero(~np.isfinite(value))
    if nonfinite > batch.column("value").null_count:  # "nan", "inf": not an empty value
        return True
    for name in TEXT_COLUMNS:
        col = batch.column(name)
        if hasattr(col, "dictionary"):  # viewer, event: their few distinct words
            col = col.dictionary
        if not len(col):
            continue
        if pc.max(pc.binary_length(col)).as_py() > SUSPECT_FIELD_CHARS or pc.any(
                pc.match_substring(col, "\0")).as_py():
            return True
    return False


def _plain_header(path: Path) -> bool:
    """The first line is the schema's header, plain: every column, UTF-8, one line."""
    with open(path, "rb") as f:
        first = f.readline(ev.MAX_LINE_CHARS + 2)
    try:
        text = first.decode("utf-8")
        header = next(csv.reader([text.rstrip("\r\n")]), [])
    except (UnicodeDecodeError, csv.Error):
        return False
    return "\r" not in text.rstrip("\r\n") and all(c in header for c in ev.COLUMNS)


def read_log(path: Path | str | IO[str]) -> EventLog:
    """Read an events.csv into an EventLog (ValueError, OSError: not readable as one).

    What read_events refuses (EventLogError, one line naming file and line: NUL
    bytes, overlong lines, extra fields, non-UTF-8 text, a `t` or `value` that is
    not a finite number) is refused here too. The fast reader looks for it column
    by column as it reads; only when it sees some does diagnose read the file
    again, a piece at a time, to name the line."""
    if not isinstance(path, str | Path):  # a file object: small, as read_events reads it
        return from_frame(read_events(path))
    import pyarrow as pa

    path = Path(path)
    if not _plain_header(path):  # not an event log, or an odd one: read_events' way
        return from_frame(read_events(path))
    _lean_pool()
    try:
        return _read_arrow(path)
    except _Suspect:
        diagnose(path)  # raises, naming the line
        return _read_arrow(path, check=False)  # a false alarm: a long field, a short line
    except (pa.ArrowException, UnicodeDecodeError):
        diagnose(path)  # raises, naming the line
        # Something pandas reads and Arrow does not: the log read the slow way.
        return from_frame(read_events(path))


def _lean_pool() -> None:
    """Arrow's memory from jemalloc, not its default mimalloc: mimalloc reserves over
    a GiB of address space up front, which a process run under an address-space
    limit (ulimit -v) does not have to give."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name == "mimalloc":
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:  # a build without jemalloc
            pa.set_memory_pool(pa.system_memory_pool())


def _read_arrow(path: Path, check: bool = True) -> EventLog:
    bad_rows = _Rows()
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        # A row of the wrong length that is not UTF-8: Arrow cannot show it to the
        # handler, says so on stderr and stops with ArrowInvalid; diagnose names it.
        if unraisable.object is bad_rows:
            bad_rows.suspect = True
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        return _read_blocks(path, check, bad_rows)
    finally:
        sys.unraisablehook = previous


def _read_blocks(path: Path, check: bool, bad_rows: _Rows) -> EventLog:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    # Viewer and event names parse straight into per-block dictionaries: a sample
    # row's text becomes two small ints, never a Python string.
    words = pa.dictionary(pa.int32(), pa.string())
    types = {"t": pa.float64(), "value": pa.float64(), "viewer": words, "event": words,
             **{c: pa.string() for c in ("host", "name", "status", "detail")}}
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(invalid_row_handler=bad_rows),
        convert_options=pacsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=False,
            quoted_strings_can_be_null=False),
    )
    parts = {k: (_Column(np.int32), _Column(np.float64), _Column(np.float64))
             for k in SAMPLE_KINDS}
    first_row: list[int] = []
    first_host: list[str] = []
    at = 0  # position in the log of the batch's first row
    rest: list[Any] = []  # the other rows, as Arrow batches: one conversion at the end
    rest_at: list[np.ndarray] = []
    names: list[str] = []  # viewers with samples, in code order
    known = pa.array(names, pa.string())
    for batch in reader:
        t = batch.column("t").to_numpy(zero_copy_only=False)
        value = batch.column("value").to_numpy(zero_copy_only=False)
        if check and (bad_rows.suspect or _suspect_batch(batch, t, value)):
            raise _Suspect
        event = batch.column("event")
        kind_of = np.array([SAMPLE_KINDS.index(e) if e in SAMPLE_KINDS else -1
                            for e in event.dictionary.to_pylist()], np.int8)
        kind = kind_of[event.indices.to_numpy(zero_copy_only=False)]
        is_sample = kind >= 0
        if not is_sample.all():
            rest.append(batch.filter(pa.array(~is_sample)))
            rest_at.append(np.flatnonzero(~is_sample) + at)
        if is_sample.any():
            # This block's viewer words to codes, in Arrow: a new viewer is rare.
            viewer = batch.column("viewer")
            at_word = viewer.indices.to_numpy(zero_copy_only=False)
            lut = pc.fill_null(pc.index_in(viewer.dictionary, value_set=known), -1).to_numpy(
                zero_copy_only=False).astype(np.int32)
            used = np.bincount(at_word[is_sample], minlength=len(lut)) > 0
            fresh_words = np.flatnonzero(used & (lut < 0))
            new = len(names)
            if len(fresh_words):  # viewers first seen here: where, and on which host
                for w, name in zip(fresh_words.tolist(), viewer.dictionary.take(
                        pa.array(fresh_words)).to_pylist(), strict=True):
                    lut[w] = len(names)
                    names.append(name)
                known = pa.array(names, pa.string())
            code = lut[at_word]
            if len(names) > new:
                fresh, idx = np.unique(np.where(is_sample, code, -1), return_index=True)
                # New codes are numbered on from `new` in order, all in this batch.
                idx = idx[fresh >= new]
                first_row.extend((idx + at).tolist())
                first_host.extend(batch.column("host").take(pa.array(idx)).to_pylist())
            for k, name in enumerate(SAMPLE_KINDS):
                rows = kind == k
                if rows.any():
                    for column, values in zip(parts[name], (code, t, value), strict=True):
                        column.extend(values[rows])
        at += batch.num_rows
    if check and bad_rows.suspect:
        raise _Suspect
    if rest:
        frame = pa.Table.from_batches(rest).to_pandas()
        frame.index = pd.Index(np.concatenate(rest_at))
    else:
        frame = pd.DataFrame(columns=list(ev.COLUMNS))
    frame = frame.astype({c: str for c in ("viewer", "event") if c in frame})
    frame = frame.astype({c: "string" for c in TEXT_COLUMNS if c in frame})
    frame = frame.astype({c: float for c in ("t", "value") if c in frame})
    # Codes in the viewers' name order: per-viewer results come out sorted by name.
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    remap = np.empty(len(names), np.int32)
    remap[order] = np.arange(len(names), dtype=np.int32)
    log = EventLog(frame, np.array(names, dtype=object)[order],
                   first_row=np.array(first_row, np.int64)[order],
                   first_host=np.array(first_host, dtype=object)[order])
    for name, (code, t, value) in parts.items():
        if len(code):  # column by column, each block let go once copied
            log.samples[name] = Samples(remap[code.join()], t.join(), value.join())
    return log


class _Column:
    """A column growing in blocks (doubling up to MAX_BLOCK rows), joined once at the
    end. Big blocks are mapped memory of their own, so each goes back to the system
    as soon as it is copied out: reading never holds the samples twice over, nor
    leaves the heap full of freed pieces."""

    MAX_BLOCK = 1 << 23

    def __init__(self, dtype: type) -> None:
        self.dtype = dtype
        self.blocks: list[np.ndarray] = []
        self.fill = 0  # rows used in the last block

    def __len__(self) -> int:
        return sum(len(b) for b in self.blocks[:-1]) + self.fill

    def extend(self, values: np.ndarray) -> None:
        while len(values):
            if not self.blocks or self.fill == len(self.blocks[-1]):
                size = min(self.MAX_BLOCK, 2 * len(self.blocks[-1])) if self.blocks else 1 << 16
                self.blocks.append(np.empty(size, self.dtype))
                self.fill = 0
            block = self.blocks[-1]
            n = min(len(values), len(block) - self.fill)
            block[self.fill:self.fill + n] = values[:n]
            self.fill += n
            values = values[n:]

    def join(self) -> np.ndarray:
        out: np.ndarray = np.empty(len(self), self.dtype)
        at = 0
        blocks, self.blocks = self.blocks, []
        for i in range(len(blocks)):
            block = blocks[i]
            n = len(block) if i < len(blocks) - 1 else self.fill
            out[at:at + n] = block[:n]
            at += n
            blocks[i] = None  # type: ignore[call-overload]
            del block
        self.fill = 0
        return out


def frame_of(log: Any) -> pd.DataFrame:
    """The non-sample rows of an EventLog, or a DataFrame as is (the report's rows)."""
    return log.frame if isinstance(log, EventLog) else log


def load_log(path: Path | str) -> EventLog:
    """An events.csv, a run directory's, or a seed tool log (seed_log.load_any reads it
    into the schema), as an EventLog; ValueError/OSError when it is neither."""
    from streamperf.results.eventlog.seed_log import load_any, sniff

    p = Path(path)
    if p.is_dir():
        p = p / "events.csv"
    return read_log(p) if sniff(p) == "streamperf" else from_frame(load_any(p))
