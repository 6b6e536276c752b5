"""Host preparation: wheelhouse, venv, install, limits, clock offset, log collection.

The wheelhouse is the controller's own streamperf as a wheel plus its
dependencies as wheels. Hosts install from it with `pip --no-index`, so they
need no internet and get exactly the versions the controller runs. The
dependency part is big (~90 MB: pandas, numpy, matplotlib, boto3...) and is
cached under `$STREAMPERF_CACHE/wheelhouse/<key>`, the key being the
controller's Python tag, platform and installed versions; only the small
streamperf wheel is rebuilt, and only when its sources change.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import streamperf
from streamperf.hosts.specs import DEFAULT_REMOTE_DIR
from streamperf.hosts.ssh import SshHost, SshHostError
from streamperf.media.publisher import default_cache_dir

# Not pinned into the hosts' constraints: build and install tooling, and streamperf itself.
_UNPINNED = {"pip", "setuptools", "wheel", "streamperf", "uv"}
_SRC_HASH_FILE = ".streamperf-src-hash"


class WheelhouseError(RuntimeError):
    pass


def source_root() -> Path:
    """The source tree of the running streamperf (it must be an editable/source install)."""
    root = Path(streamperf.__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise WheelhouseError(
            f"streamperf at {Path(streamperf.__file__).parent} is not a source tree "
            "(no pyproject.toml); build the wheelhouse from a checkout"
        )
    return root


def _pins() -> list[str]:
    pins: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name and name not in _UNPINNED:
            pins[name] = dist.version
    return [f"{n}=={v}" for n, v in sorted(pins.items())]


def deps_key() -> str:
    """Cache key: same interpreter ABI, platform and installed versions -> same wheels."""
    tag = f"{sys.implementation.cache_tag}-{sysconfig.get_platform()}-{platform.machine()}"
    digest = hashlib.sha256("\n".join([tag, *_pins()]).encode()).hexdigest()[:16]
    return f"{sys.implementation.cache_tag}-{digest}"


def source_hash(root: Path) -> str:
    h = hashlib.sha256()
    files = [root / "pyproject.toml", *sorted((root / "src" / "streamperf").rglob("*"))]
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise WheelhouseError(f"{' '.join(cmd[2:5])}... failed: {' | '.join(tail)}")


def build_wheelhouse(dest: Path | None = None) -> Path:
    """Return a directory with streamperf's wheel and all its dependency wheels.

    Builds into the cache (PyPI is used for dependencies, once per key); if `dest` is
    given the wheels are copied there too and `dest` is returned.
    """
    root = source_root()
    cache = default_cache_dir() / "wheelhouse" / deps_key()
    cache.mkdir(parents=True, exist_ok=True)
    # Two sessions at once (pytest -n, two terminals) build into one cache: take turns.
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(root, cache, dest)


def _build_locked(root: Path, cache: Path, dest: Path | None) -> Path:
    src_hash = source_hash(root)
    marker = cache / _SRC_HASH_FILE
    own = sorted(cache.glob("streamperf-*.whl"))
    if not own or not marker.exists() or marker.read_text().strip() != src_hash:
        with tempfile.TemporaryDirectory(prefix="streamperf-wheel-") as tmp:
            _pip("wheel", "--no-deps", "-q", "-w", tmp, str(root))
            built = sorted(Path(tmp).glob("streamperf-*.whl"))
            if len(built) != 1:
                raise WheelhouseError(f"pip wheel {root} produced {built}")
            for old in own:
                old.unlink()
            shutil.copy2(built[0], cache / built[0].name)
        marker.write_text(src_hash + "\n")
    wheel = next(cache.glob("streamperf-*.whl"))
    deps_done = cache / ".deps-complete"
    if not deps_done.exists():
        constraints = cache / "constraints.txt"
        constraints.write_text("\n".join(_pins()) + "\n")
        # [fast] brings uvloop: shards use it when present.
        _pip(
            "wheel", "-q", "-w", str(cache), "-c", str(constraints),
            f"streamperf[fast] @ {wheel.resolve().as_uri()}",
        )  # fmt: skip
        deps_done.write_text("ok\n")
    if dest is None:
        return cache
    dest.mkdir(parents=True, exist_ok=True)
    for whl in cache.glob("*.whl"):
        target = dest / whl.name
        if not target.exists() or target.stat().st_size != whl.stat().st_size:
            shutil.copy2(whl, target)
    for stale in dest.glob("streamperf-*.whl"):
        if stale.name != wheel.name:
            stale.unlink()
    return dest


MIN_PYTHON = (3, 11)
# What a shard imports (viewers, journeys, the host sampler): a load host needs only
# these, not pandas or matplotlib, so preparing it installs a fraction of the wheels.
# tests/unit/test_imports.py checks that the shard's imports stay within them.
WORKER_REQUIREMENTS = ("requests", "aiohttp", "psutil", "uvloop", "defusedxml")
# File descriptors beyond one per viewer: logs, the controller channel, DNS, pipes.
NOFILE_MARGIN = 256
CLOCK_SAMPLES = 20

_TIME_SERVER = (
    "import sys,time\n"
    "for _ in sys.stdin:\n"
    "    sys.stdout.write(repr(time.time())+'\\n'); sys.stdout.flush()\n"
)


class HostPrepareError(SshHostError):
    pass


@dataclass(frozen=True)
class HostInfo:
    host: str
    python: str  # version of the host's python3, e.g. "3.11.2"
    venv_python: str  # absolute remote path
    nofile: int  # soft RLIMIT_NOFILE of an SSH session
    nofile_hard: int
    clock_offset_s: float  # remote clock - controller clock
    rtt_s: float  # of the sample the offset came from
    streamperf_version: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    cpus: int = 1
    remote_dir: str = ""  # --remote-dir as an absolute path on the host


def _py(host: SshHost, python: str, code: str, *args: str, what: str) -> str:
    cmd = " ".join([shlex.quote(python), "-c", shlex.quote(code), *map(shlex.quote, args)])
    return host.check(cmd, what=what).strip()


def check_python(host: SshHost) -> str:
    """The host's python version string; raises unless >= MIN_PYTHON."""
    res = host.run(
        f"{shlex.quote(host.spec.python)} -c "
        + shlex.quote("import sys;print('%d.%d.%d' % sys.version_info[:3])")
    )
    if res.rc != 0:
        last = (res.err.strip() or "no output").splitlines()[-1]
        raise HostPrepareError(f"{host.spec.address}: {host.spec.python} not usable: {last}")
    version = res.out.strip()
    found = tuple(int(p) for p in version.split(".")[:2])
    if found < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        raise HostPrepareError(
            f"{host.spec.address}: {host.spec.python} is {version}, streamperf needs >= {need}"
        )
    return version


