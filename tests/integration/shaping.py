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
        _tc("filter", "add", "dev", "lo", "protocol", "ip", "parent", "1:", "prio", "1",
            "u32", "match", "ip", "sport", str(self.sport), "0xffff", "flowid", "1:20")
        return self

    def remove(self) -> None:
        if self.active:
            subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=False,
                           capture_output=True)
            self.active = False
