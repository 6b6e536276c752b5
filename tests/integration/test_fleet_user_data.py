"""The user data `streamperf fleet up` gives a new instance, run over SSH on a local
sshd standing in for one: it leaves streamperf importable from the controller's wheels,
the open-files limit raised and the idle auto-shutdown installed and enabled.

The script runs as root under STREAMPERF_ROOT (a temp dir standing in for the new
instance's /), so it changes nothing on this machine; what only a booted instance can
do (restart sshd, start the timer) is skipped there. This test creates a venv and
installs into it: it loads the CPU, so `make test` runs it with the SSH tests (ALONE).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

import streamperf
from streamperf.fleet.idle_shutdown import ENV_PATH, SCRIPT_PATH, SERVICE, TIMER
from streamperf.fleet.user_data import NOFILE, VENV, render_user_data
from streamperf.hosts.prepare import WORKER_REQUIREMENTS, build_wheelhouse

from .sshd_support import Lab


def test_user_data_prepares_a_new_host(lab: Lab, tmp_path_factory: pytest.TempPathFactory,
                                       ) -> None:
    wheelhouse = build_wheelhouse()  # the controller's wheels (cached between sessions)
    root = tmp_path_factory.mktemp("instance-root")
    # The stand-in image has systemd's own units, as a real one does.
    (root / "usr/lib/systemd").mkdir(parents=True)
    (root / "usr/lib/systemd/system").symlink_to("/usr/lib/systemd/system")
    script = root.parent / f"{root.name}-user-data.sh"
    script.write_text(render_user_data(5400, WORKER_REQUIREMENTS))

    with lab.host(0) as host:
        remote_script = f"{root}.sh"
        host.put_file(script, remote_script)
        out = host.check(f"STREAMPERF_ROOT={shlex.quote(str(root))} "
                         f"STREAMPERF_WHEELHOUSE={shlex.quote(str(wheelhouse))} "
                         f"bash {shlex.quote(remote_script)}", timeout_s=600,
                         what="user data")
        assert out.strip().endswith("streamperf-user-data: ready"), out
        version = host.check(f"{root}{VENV}/bin/python -c "
                             + shlex.quote("import aiohttp, streamperf, streamperf.load.shard;"
                                           "print(streamperf.__version__)"))
    assert version.strip() == streamperf.__version__

    limits = (root / "etc/security/limits.d/90-streamperf.conf").read_text().split("\n")
    for who in ("*", "root"):
        for kind in ("soft", "hard"):
            assert f"{who} {kind} nofile {NOFILE}".split() in [line.split() for line in limits]
    for unit in ("ssh", "sshd"):
        dropin = root / f"etc/systemd/system/{unit}.service.d/streamperf-nofile.conf"
        assert f"LimitNOFILE={NOFILE}" in dropin.read_text()

    assert (root / SCRIPT_PATH.lstrip("/")).stat().st_mode & 0o111
    assert (root / ENV_PATH.lstrip("/")).read_text() == "IDLE_SECONDS=5400\n"
    wants = root / "etc/systemd/system/timers.target.wants" / TIMER
    assert wants.is_symlink() and wants.readlink() == Path("/etc/systemd/system") / TIMER
    verify = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", f"/etc/systemd/system/{TIMER}",
         f"/etc/systemd/system/{SERVICE}"], capture_output=True, text=True, cwd=root)
    ours = [line for line in verify.stderr.splitlines() if "streamperf" in line]
    assert verify.returncode == 0 and not ours, verify.stderr
