"""Bandwidth caps on lo for tests: tc htb with a u32 filter per source port.

DESIGN section 3: htb/tbf work on lo here, netem does not. Traffic *from*
a capped port (server to viewers) is capped; everything else on lo is not.
lo has one root qdisc, so one LoShaper holds every cap of a test, and tests
take turns at it (`shaping_lo`, across xdist workers too).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

TC_LOCK = Path(tempfile.gettempdir()) / "streamperf-tests-tc.lock"


def _tc(*args: str) -> None:
    subprocess.run(["tc", *args], check=True, capture_output=True, text=True)


class PortCap:
    """One port's cap: an htb class of the shaper's root."""

    def __init__(self, sport: int, kbit: int, classid: str) -> None:
        self.sport = sport
        self.kbit = kbit
        self.classid = classid
        self.active = False

    def install(self) -> PortCap:
        _tc("class", "add", "dev", "lo", "parent", "1:", "classid", self.classid, "htb",
            "rate", f"{self.kbit}kbit", "ceil", f"{self.kbit}kbit")
        # A deep queue: a pure rate cap without drops. Drops would leave connections
        # in TCP retransmit back-off for seconds after the cap lifts, which is a
        # loss effect, not the bandwidth effect these tests are about.
        _tc("qdisc", "add", "dev", "lo", "parent", self.classid,
            "handle", f"{self.classid.split(':')[1]}:", "pfifo", "limit", "100000")
        _tc("filter", "add", "dev", "lo", "protocol", "ip", "parent", "1:", "prio", "1",
            "u32", "match", "ip", "sport", str(self.sport), "0xffff", "flowid", self.classid)
        self.active = True
        return self

    def lift(self) -> None:
        """Lift the cap without dropping what is queued (removing the qdisc would drop
        it, and connections would then wait out a retransmit timeout inflated by the
        queueing delay)."""
        if self.active:
            _tc("class", "change", "dev", "lo", "parent", "1:", "classid", self.classid,
                "htb", "rate", "20gbit")


class LoShaper:
    """The root htb on lo (installed with the first cap) and the caps under it."""

    def __init__(self) -> None:
        self.caps: list[PortCap] = []
        self.root = False

    def cap(self, sport: int, kbit: int) -> PortCap:
        if not self.root:
            _tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10")
            self.root = True
            _tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb",
                "rate", "20gbit")
        cap = PortCap(sport, kbit, f"1:{20 + len(self.caps)}")
        self.caps.append(cap)
        return cap.install()

    def remove(self) -> None:
        if self.root:
            subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=False,
                           capture_output=True)
            self.root = False


class LoBusy(RuntimeError):
    """lo already has an htb root qdisc that is not this test's."""


def why_no_shaping() -> str | None:
    """Why lo cannot be shaped here (None: it can)."""
    if os.geteuid() != 0 or shutil.which("tc") is None:
        return "needs root and tc to shape lo"
    return None


@contextlib.contextmanager
def shaping_lo() -> Iterator[LoShaper]:
    """A LoShaper for the block once it is this test's turn (TC_LOCK); every cap it made
    is removed at exit. LoBusy when lo has an htb root already (someone else's)."""
    with TC_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        root = subprocess.run(["tc", "qdisc", "show", "dev", "lo"], capture_output=True,
                              text=True)
        if "htb" in root.stdout:
            raise LoBusy(f"lo already has an htb qdisc: {root.stdout.strip()}")
        shaper = LoShaper()
        try:
            yield shaper
        finally:
            shaper.remove()
