"""Load-host specs: how a user names a host, parsed in one place (no SSH here).

Spellings (one parser, `parse_host_spec`):

- seed style, as in `--sshhosts "root@h1:2222 root@h2"`: `[user@]host[:port]`
  (IPv6 as `[user@][addr]:port`);
- xdist/execnet style: `ssh=[-p PORT] [-l USER] [user@]host[//python=PATH][//id=..][//chdir=..]`.
  execnet hands the `ssh=` value to the `ssh` command line, so a port is `-p 2222`
  (`ssh=user@host:2222` is not valid there and is rejected here too); other
  `//key=value` parts (`chdir`, `id`, `nice`, `env:*`) are accepted and ignored.

A hosts file holds one spec per line; `#` starts a comment. Light on
purpose: option parsing imports it, and paramiko loads only with ssh.py.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

DEFAULT_REMOTE_DIR = "~/.streamperf"  # on each load host; `~` is that host's home
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


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: only this machine can connect to it."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port {text!r} in host spec {spec!r}")
    return int(text)


#: one line for a `user:password@host` spec; the spec itself is not repeated (it holds
#: the password), and nothing stores it
NO_PASSWORDS = ("a password in a host spec (user:PASSWORD@host) is not supported and "
                "is not stored: use a key (--sshkeyfile) or an ssh agent")


def _check_user(user: str | None) -> None:
    if user and ":" in user:
        raise ValueError(NO_PASSWORDS)


def _user_host(text: str, spec: str) -> tuple[str | None, str]:
    user, sep, host = text.rpartition("@")
    _check_user(user)
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
                _check_user(login)
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
