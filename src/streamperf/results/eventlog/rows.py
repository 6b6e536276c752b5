"""The event log's rows read back as they are: the whole log as one DataFrame (small
logs, users' own scripts), a tail of it as Events (the live view), and the first bad
line of a log named (diagnose) for the columnar reader.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from streamperf.results.eventlog.schema import COLUMNS, MAX_LINE_CHARS, Event, EventLogError


def _check_lines(data: bytes, label: str) -> None:
    """NUL bytes and overlong lines, found before pandas sees them (vectorised: a
    100 MB log takes a fraction of a second)."""
    _scan_lines([data], label)


def _scan_lines(chunks: Iterable[bytes], label: str) -> None:
    """_check_lines over a file a chunk at a time: EventLogError naming the first
    line with a NUL byte, else the first line over MAX_LINE_CHARS."""
    import numpy as np

    lines = 0  # newlines before this chunk
    carry = 0  # bytes of the line running into this chunk
    long_line: tuple[int, int] | None = None  # (line, length) of the first overlong one
    for data in chunks:
        nul = data.find(b"\0")
        if nul >= 0:
            line = lines + data.count(b"\n", 0, nul) + 1
            raise EventLogError(f"{label}: line {line}: a NUL byte (a damaged file; an event "
                                "log is text)")
        if long_line is not None:
            continue  # only a NUL further on is reported before it
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
        lengths = np.diff(ends, prepend=-1) - 1
        if len(lengths):
            lengths[0] += carry
            if lengths.max() > MAX_LINE_CHARS:
                i = int(np.argmax(lengths > MAX_LINE_CHARS))
                long_line = (lines + i + 1, int(lengths[i]))
            carry = len(data) - 1 - int(ends[-1])
        else:
            carry += len(data)
        lines += len(ends)
    if long_line is None and carry > MAX_LINE_CHARS:  # the last line, without a newline
        long_line = (lines + 1, carry)
    if long_line is not None:
        line, length = long_line
        raise EventLogError(f"{label}: line {line}: {length} bytes long (an event "
                            f"log line is at most {MAX_LINE_CHARS})")


def _first_bad_number(df: Any, column: str, label: str, first_line: int = 2
                      ) -> tuple[Any, str | None]:
    """(the column as floats, the error naming the first line whose t or value is not
    a finite number, or None). An empty value stays NaN: the writer never writes
    one, older tools may have. `first_line`: the line of df's first row."""
    import numpy as np
    import pandas as pd

    col = df[column]
    if pd.api.types.is_numeric_dtype(col):
        num = col.astype(float)
        empty = col.isna().to_numpy()
        shown = col
    else:
        shown = col.astype(str)
        num = pd.to_numeric(shown, errors="coerce").astype(float)
        empty = (shown.str.strip() == "").to_numpy()
    bad = ~np.isfinite(num.to_numpy())
    if column == "value":
        bad &= ~empty
    if bad.any():
        i = int(np.argmax(bad))
        return num, (f"{label}: line {i + first_line}: {column} {str(shown.iloc[i])[:40]!r} "
                     "is not a finite number")
    return num, None


def _bad_number(df: Any, column: str, label: str) -> None:
    """t and value as finite floats; EventLogError naming the first line that is not."""
    num, why = _first_bad_number(df, column, label)
    if why:
        raise EventLogError(why)
    df[column] = num


def _read_csv(source: Any, chunksize: int | None = None) -> Any:
    import pandas as pd

    return pd.read_csv(
        source,
        encoding="utf-8",
        index_col=False,
        dtype={
            "host": "string",
            "viewer": "string",
            "event": "string",
            "name": "string",
            "status": "string",
            "detail": "string",
        },
        keep_default_na=False,
        na_values={"t": [""], "value": [""]},
        chunksize=chunksize,
    )


def _parsed(source: Any, label: str, chunksize: int | None = None) -> Iterator[Any]:
    """The CSV as DataFrames (one, or chunks of `chunksize` rows), its parse errors as
    EventLogError."""
    import pandas as pd

    try:
        with warnings.catch_warnings():
            # More fields than the header in the first rows: pandas would warn and
            # drop them (or, without index_col=False, take columns as an index).
            warnings.simplefilter("error", pd.errors.ParserWarning)
            if chunksize is None:
                yield _read_csv(source)
            else:
                with _read_csv(source, chunksize) as reader:
                    yield from reader
    except pd.errors.ParserWarning:
        raise EventLogError(f"{label}: not a streamperf event log (a row has more fields "
                            "than the header)") from None
    except UnicodeDecodeError as exc:
        raise EventLogError(f"{label}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                            f"offset {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise EventLogError(f"{label}: empty, not even a header") from None
    except (pd.errors.ParserError, ValueError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EventLogError(f"{label}: not a streamperf event log "
                            f"({why.removeprefix('Error tokenizing data. C error: ')})"
                            ) from None


def _missing_columns(df: Any, label: str) -> None:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise EventLogError(f"{label}: not a streamperf event log (missing columns {missing})")


def read_events(path: Path | str | IO[str]) -> Any:
    """Load an events.csv into a pandas DataFrame with typed columns.

    Raises EventLogError (one line, naming the line) for what the writer never
    writes: NUL bytes, overlong lines, extra fields, non-UTF-8 text, a `t` or
    `value` that is not a finite number, missing columns."""
    if isinstance(path, str | Path):
        label = str(path)
        data = Path(path).read_bytes()
    else:
        label = str(getattr(path, "name", "event log"))
        raw = path.read()
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
    _check_lines(data, label)
    [df] = _parsed(io.BytesIO(data), label)
    _missing_columns(df, label)
    for column in ("t", "value"):
        _bad_number(df, column, label)
    return df


#: rows of a chunk when diagnose() reads a log a piece at a time
DIAGNOSE_ROWS = 1 << 20
_SCAN_BYTES = 8 << 20


def diagnose(path: Path | str) -> None:
    """Raise the EventLogError read_events would raise for this file, reading it a
    piece at a time (a long run's log does not fit read_events' memory); return
    when it has none. For readers that find out cheaply that something is wrong
    (eventlog.read_log) and need the line named."""
    label = str(path)

    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as f:
            while block := f.read(_SCAN_BYTES):
                yield block

    _scan_lines(chunks(), label)
    first_line = 2
    bad: dict[str, str] = {}  # column -> the first bad line's error
    for df in _parsed(path, label, DIAGNOSE_ROWS):
        if first_line == 2:
            _missing_columns(df, label)
        for column in ("t", "value"):
            if column not in bad:
                _, why = _first_bad_number(df, column, label, first_line)
                if why:
                    bad[column] = why
        first_line += len(df)
    for column in ("t", "value"):  # read_events checks every t before any value
        if column in bad:
            raise EventLogError(bad[column])


def iter_rows(text: str) -> Iterator[Event]:
    """Parse CSV text (e.g. a tail of the log) into Events, skipping the header.

    A row that is not an event log's (wrong field count, a field over csv's limit,
    a `t` or `value` that is not a finite number) raises ValueError."""
    import math

    try:
        for row in csv.reader(io.StringIO(text)):
            if not row or row[0] == "t":
                continue
            if len(row) != len(COLUMNS):
                raise ValueError(f"{len(row)} fields, not {len(COLUMNS)}")
            t, host, viewer, event, name, value, status, detail = row
            e = Event(float(t), host, viewer, event, name, float(value or 0), status, detail)
            if not (math.isfinite(e.t) and math.isfinite(e.value)):
                raise ValueError("t and value must be finite numbers")
            yield e
    except csv.Error as exc:
        raise ValueError(str(exc)) from None
