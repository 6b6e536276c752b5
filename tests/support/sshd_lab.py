"""Real OpenSSH servers on loopback addresses with throwaway keys, for host tests.

Each server gets its own dir with host key, authorized_keys, pid file and
config, and runs `sshd -D -e -f CONF` in the foreground; it is stopped by PID.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from streamperf.hosts.specs import HostSpec, parse_host_specs
from streamperf.hosts.ssh import SshHost
from streamperf.media.processes import popen
from streamperf.media.server import free_port
from tests.support.loopback_servers import port_free

SSHD = "/usr/sbin/sshd"


def have_sshd() -> bool:
    return Path(SSHD).exists() and shutil.which("ssh-keygen") is not None and os.geteuid() == 0


def keygen(path: Path, comment: str = "streamperf-test") -> Path:
    """A new ed25519 key pair at `path` / `path`.pub, no passphrase."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )
    return path


class Sshd:
    """`with Sshd(dir, "127.0.0.2", 2222, client_pubkey) as s:` - s.port is the real port."""

    def __init__(self, workdir: Path, addr: str, port: int, authorized_pubkey: Path,
                 *, sftp: bool = True) -> None:
        self.dir = workdir
        # Its own home (sshd's SetEnv HOME), as a separate machine has: `~` on this
        # host is not the controller's home, nor the other host's.
        self.home = workdir / "home"
        self.sftp = sftp
        self.addr = addr
        #: the wanted port until start(), then the real one
        self.port = port
        self.authorized_pubkey = authorized_pubkey
        self.host_key = workdir / "ssh_host_ed25519_key"
        self.log = workdir / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def host_key_line(self) -> str:
        """The known_hosts line for this server (`[addr]:port type key`)."""
        kind, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"[{self.addr}]:{self.port} {kind} {key}\n"

    def start(self, timeout_s: float = 10.0) -> Sshd:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege-separation dir
        keygen(self.host_key, "sshd-host")
        auth = self.dir / "authorized_keys"
        shutil.copy(self.authorized_pubkey, auth)
        conf = self.dir / "sshd_config"
        # The wanted port, or another if something holds it on this address. Chosen and
        # bound under a lock: two xdist workers' labs would otherwise both see it free.
        lock_path = Path(tempfile.gettempdir()) / f"streamperf-tests-sshd-{self.addr}.lock"
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not port_free(self.port, self.addr):
                self.port = free_port(self.addr)
            self._write_config(conf, auth)
            with self.log.open("wb") as log:
                self.proc = popen(
                    [SSHD, "-D", "-e", "-f", str(conf)], stdout=log, stderr=subprocess.STDOUT
                )
            return self._wait_ready(timeout_s)

    def _write_config(self, conf: Path, auth: Path) -> None:
        conf.write_text(
            "\n".join(
                [
                    f"ListenAddress {self.addr}:{self.port}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {auth}",
                    "StrictModes no",  # keys live in a world-writable temp dir
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    f"SetEnv HOME={self.home}",
                    # Hardened hosts often drop SFTP; streamperf must not need it.
                    "Subsystem sftp internal-sftp" if self.sftp else "",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )

    def _wait_ready(self, timeout_s: float) -> Sshd:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                with socket.create_connection((self.addr, self.port), timeout=0.5) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd on {self.addr}:{self.port} not ready in {timeout_s} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


ADDRS = ("127.0.0.2", "127.0.0.3")


class Lab:
    """Two sshd on ADDRS (port 2222 when free), one client key, a known_hosts naming both.

    Each host has its own home (so the default --remote-dir, ~/.streamperf, is one
    per host as on separate machines); the second has no SFTP subsystem.
    """

    def __init__(self, root: Path, servers: list[Sshd], key: Path, known_hosts: Path) -> None:
        self.root = root
        self.servers = servers
        self.key = key
        self.known_hosts = known_hosts

    @property
    def sshhosts(self) -> str:
        """The seed-style `--sshhosts` value for both servers."""
        return " ".join(f"root@{s.addr}:{s.port}" for s in self.servers)

    @property
    def specs(self) -> list[HostSpec]:
        return parse_host_specs(self.sshhosts)

    def host(self, i: int = 0, **kw: object) -> SshHost:
        opts: dict[str, object] = {"key_file": self.key, "known_hosts": self.known_hosts}
        opts.update(kw)
        return SshHost(self.specs[i], **opts)  # type: ignore[arg-type]

    @classmethod
    @contextlib.contextmanager
    def running(cls, root: Path) -> Iterator[Lab]:
        key = keygen(root / "client_key")
        servers: list[Sshd] = []
        try:
            for n, addr in enumerate(ADDRS):
                # The second host has no SFTP subsystem, as hardened hosts often don't.
                servers.append(Sshd(root / f"sshd{n}", addr, 2222, key.with_suffix(".pub"),
                                    sftp=n == 0).start())
            known = root / "known_hosts"
            known.write_text("".join(s.host_key_line() for s in servers))
            yield cls(root, servers, key, known)
        finally:
            for s in servers:
                s.stop()