def _wheel_python_tags(wheelhouse: Path) -> set[str]:
    tags = set()
    for whl in wheelhouse.glob("*.whl"):
        parts = whl.name[:-4].split("-")
        if len(parts) >= 5 and parts[-3].startswith("cp3"):
            tags.add(parts[-3])
    return tags


_SIZES = (
    "import json,os,sys\n"
    "print(json.dumps({e.name: e.stat().st_size for e in os.scandir(sys.argv[1]) if e.is_file()}))"
)


def upload_wheelhouse(host: SshHost, wheelhouse: Path, remote_dir: str) -> tuple[int, int]:
    """Copy the wheels up, skipping same-size ones (streamperf's own always goes).

    `remote_dir` is absolute (see resolve_remote_dir). Returns (files sent, bytes sent).
    """
    host.check(f"mkdir -p {shlex.quote(remote_dir)}", what="mkdir wheelhouse")
    present = json.loads(_py(host, host.spec.python, _SIZES, remote_dir, what="list wheelhouse"))
    sent = nbytes = 0
    for whl in sorted(wheelhouse.glob("*.whl")):
        size = whl.stat().st_size
        # Same size is "same wheel" for pinned deps; streamperf's own may change at equal size.
        if present.get(whl.name) == size and not whl.name.startswith("streamperf-"):
            continue
        host.put_file(whl, f"{remote_dir}/{whl.name}")
        sent += 1
        nbytes += size
    return sent, nbytes


