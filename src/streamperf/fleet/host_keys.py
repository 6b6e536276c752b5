"""Host keys of new instances, learnt without trusting the network.

A fresh instance prints its SSH host keys to its serial console
(cloud-init's `-----BEGIN SSH HOST KEY KEYS-----` block; streamperf's user
data prints the same block). The console comes through the authenticated
EC2 API, so a key read there is the instance's own; the key the host then
presents over SSH must be one of them, or the host is refused.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Callable

BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
END = "-----END SSH HOST KEY KEYS-----"
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "ssh-rsa")


def console_host_keys(console: str) -> list[tuple[str, str]]:
    """(type, base64 key) pairs from the last host-key block of a console text."""
    start = console.rfind(BEGIN)
    if start < 0:
        return []
    end = console.find(END, start)
    block = console[start + len(BEGIN):end if end >= 0 else len(console)]
    keys = []
    for line in block.splitlines():
        words = line.split()
        # cloud-init prefixes console lines with "ci-info:" or a timestamp on some images
        for n, word in enumerate(words[:-1]):
            if word in KEY_TYPES and _is_base64(words[n + 1]):
                keys.append((word, words[n + 1]))
                break
    return keys


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return len(text) > 16


def known_hosts_lines(address: str, port: int, keys: list[tuple[str, str]]) -> list[str]:
    host = address if port == 22 else f"[{address}]:{port}"
    return [f"{host} {kind} {key}" for kind, key in keys]


def ssh_answers(address: str, port: int = 22, timeout_s: float = 3.0) -> bool:
    """Something on address:port speaks SSH (its banner starts with SSH-)."""
    try:
        with socket.create_connection((address, port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def presented_key(address: str, port: int = 22, timeout_s: float = 10.0) -> tuple[str, str]:
    """The host key an SSH server presents (type, base64), from a bare key exchange."""
    import paramiko

    sock = socket.create_connection((address, port), timeout=timeout_s)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout_s)
        key = transport.get_remote_server_key()
        return key.get_name(), key.get_base64()
    finally:
        transport.close()


def wait_until(check: Callable[[], bool], timeout_s: float, poll_s: float = 2.0,
               sleep: Callable[[float], None] = time.sleep) -> bool:
    """Poll `check` until it holds (True) or time is up (False)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        sleep(poll_s)
    return True
