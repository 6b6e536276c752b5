"""A load host's logs copied back: its tar stream read into the run directory, never
outside it, never more than a cap, never waiting on a remote tar that cannot end."""

from __future__ import annotations

import shlex
import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from streamperf.hosts.prepare import HostPrepareError, resolve_remote_dir
from streamperf.hosts.ssh import SshHost

if TYPE_CHECKING:
    import paramiko


# A shard log is a few MB at most; anything far beyond is not ours to copy.
MAX_LOG_BYTES = 256 << 20
MAX_LOG_MEMBERS = 10_000  # files and folders of a host's logs


def _safe_name(name: str) -> bool:
    """A member name that stays where it is put: relative, no `..`, no NUL."""
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and "\0" not in name


def extract_logs(stream: IO[bytes], local_dir: Path, max_bytes: int = MAX_LOG_BYTES,
                 where: str = "logs") -> list[Path]:
    """Plain files (and folders) of a tar stream from a load host into `local_dir`.

    The host chooses the names, so each is checked twice: relative and free of `..`,
    and its resolved path inside `local_dir` (no link, ours or its, leads out).
    Links, devices and fifos are skipped, never followed or made; more than
    `max_bytes` in all raises HostPrepareError after the files that fit."""
    got: list[Path] = []
    root = local_dir.resolve()
    total = 0
    # Every byte of the stream counts, not only the files': GNU long names and PAX
    # headers are read whole at their declared size, skipped members are read through.
    bounded = _Bounded(stream, max_bytes + MAX_LOG_MEMBERS * 1024 + (1 << 20), where)
    with tarfile.open(fileobj=bounded, mode="r|") as tar:
        for count, member in enumerate(tar, start=1):
            if count > MAX_LOG_MEMBERS:
                raise HostPrepareError(f"{where}: over {MAX_LOG_MEMBERS} entries; copied the "
                                       "first ones")
            if not (member.isfile() or member.isdir()) or not _safe_name(member.name):
                continue
            target = (root / member.name).resolve()
            if not target.is_relative_to(root):
                continue
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            total += member.size
            if total > max_bytes:
                raise HostPrepareError(f"{where} exceed {max_bytes >> 20} MiB; "
                                       "copied the first ones")
            src = tar.extractfile(member)
            if src is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                shutil.copyfileobj(src, out)
            got.append(target)
    return got


class _Bounded:
    """A stream that ends in HostPrepareError past `limit` bytes read."""

    def __init__(self, stream: IO[bytes], limit: int, where: str) -> None:
        self.stream, self.limit, self.where, self.read_bytes = stream, limit, where, 0

    def read(self, n: int = -1) -> bytes:
        if n < 0 or self.read_bytes + n > self.limit:
            n = self.limit - self.read_bytes + 1  # one more: enough to know it is over
        data = self.stream.read(n)
        self.read_bytes += len(data)
        if self.read_bytes > self.limit:
            raise HostPrepareError(f"{self.where}: the tar stream exceeds {self.limit >> 20} "
                                   "MiB (headers included); copied the first files")
        return data


def collect_logs(host: SshHost, remote_dir: str, local_dir: Path,
                 max_bytes: int = MAX_LOG_BYTES) -> list[Path]:
    """Copy every regular file under `remote_dir` into `local_dir` (missing dir -> []).

    The host sends a tar stream; only plain files and folders whose names stay
    inside `local_dir` are written, up to `max_bytes` in all.
    """
    base = resolve_remote_dir(host, remote_dir)
    q = shlex.quote(base)
    chan = host.open_channel(f"test -d {q} || exit 3; tar -C {q} -cf - .")
    wait_s = host.timeout_s * 6
    chan.settimeout(wait_s)
    chan.shutdown_write()
    try:
        got = extract_logs(chan.makefile("rb"), local_dir, max_bytes,
                           f"{host.spec.address}: logs under {base}")
    except tarfile.ReadError:
        rc = _exit_status(chan, wait_s)
        chan.close()
        if rc == 3:
            return []  # no logs: the shard never started there
        raise
    except BaseException:
        # The cap, a timeout: the remote tar may be blocked on a full window, and would
        # never exit while we wait for it. Closing the channel ends it.
        chan.close()
        raise
    rc = _exit_status(chan, wait_s)
    chan.close()
    if rc is None:
        raise HostPrepareError(f"{host.spec.address}: tar of {base} did not end within "
                               f"{wait_s:g} s of its last byte")
    if rc not in (0, 3):
        raise HostPrepareError(f"{host.spec.address}: tar of {base} failed (rc {rc})")
    return got


def _exit_status(chan: paramiko.Channel, timeout_s: float) -> int | None:
    """The remote command's exit status, or None when it has not exited in time."""
    return chan.recv_exit_status() if chan.status_event.wait(timeout_s) else None
