"""SSH connections to load hosts (paramiko): verified host keys, commands, file copies.

Hosts are named by specs (hosts/specs.py).
"""

from __future__ import annotations

import shlex
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import paramiko

from streamperf.hosts.specs import DEFAULT_PORT, HostSpec


class SshHostError(RuntimeError):
    """A host problem, with a one-line message that names the host."""


class HostUnreachable(SshHostError):
    pass


class HostAuthError(SshHostError):
    pass


class HostKeyError(SshHostError):
    pass


class InsecureHostKeyWarning(UserWarning):
    pass


def default_known_hosts() -> Path:
    return Path.home() / ".ssh" / "known_hosts"


@dataclass(frozen=True)
class CommandResult:
    rc: int
    out: str
    err: str


class SshHost:
    """One SSH connection to a load host. Use as a context manager or call connect()/close()."""

    def __init__(
        self,
        spec: HostSpec,
        *,
        key_file: Path | None = None,
        known_hosts: Path | None = None,
        insecure: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.spec = spec
        self.key_file = key_file
        self.known_hosts = known_hosts or default_known_hosts()
        self.insecure = insecure
        self.timeout_s = timeout_s
        self._client: paramiko.SSHClient | None = None

    def __str__(self) -> str:
        return str(self.spec)

    def connect(self) -> SshHost:
        spec = self.spec
        client = paramiko.SSHClient()
        if self.insecure:
            # Nothing loaded and nothing saved: the known_hosts file is left untouched.
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            warnings.warn(
                f"--ssh-insecure: host key of {spec.address} NOT verified",
                InsecureHostKeyWarning,
                stacklevel=2,
            )
        else:
            if self.known_hosts.exists():
                # HostKeys.load, not client.load_host_keys: the latter rewrites the file on close.
                client.get_host_keys().load(str(self.known_hosts))
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        user = spec.user or _local_user()
        try:
            client.connect(
                spec.host,
                port=spec.port,
                username=user,
                key_filename=str(self.key_file) if self.key_file else None,
                # An explicit key means exactly that key: an agent could mask a wrong one.
                allow_agent=self.key_file is None,
                look_for_keys=self.key_file is None,
                timeout=self.timeout_s,
                banner_timeout=self.timeout_s,
                auth_timeout=self.timeout_s,
            )
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyError(
                f"host key for {spec.address} does not match {self.known_hosts} "
                f"(got {e.key.get_name()} {e.key.get_fingerprint().hex()}); "
                "possible man-in-the-middle, or the host was reinstalled"
            ) from None
        except paramiko.AuthenticationException as e:
            client.close()
            how = f"key {self.key_file}" if self.key_file else "agent/default keys"
            raise HostAuthError(
                f"authentication failed for {user}@{spec.address} with {how}: {e}"
            ) from None
        except paramiko.SSHException as e:
            client.close()
            if "not found in known_hosts" in str(e):
                port_opt = f"-p {spec.port} " if spec.port != DEFAULT_PORT else ""
                raise HostKeyError(
                    f"host key for {spec.address} not in {self.known_hosts}; add it with "
                    f"ssh-keyscan {port_opt}{spec.host} >> {self.known_hosts} "
                    "or pass --ssh-insecure"
                ) from None
            raise HostUnreachable(f"SSH to {spec.address} failed: {e}") from None
        except (OSError, EOFError) as e:
            client.close()
            what = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e)
            if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
                what = "connection refused"
            elif isinstance(e, TimeoutError | socket.timeout):
                what = f"timed out after {self.timeout_s:g} s"
            raise HostUnreachable(f"cannot reach {spec.address}: {what}") from None
        self._client = client
        return self

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> SshHost:
        return self.connect() if self._client is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> paramiko.SSHClient:
        if self._client is None:
            raise SshHostError(f"{self.spec.address}: not connected")
        return self._client

    def run(self, command: str, timeout_s: float = 600.0) -> CommandResult:
        """Run `command` through the remote shell; wait for it and return rc/stdout/stderr."""
        _stdin, stdout, stderr = self.client.exec_command(command, timeout=timeout_s)
        _stdin.close()
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        return CommandResult(stdout.channel.recv_exit_status(), out, err)

    def check(self, command: str, timeout_s: float = 600.0, what: str | None = None) -> str:
        """run() that raises SshHostError (naming host and the error's last line) unless rc 0."""
        res = self.run(command, timeout_s)
        if res.rc != 0:
            last = (res.err.strip() or res.out.strip() or "no output").splitlines()[-1]
            raise SshHostError(
                f"{self.spec.address}: {what or command} failed (rc {res.rc}): {last}"
            )
        return res.out

    def open_channel(self, command: str) -> paramiko.Channel:
        """A started command whose stdin/stdout stay open (for line protocols)."""
        chan = self.client.get_transport().open_session()  # type: ignore[union-attr]
        chan.exec_command(command)
        return chan

    # Files move through the remote shell (`cat`, `tar`), not SFTP: many hardened
    # sshd configs drop the sftp subsystem, and this works wherever commands do.
    def put_file(self, local: Path, remote: str, timeout_s: float = 600.0) -> None:
        """Copy `local` to the absolute path `remote`; it appears whole or not at all."""
        part = f"{remote}.part"
        chan = self.open_channel(f"cat > {shlex.quote(part)} && mv -f {shlex.quote(part)} "
                                 f"{shlex.quote(remote)}")
        chan.settimeout(timeout_s)
        try:
            with local.open("rb") as f:
                while chunk := f.read(1 << 16):
                    chan.sendall(chunk)
            chan.shutdown_write()
            rc = chan.recv_exit_status()
            err = _drain(chan.makefile_stderr("rb"))
        finally:
            chan.close()
        if rc != 0:
            last = (err.strip() or "no output").splitlines()[-1]
            raise SshHostError(f"{self.spec.address}: copying {local.name} to {remote} "
                               f"failed (rc {rc}): {last}")


def _drain(f: object) -> str:
    return f.read().decode(errors="replace")  # type: ignore[attr-defined, no-any-return]


def _local_user() -> str:
    import getpass

    return getpass.getuser()
