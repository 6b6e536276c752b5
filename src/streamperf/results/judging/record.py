"""summary.json: a run's record, and the only code that writes or reads one.

What a run measured (`metrics`), what it was judged against (`judged_against`:
the Basis) and the judge's word (`verdict`), with its settings (secrets as
`***`), versions, load hosts and breaches, so that `streamperf summary` and
`report` can judge the run directory again exactly as the run was judged, and
pytest-html's runs table can show runs that happened in other processes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamperf.redact import redact_obj
from streamperf.results.analysis.figures import Analysis
from streamperf.results.judging.judge import Basis, Verdict, check_records, recorded_basis
from streamperf.versions import versions

FILENAME = "summary.json"

#: keys a record's readers rely on, and the JSON type each must have
TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "settings": dict, "judged_against": dict, "verdict": dict, "sla": list,
    "metrics": dict, "lost_hosts": dict, "grace_s": (int, float), "invalid": (str, type(None)),
}


@dataclass(frozen=True)
class RunRecord:
    """One run's summary.json content. `data` is the record as written: the terminal
    table and the HTML runs table show it as is."""

    data: Mapping[str, Any]

    @classmethod
    def of_run(cls, name: str, analysis: Analysis, basis: Basis, verdict: Verdict,
               settings: Mapping[str, Any], hosts: Mapping[str, Any],
               limits: Mapping[str, Any], extra: Mapping[str, Any]) -> RunRecord:
        """The record of a run just judged. `settings` are the redacted settings;
        `extra` is recorded as is (lost and prepared load hosts, a fleet)."""
        return cls({
            "name": name,
            "interrupted": basis.interrupted,
            "invalid": basis.invalid,
            "settings": dict(settings),
            "versions": versions(),
            "hosts": dict(hosts),
            **extra,
            "metrics": analysis.summary(),
            "sla": check_records(verdict, basis),
            "grace_s": basis.grace_s,
            "limits": dict(limits),
            "baseline": basis.baseline.get("name") if basis.baseline else None,
            "breaches": [str(b) for b in verdict.breaches],
            # What `streamperf summary`/`report` judge this directory against again.
            "judged_against": basis.to_json(),
            "verdict": verdict.to_json(),
        })

    def write(self, run_dir: Path) -> Path:
        """summary.json, every string in it through redact.py (no secret, wherever it hid)."""
        path = Path(run_dir) / FILENAME
        text = json.dumps(redact_obj(json.loads(json.dumps(self.data, default=str))),
                          indent=2)
        path.write_text(text)
        return path

    @classmethod
    def read(cls, run_dir: Path) -> RunRecord | None:
        """The run directory's record; None without one; ValueError (one line) for a
        file that is not a run record (judging the log alone instead would silently
        judge it against other thresholds)."""
        path = Path(run_dir) / FILENAME
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, ValueError) as exc:  # UnicodeDecodeError, JSONDecodeError
            raise ValueError(f"{path}: not a run summary ({str(exc).splitlines()[0][:120]}); "
                             "move it away to judge the event log alone") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a run summary (a JSON {type(data).__name__}, not "
                             "an object); move it away to judge the event log alone")
        for key, kind in TYPES.items():
            if key in data and data[key] is not None and not isinstance(data[key], kind):
                raise ValueError(f"{path}: not a run summary ({key!r} is a JSON "
                                 f"{type(data[key]).__name__}); move it away to judge the "
                                 "event log alone")
        return cls(data)

    @classmethod
    def read_complete(cls, run_dir: Path) -> RunRecord | None:
        """The record when it is a finished run's (name, metrics and a verdict word),
        else None: for tables of runs, which skip what they cannot show."""
        try:
            record = cls.read(run_dir)
        except ValueError:
            return None
        return record if record is not None and record.complete else None

    @property
    def complete(self) -> bool:
        verdict = self.data.get("verdict")
        return (isinstance(self.data.get("metrics"), dict) and isinstance(verdict, dict)
                and "word" in verdict and "name" in self.data)

    @property
    def judged(self) -> bool:
        """It holds a judgement (what `summary` and `report` judge again)."""
        return any(k in self.data for k in ("verdict", "sla", "judged_against"))

    @property
    def name(self) -> str | None:
        return self.data.get("name")

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.data.get("settings") or {})

    @property
    def verdict_word(self) -> str | None:
        verdict = self.data.get("verdict")
        return verdict.get("word") if isinstance(verdict, dict) else None

    def basis(self) -> Basis:
        """What the run was judged against (ValueError: not usable)."""
        return recorded_basis(self.data)
