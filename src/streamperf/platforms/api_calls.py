"""An API call as the event log records it, and the error a failed one raises.

Every adapter reports the calls it makes as ApiCall (each becomes an `api`
row: endpoint, latency, status); ApiError and its kinds carry a refused or
unanswered call's endpoint, URL and status into the fan_abort row that ends
a fan. Generic: the seed's client raises them, and so may any adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streamperf.redact import redact

#: characters of an answer's body an error keeps
BODY_LIMIT = 200


class ApiError(Exception):
    """A platform call answered with a non-200 status or an unusable body."""

    def __init__(self, endpoint: str, url: str, status: int | None, body: str) -> None:
        self.endpoint = endpoint
        self.url = redact(url)
        self.status = status
        self.body = redact(body)[:BODY_LIMIT]
        super().__init__(self._message())

    @property
    def method(self) -> str:
        return self.endpoint.split(" ", 1)[0]

    def _message(self) -> str:
        body = " ".join(self.body.split())
        return f"{self.method} {self.url} -> {self.status}: {body}"


class ApiTimeout(ApiError):
    """No answer within the client's timeout (status None)."""

    def _message(self) -> str:
        return f"{self.method} {self.url}: {self.body}"


class ApiUnreachable(ApiError):
    """Connection refused, reset, host unknown... (status None)."""

    def _message(self) -> str:
        return f"{self.method} {self.url}: {self.body}"


@dataclass
class ApiCall:
    endpoint: str  # templated: "POST /api/v1/influencers/{I}/stream_alerts"
    url: str
    latency_s: float
    status: int | None
    outcome: Literal["ok", "error", "timeout"]
    detail: str = ""