def measure_clock_offset(host: SshHost, samples: int = CLOCK_SAMPLES) -> tuple[float, float]:
    """(offset_s, rtt_s): remote − local, from the minimum-RTT of `samples` round trips.

    A tiny remote loop answers each line with time.time(), so process start cost
    is paid once and not counted in any round trip.
    """
    chan = host.open_channel(f"{shlex.quote(host.spec.python)} -u -c {shlex.quote(_TIME_SERVER)}")
    chan.settimeout(host.timeout_s)
    best: tuple[float, float] | None = None
    buf = b""
    try:
        for i in range(samples + 1):
            t_send, p_send = time.time(), time.perf_counter()
            chan.sendall(b"\n")
            while b"\n" not in buf:
                chunk = chan.recv(4096)
                if not chunk:
                    err = chan.recv_stderr(4096).decode(errors="replace").strip()
                    raise HostPrepareError(
                        f"{host.spec.address}: clock probe ended early: {err or 'no output'}"
                    )
                buf += chunk
            p_recv, t_recv = time.perf_counter(), time.time()
            line, buf = buf.split(b"\n", 1)
            if i == 0:
                continue  # warm-up: first answer includes interpreter start
            rtt = p_recv - p_send
            offset = float(line) - (t_send + t_recv) / 2
            if best is None or rtt < best[1]:
                best = (offset, rtt)
    finally:
        chan.shutdown_write()
        chan.close()
    assert best is not None
    return best


def check_nofile(host: SshHost, python: str, viewers_planned: int) -> tuple[int, int, list[str]]:
    """(soft, hard, warnings). Raises when even the hard limit is below the need."""
    soft, hard = (
        int(v)
        for v in _py(
            host,
            python,
            "import resource;print(*resource.getrlimit(resource.RLIMIT_NOFILE))",
            what="ulimit -n check",
        ).split()
    )
    return soft, hard, nofile_verdict(host.spec.address, soft, hard, viewers_planned)


def nofile_verdict(address: str, soft: int, hard: int, viewers: int) -> list[str]:
    """Warnings when the soft limit is short (shards raise it); raises when the hard one is."""
    need = viewers + NOFILE_MARGIN
    unlimited = resource_infinity()
    if hard != unlimited and hard < need:
        raise HostPrepareError(
            f"{address}: open-files limit (ulimit -n) hard {hard}, soft {soft}, "
            f"but {viewers} viewers need {need}; raise nofile in "
            "/etc/security/limits.conf or sshd's LimitNOFILE"
        )
    if soft != unlimited and soft < need:
        return [f"{address}: ulimit -n soft {soft} < {need} needed for "
                f"{viewers} viewers; shards raise it to the hard limit {hard}"]
    return []


def resource_infinity() -> int:
    import resource

    return resource.RLIM_INFINITY


_ABSPATH = "import os,sys;print(os.path.abspath(os.path.expanduser(sys.argv[1])))"


def resolve_remote_dir(host: SshHost, path: str) -> str:
    """`path` as an absolute path on `host`: `~` is the remote user's home there, and a
    relative path is taken from that home, as `ssh host cmd` would."""
    resolved = _py(host, host.spec.python, _ABSPATH, path, what=f"resolve {path}")
    if not resolved.startswith("/"):
        raise HostPrepareError(f"{host.spec.address}: {path} did not resolve to an absolute "
                               f"path (got {resolved!r})")
    return resolved.rstrip("/") or "/"


INSTALL_STAMP = ".streamperf-wheels"  # in the venv: the wheels it was last installed from


