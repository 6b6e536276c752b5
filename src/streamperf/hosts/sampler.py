"""Load-generator health: CPU, memory, network and event-loop lag.

A saturated generator reads late and so reports lag that the platform did
not cause; these samples are what lets a run be called invalid instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import psutil

from streamperf.results.eventlog.schema import HOST_SAMPLE, HOST_SAMPLE_S, Event


class HostSampler:
    def __init__(self, host: str, emit: Callable[[list[Event]], None]) -> None:
        self.host = host
        self._emit = emit
        self._proc = psutil.Process()
        self._proc.cpu_percent(None)  # prime: the first reading is meaningless
        psutil.cpu_percent(None)
        self._net = psutil.net_io_counters()

    def sample(self, loop_lag_s: float) -> list[Event]:
        now = time.time()
        net = psutil.net_io_counters()
        rows = [
            ("cpu_pct", psutil.cpu_percent(None)),  # whole host, all cores, 0-100
            ("proc_cpu_pct", self._proc.cpu_percent(None)),  # this process, % of one core
            ("rss_mib", self._proc.memory_info().rss / 2**20),
            ("net_in_bytes", float(net.bytes_recv - self._net.bytes_recv)),
            ("net_out_bytes", float(net.bytes_sent - self._net.bytes_sent)),
            ("loop_lag_s", loop_lag_s),
        ]
        self._net = net
        return [Event(now, self.host, "", HOST_SAMPLE, name, value) for name, value in rows]

    async def run(self, stop: asyncio.Event, every_s: float = HOST_SAMPLE_S) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            planned = loop.time() + every_s
            try:
                await asyncio.wait_for(stop.wait(), every_s)
                return
            except TimeoutError:
                pass
            # How late the loop woke us is the lag every viewer callback also saw.
            self.emit_sample(max(0.0, loop.time() - planned))

    def emit_sample(self, loop_lag_s: float) -> None:
        self._emit(self.sample(loop_lag_s))
