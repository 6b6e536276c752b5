"""The idle auto-shutdown: a systemd timer that powers an instance off after a spell
with no SSH session, so a forgotten fleet stops costing money.

An instance started by `streamperf fleet up` (or infra/terraform) has its
instance-initiated shutdown behaviour set to *terminate*: powering off ends
it for good. The same three files are in infra/systemd/ for AMIs and
terraform users; a unit test keeps them identical to these.
"""

from __future__ import annotations

SCRIPT_PATH = "/usr/local/bin/streamperf-idle-shutdown"
ENV_PATH = "/etc/default/streamperf-idle-shutdown"
SERVICE = "streamperf-idle-shutdown.service"
TIMER = "streamperf-idle-shutdown.timer"

SCRIPT = """\
#!/bin/sh
# streamperf idle auto-shutdown: power off after IDLE_SECONDS with no SSH session.
# Run every minute by streamperf-idle-shutdown.timer. A controller running shards
# holds SSH sessions, so a host in use is never idle. The first run after boot
# starts the clock: a host that nobody ever reaches goes after IDLE_SECONDS too.
set -eu
IDLE_SECONDS="${IDLE_SECONDS:-7200}"
STAMP="${STAMP:-/run/streamperf-last-busy}"
now=$(date +%s)
if ss -Htn state established '( sport = :22 )' | grep -q . || [ ! -f "$STAMP" ]; then
    echo "$now" > "$STAMP"
    exit 0
fi
since=$(cat "$STAMP")
if [ $((now - since)) -ge "$IDLE_SECONDS" ]; then
    echo "streamperf: no SSH session for $((now - since)) s (limit $IDLE_SECONDS s): powering off"
    exec systemctl poweroff
fi
"""

SERVICE_UNIT = f"""\
[Unit]
Description=streamperf load host: power off when idle (no SSH session)

[Service]
Type=oneshot
EnvironmentFile=-{ENV_PATH}
ExecStart={SCRIPT_PATH}
"""

TIMER_UNIT = f"""\
[Unit]
Description=streamperf load host: check for idleness every minute

[Timer]
OnBootSec=1min
OnUnitActiveSec=1min
AccuracySec=10s
Unit={SERVICE}

[Install]
WantedBy=timers.target
"""

#: file name under infra/systemd/ -> its text
FILES = {
    "streamperf-idle-shutdown": SCRIPT,
    SERVICE: SERVICE_UNIT,
    TIMER: TIMER_UNIT,
}


def env_file(idle_seconds: float) -> str:
    return f"IDLE_SECONDS={int(idle_seconds)}\n"
