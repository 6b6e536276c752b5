"""The user-data script a new load host runs at first boot (cloud-init runs it as root).

It raises the open-files limit (a viewer is a socket), installs streamperf
into /opt/streamperf/venv from a wheelhouse when one is there (the AMI's
copy baked by infra/packer, or one the controller put there), prints the
SSH host keys to the console (host_keys.py reads them there), and installs
and starts the idle auto-shutdown (idle_shutdown.py).

STREAMPERF_ROOT (default: empty, the real root) puts every file under
another directory and skips what only a booted machine can do (restarting
sshd, starting the timer), so the same script can set up a stand-in host;
STREAMPERF_WHEELHOUSE points at another wheelhouse. EC2 allows 16 KB of user
data: the script stays well under it (checked in render_user_data).
"""

from __future__ import annotations

import shlex

from streamperf.fleet.idle_shutdown import ENV_PATH, FILES, SCRIPT_PATH, SERVICE, TIMER, env_file

#: The limit a load host gets: one descriptor per viewer, with room to spare.
NOFILE = 1048576
VENV = "/opt/streamperf/venv"
WHEELHOUSE = "/opt/streamperf/wheelhouse"
USER_DATA_LIMIT = 16384


def _heredoc(path: str, text: str, mode: str) -> str:
    marker = "STREAMPERF_EOF"
    assert marker not in text
    return (f"mkdir -p \"$ROOT{path.rsplit('/', 1)[0]}\"\n"
            f"cat > \"$ROOT{path}\" <<'{marker}'\n{text}{marker}\n"
            f"chmod {mode} \"$ROOT{path}\"\n")


def render_user_data(idle_shutdown_s: float, worker_requirements: tuple[str, ...]) -> str:
    """The script; `worker_requirements` are what a shard imports (hosts/prepare.py)."""
    units = "".join(_heredoc(f"/etc/systemd/system/{name}", text, "0644")
                    for name, text in FILES.items() if name in (SERVICE, TIMER))
    idle = (_heredoc(SCRIPT_PATH, FILES["streamperf-idle-shutdown"], "0755") + units
            + _heredoc(ENV_PATH, env_file(idle_shutdown_s), "0644"))
    requirements = " ".join(shlex.quote(r) for r in worker_requirements)
    script = f"""#!/bin/bash
# streamperf load host, first boot (written by `streamperf fleet up`).
set -euo pipefail
ROOT="${{STREAMPERF_ROOT:-}}"
WHEELHOUSE="${{STREAMPERF_WHEELHOUSE:-$ROOT{WHEELHOUSE}}}"
VENV="$ROOT{VENV}"
log() {{ echo "streamperf-user-data: $*"; }}

# 1. Open files: one per viewer. PAM sessions (sshd) read limits.d; the drop-in
#    raises sshd's own hard limit for images without pam_limits.
mkdir -p "$ROOT/etc/security/limits.d"
cat > "$ROOT/etc/security/limits.d/90-streamperf.conf" <<'STREAMPERF_EOF'
*    soft nofile {NOFILE}
*    hard nofile {NOFILE}
root soft nofile {NOFILE}
root hard nofile {NOFILE}
STREAMPERF_EOF
for unit in ssh sshd; do
    mkdir -p "$ROOT/etc/systemd/system/$unit.service.d"
    printf '[Service]\\nLimitNOFILE={NOFILE}\\n' \\
        > "$ROOT/etc/systemd/system/$unit.service.d/streamperf-nofile.conf"
done
mkdir -p "$ROOT/etc/sysctl.d"
printf 'fs.file-max = 4194304\\nnet.ipv4.ip_local_port_range = 10240 65000\\n' \\
    > "$ROOT/etc/sysctl.d/90-streamperf.conf"

# 2. streamperf, from a wheelhouse when there is one (otherwise the controller
#    installs it over SSH, as for any load host).
if compgen -G "$WHEELHOUSE/streamperf-*.whl" > /dev/null; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q install --no-index)
    "${{pip[@]}}" --find-links "$WHEELHOUSE" {requirements}
    "${{pip[@]}}" --no-deps --force-reinstall "$(ls "$WHEELHOUSE"/streamperf-*.whl | tail -n 1)"
    "$VENV/bin/python" -c 'import streamperf; print("streamperf", streamperf.__version__)'
else
    log "no wheelhouse at $WHEELHOUSE: the controller installs streamperf over SSH"
fi

# 3. The idle auto-shutdown (the instance terminates when it powers off).
{idle}if [ -n "$ROOT" ]; then
    systemctl --root="$ROOT" enable {TIMER}
else
    sysctl --system > /dev/null || true
    systemctl daemon-reload
    systemctl try-restart ssh.service sshd.service || true
    systemctl enable --now {TIMER}
    # 4. Host keys to the console, where the controller reads them (no blind trust).
    {{ echo "-----BEGIN SSH HOST KEY KEYS-----"; cat /etc/ssh/ssh_host_*_key.pub
      echo "-----END SSH HOST KEY KEYS-----"; }} > /dev/console 2>/dev/null || true
fi
log "ready"
"""
    if len(script.encode()) > USER_DATA_LIMIT:
        raise ValueError(f"user data is {len(script.encode())} bytes; EC2 takes "
                         f"{USER_DATA_LIMIT}")
    return script
