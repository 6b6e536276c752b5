"""Remote load hosts over SSH (paramiko): host specs, verified connections, commands, SFTP.

Host spec spellings (one parser, `parse_host_spec`):

- seed style, as in `--sshhosts "root@h1:2222 root@h2"`: `[user@]host[:port]`
  (IPv6 as `[user@][addr]:port`);
- xdist/execnet style: `ssh=[-p PORT] [-l USER] [user@]host[//python=PATH][//id=..][//chdir=..]`.
  execnet hands the `ssh=` value to the `ssh` command line, so a port is `-p 2222`
  (`ssh=user@host:2222` is not valid there and is rejected here too); other
  `//key=value` parts (`chdir`, `id`, `nice`, `env:*`) are accepted and ignored.

A hosts file holds one spec per line; `#` starts a comment.
"""

from __future__ import annotations

import shlex
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import paramiko

DEFAULT_PORT = 22
DEFAULT_PYTHON = "python3"
_OTHER_GATEWAYS = {"popen", "socket", "vagrant_ssh", "ssh_config"}
_IGNORED_XSPEC_KEYS = {"chdir", "id", "nice", "dont_write_bytecode", "execmodel"}


@dataclass(frozen=True)
class HostSpec:
    host: str
    user: str | None = None
    port: int = DEFAULT_PORT
    python: str = DEFAULT_PYTHON

    @property
    def address(self) -> str:
        """`host:port` as shown in messages."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.address}" if self.user else self.address

    def xspec(self) -> str:
        """The execnet gateway spec for this host (for the shard fan-out)."""
        who = f"{self.user}@{self.host}" if self.user else self.host
        port = f"-p {self.port} " if self.port != DEFAULT_PORT else ""
        return f"ssh={port}{who}//python={self.python}"


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port {text!r} in host spec {spec!r}")
    return int(text)


def _user_host(text: str, spec: str) -> tuple[str | None, str]:
    user, sep, host = text.rpartition("@")
    if (sep and not user) or not host or any(c in host for c in "/ @"):
        raise ValueError(f"bad host in host spec {spec!r}")
    return (user or None), host


def _parse_seed(spec: str) -> HostSpec:
    user, hostport = _user_host(spec, spec) if "@" in spec else (None, spec)
    if hostport.startswith("["):  # [v6addr]:port
        addr, close, rest = hostport[1:].partition("]")
        if not close or not addr or (rest and not rest.startswith(":")):
            raise ValueError(f"bad bracketed address in host spec {spec!r}")
        port = _port(rest[1:], spec) if rest else DEFAULT_PORT
        return HostSpec(addr, user, port)
    if hostport.count(":") > 1:
        raise ValueError(f"IPv6 address needs brackets ([addr]:port) in host spec {spec!r}")
    host, colon, port_text = hostport.partition(":")
    if not host or "/" in host:
        raise ValueError(f"bad host in host spec {spec!r}")
    return HostSpec(host, user, _port(port_text, spec) if colon else DEFAULT_PORT)


def _parse_xspec(spec: str) -> HostSpec:
    ssh: str | None = None
    seed: HostSpec | None = None
    python = DEFAULT_PYTHON
    for n, part in enumerate(spec.split("//")):
        key, eq, value = part.partition("=")
        if n == 0 and not eq and key not in _OTHER_GATEWAYS:
            # user@host[:port]//python=...: the seed's spelling with a python
            seed = _parse_seed(part)
        elif key == "ssh" and eq:
            ssh = value
        elif key == "python" and eq and value:
            python = value
        elif key in _IGNORED_XSPEC_KEYS or key.startswith("env:"):
            continue
        elif key in _OTHER_GATEWAYS:
            raise ValueError(f"host spec {spec!r}: only ssh= gateways are supported, not {key}")
        else:
            raise ValueError(f"unknown key {key!r} in host spec {spec!r}")
    if seed is not None:
        return HostSpec(seed.host, seed.user, seed.port, python)
    if not ssh:
        raise ValueError(f"host spec {spec!r} has no ssh=[-p PORT] user@host part")
    args = shlex.split(ssh)
    port, login, target = DEFAULT_PORT, None, None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-p", "-l"):
            if i + 1 >= len(args):
                raise ValueError(f"{arg} without a value in host spec {spec!r}")
            if arg == "-p":
                port = _port(args[i + 1], spec)
            else:
                login = args[i + 1]
            i += 2
            continue
        if arg.startswith("-p") and len(arg) > 2:
            port = _port(arg[2:], spec)
        elif arg.startswith("-"):
            raise ValueError(f"unsupported ssh option {arg!r} in host spec {spec!r} (only -p, -l)")
        elif target is not None:
            raise ValueError(f"more than one host in host spec {spec!r}")
        else:
            target = arg
        i += 1
    if target is None:
        raise ValueError(f"host spec {spec!r} names no host")
    user, host = _user_host(target, spec)
    if host.count(":") == 1:
        raise ValueError(f"host spec {spec!r}: execnet's ssh= takes -p PORT, not host:port")
    return HostSpec(host, user or login, port, python)


def parse_host_spec(text: str) -> HostSpec:
    """One host spec in seed (`user@host[:port]`) or xdist (`ssh=...//python=...`) style."""
    spec = text.strip()
    if not spec:
        raise ValueError("empty host spec")
    if spec.startswith("ssh=") or "//" in spec:
        return _parse_xspec(spec)
    if any(c.isspace() for c in spec):
        raise ValueError(f"whitespace in host spec {spec!r}")
    return _parse_seed(spec)


def _split_specs(text: str) -> list[str]:
    """Whitespace/comma separated specs; an `ssh=` spec runs on through its -p/-l options
    to its host word, so "ssh=-p 2222 root@h1 root@h2" is two specs."""
    tokens = text.replace(",", " ").split()
    specs: list[str] = []
    i = 0
    while i < len(tokens):
        words = [tokens[i]]
        i += 1
        if words[0].startswith("ssh="):
            pending = [words[0][4:]] if words[0][4:] else []
            while not _has_target(pending) and i < len(tokens):
                pending.append(tokens[i])
                words.append(tokens[i])
                i += 1
        specs.append(" ".join(words))
    return specs


def _has_target(words: list[str]) -> bool:
    expect_value = False
    for word in words:
        if expect_value:
            expect_value = False
        elif word in ("-p", "-l"):
            expect_value = True
        elif not word.startswith("-"):
            return True
    return False


def parse_host_specs(text: str) -> list[HostSpec]:
    """`--sshhosts` value: specs (either style) separated by whitespace or commas."""
    return [parse_host_spec(t) for t in _split_specs(text)]


def read_hosts_file(path: Path) -> list[HostSpec]:
    """One spec per line (either style); blank lines and `#` comments are skipped."""
    specs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            try:
                specs.append(parse_host_spec(line))
            except ValueError as e:
                raise ValueError(f"{path}:{n}: {e}") from None
    return specs


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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