def install_stamp(wheelhouse: Path) -> str:
    """What an install from `wheelhouse` leaves in a venv: streamperf's own wheel by its
    bytes (its version number stays while its code changes), the pinned ones by name and
    size, and what a shard needs. The same stamp on a host: nothing to install."""
    h = hashlib.sha256(" ".join(WORKER_REQUIREMENTS).encode())
    for whl in sorted(wheelhouse.glob("*.whl")):
        h.update(whl.name.encode())
        own = whl.name.startswith("streamperf-")
        h.update(whl.read_bytes() if own else str(whl.stat().st_size).encode())
    return h.hexdigest()[:16]


def _install(host: SshHost, wheelhouse: Path, whdir: str, venv_python: str) -> None:
    """The shards' dependencies and streamperf itself into the venv, from the wheels."""
    upload_wheelhouse(host, wheelhouse, whdir)
    own = sorted(wheelhouse.glob("streamperf-*.whl"))
    if len(own) != 1:
        raise HostPrepareError(f"wheelhouse {wheelhouse} must hold one streamperf wheel: {own}")
    pip = f"{shlex.quote(venv_python)} -m pip --disable-pip-version-check -q install --no-index"
    links = f"--find-links {shlex.quote(whdir)}"
    host.check(f"{pip} {links} {' '.join(WORKER_REQUIREMENTS)}",
               what="pip install the shards' dependencies")
    # Our own wheel without its declared dependencies (the analysis stack stays on the
    # controller); reinstalled when it changed: same version number, new code.
    host.check(f"{pip} --no-deps --force-reinstall {shlex.quote(f'{whdir}/{own[0].name}')}",
               what="pip install streamperf")


def prepare(
    host: SshHost,
    wheelhouse: Path,
    remote_dir: str = DEFAULT_REMOTE_DIR,
    viewers_planned: int = 0,
) -> HostInfo:
    """Make `host` ready to run shards: python check, venv, install, limits, clock.

    Everything goes under `remote_dir` (`~` is the remote home): venv/,
    wheelhouse/ and, during runs, logs/.
    """
    addr = host.spec.address
    version = check_python(host)
    host_tag = "cp" + "".join(version.split(".")[:2])
    tags = _wheel_python_tags(wheelhouse)
    if tags and host_tag not in tags:
        raise HostPrepareError(
            f"{addr}: python {version} but the wheelhouse has binary wheels for "
            f"{', '.join(sorted(tags))} only; use the controller's Python version on hosts"
        )
    base = resolve_remote_dir(host, remote_dir)
    venv, whdir = f"{base}/venv", f"{base}/wheelhouse"
    venv_python = f"{venv}/bin/python"
    if host.run(f"test -x {shlex.quote(venv_python)}").rc != 0:
        host.check(
            f"{shlex.quote(host.spec.python)} -m venv {shlex.quote(venv)}",
            what="python3 -m venv (Debian/Ubuntu: apt-get install python3-venv)",
        )
    # A host prepared from these very wheels before (the next run on the same hosts) is
    # ready as it is: no upload, no pip.
    stamp, stamp_path = install_stamp(wheelhouse), f"{venv}/{INSTALL_STAMP}"
    fresh = host.run(f"cat {shlex.quote(stamp_path)}").out.strip() == stamp
    if not fresh:
        _install(host, wheelhouse, whdir, venv_python)
    installed, cpus = _py(
        host, venv_python, "import os,streamperf;print(streamperf.__version__,os.cpu_count() or 1)",
        what="import streamperf",
    ).split()  # fmt: skip
    if not fresh:
        host.check(f"echo {stamp} > {shlex.quote(stamp_path)}", what="note the install")
    soft, hard, warns = check_nofile(host, venv_python, viewers_planned)
    offset, rtt = measure_clock_offset(host)
    return HostInfo(
        host=str(host.spec),
        python=version,
        venv_python=venv_python,
        nofile=soft,
        nofile_hard=hard,
        clock_offset_s=offset,
        rtt_s=rtt,
        streamperf_version=installed,
        warnings=tuple(warns),
        cpus=int(cpus),
        remote_dir=base,
    )
