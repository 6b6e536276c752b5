"""What a viewer reports through its `on_event` callback, kept for a test to read."""

from __future__ import annotations

from streamperf.results.eventlog.schema import VIEWER_ERROR

Row = tuple[str, str, float, str]  # (event, name, value, detail), as the viewer calls it


class Events(list[Row]):
    """A viewer's `on_event`: every call, in order."""

    def __call__(self, event: str, name: str, value: float, detail: str) -> None:
        self.append((event, name, value, detail))

    def of(self, kind: str) -> list[Row]:
        return [e for e in self if e[0] == kind]

    def errors(self) -> list[tuple[str, str]]:
        """(name, detail) of each viewer error: its kind and what happened."""
        return [(e[1], e[3]) for e in self if e[0] == VIEWER_ERROR]
