"""Bandwidth caps on lo for tests: tc htb with a u32 filter on a source port.

DESIGN section 3: htb/tbf work on lo here, netem does not. Traffic *from*
the port (server to viewers) is capped; everything else on lo is not.
"""

from __future__ import annotations

import subprocess


def _tc(*args: str) -> None:
    subprocess.run(["tc", *args], check=True, capture_output=True, text=True)


class PortCap:
    def __init__(self, sport: int, kbit: int) -> None:
        self.sport = sport
        self.kbit = kbit
        self.active = False

    def install(self) -> PortCap:
        _tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10")
        self.active = True
        _tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb",
            "rate", "20gbit")
        _tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb",
            "rate", f"{self.kbit}kbit", "ceil", f"{self.kbit}kbit")
        # A deep queue: a pure rate cap without drops. Drops would leave connections
        # in TCP retransmit back-off for seconds after the cap lifts, which is a
        # loss effect, not the bandwidth effect these tests are about.
        _tc("qdisc", "add", "dev", "lo", "parent", "1:20", "handle", "20:", "pfifo",
            "limit", "100000")
        _tc("filter", "add", "dev", "lo", "protocol", "ip", "parent", "1:", "prio", "1",
            "u32", "match", "ip", "sport", str(self.sport), "0xffff", "flowid", "1:20")
        return self

    def lift(self) -> None:
        """Lift the cap without dropping what is queued (`remove` would drop it,
        and connections would then wait out a retransmit timeout inflated by the
        queueing delay)."""
        if self.active:
            _tc("class", "change", "dev", "lo", "parent", "1:", "classid", "1:20", "htb",
                "rate", "20gbit")

    def remove(self) -> None:
        if self.active:
            subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=False,
                           capture_output=True)
            self.active = False
