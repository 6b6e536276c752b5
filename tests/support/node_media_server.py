"""node-media-server (the npm package) on free loopback ports, for tests and benchmarks.

A media server whose config we did not write (issue 11): RTMP in, RTMP and
HTTP-FLV out, as a user runs it. scripts/setup.sh installs the pinned
version into `.nms/` (or `$STREAMPERF_NMS_DIR`); `why_no_nms()` says why it
cannot run here (the test's skip reason). Each server gets its own work dir
with a small launcher script and its store, runs `node SCRIPT` in the
foreground as our child and is stopped by that PID.

    with NodeMediaServer.running(tmp_path) as nms:
        urls = nms.urls("key")   # .ingest (rtmp), .rtmp (play), .flv (http play)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streamperf.media.processes import popen, terminate
from streamperf.media.server import free_port

NMS_VERSION = "4.3.2"  # scripts/setup.sh installs this one
ROOT = Path(__file__).resolve().parents[2]
APP = "live"


def nms_install_dir() -> Path:
    env = os.environ.get("STREAMPERF_NMS_DIR")
    return Path(env) if env else ROOT / ".nms"


def nms_package() -> Path:
    return nms_install_dir() / "node_modules" / "node-media-server"


def why_no_nms() -> str | None:
    """Why node-media-server cannot run here (None: it can)."""
    if shutil.which("node") is None:
        return "node is not installed (scripts/setup.sh installs Debian's nodejs)"
    pkg = nms_package() / "package.json"
    try:
        version = json.loads(pkg.read_text()).get("version")
    except (OSError, ValueError):
        return f"node-media-server is not installed at {pkg.parent} (run scripts/setup.sh)"
    if version != NMS_VERSION:
        return f"node-media-server {version} at {pkg.parent}, tests pin {NMS_VERSION} " \
               "(run scripts/setup.sh)"
    return None


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


BIND_TRIES = 3  # ports taken before node could bind them: new ones, this many times


class PortTaken(RuntimeError):
    """node-media-server could not bind a port it was given."""


@dataclass(frozen=True)
class StreamUrls:
    """Where to publish and play one stream key."""

    ingest: str  # rtmp:// to publish to
    rtmp: str  # rtmp:// to play
    flv: str  # http:// HTTP-FLV to play


class NodeMediaServer:
    """One node-media-server: `start()`/`stop()` or `with NodeMediaServer.running(dir)`."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1") -> None:
        self.workdir = Path(workdir)
        self.host = host
        self.rtmp_port = free_port(host)
        self.http_port = free_port(host)
        self.log_path = self.workdir / "nms.log"
        self.script = self.workdir / "nms.js"
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    @contextlib.contextmanager
    def running(cls, workdir: Path, host: str = "127.0.0.1") -> Iterator[NodeMediaServer]:
        server = cls(workdir, host)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    # --- URLs ---------------------------------------------------------------------
    def urls(self, key: str) -> StreamUrls:
        rtmp = f"rtmp://{self.host}:{self.rtmp_port}/{APP}/{key}"
        return StreamUrls(ingest=rtmp, rtmp=rtmp, flv=self.flv_url(key))

    def flv_url(self, key: str) -> str:
        return f"http://{self.host}:{self.http_port}/{APP}/{key}.flv"

    def is_publishing(self, key: str) -> bool:
        """True once a publisher pushes to `key` (NMS logs it; a Publisher `ready` check)."""
        return f"start push /{APP}/{key}" in self.log_text()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- process ------------------------------------------------------------------
    def start(self, timeout: float = 15) -> NodeMediaServer:
        why = why_no_nms()
        if why:
            raise RuntimeError(why)
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(BIND_TRIES - 1):
            try:
                return self._start(timeout)
            except PortTaken:
                # a free port handed out is an ephemeral one: another test's outgoing
                # connection may take it before node binds it; two new ones
                self.rtmp_port, self.http_port = free_port(self.host), free_port(self.host)
        return self._start(timeout)

    def _start(self, timeout: float) -> NodeMediaServer:
        config = {
            "bind": self.host,
            "rtmp": {"port": self.rtmp_port},
            "http": {"port": self.http_port},
            "store": {"path": str(self.workdir / "data")},
        }
        # the package's own bin/app.js reads its config.json inside node_modules
        # (and rewrites it); a script of our own keeps every file in workdir
        self.script.write_text(
            f"const NodeMediaServer = require({json.dumps(str(nms_package()))});\n"
            f"new NodeMediaServer({json.dumps(config)}).run();\n"
        )
        with open(self.log_path, "ab") as log:
            self._proc = popen(
                ["node", str(self.script)], cwd=self.workdir, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.pid = self._proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self._proc.poll()
            if rc is not None:
                self._proc = self.pid = None
                error = PortTaken if "EADDRINUSE" in self.log_text() else RuntimeError
                raise error(f"node-media-server exited with {rc}: {self._tail()}")
            listening = f"listening on port {self.host}:{self.rtmp_port}" in self.log_text()
            if listening and all(_port_open(self.host, p)
                                 for p in (self.rtmp_port, self.http_port)):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"node-media-server not listening within {timeout:g}s: {self._tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL, by PID; idempotent."""
        proc, self._proc = self._proc, None
        self.pid = None
        if proc is None:
            return
        terminate(proc, grace=5.0)

    def _tail(self, n: int = 8) -> str:
        lines = [s.strip() for s in self.log_text().splitlines() if s.strip()]
        return " | ".join(lines[-n:]) or "(no log)"
