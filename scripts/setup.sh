#!/usr/bin/env bash
# Installs what streamperf needs on Debian/Ubuntu: system packages (when
# missing, with apt as root or via sudo) and .venv with streamperf in it.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(ffmpeg nginx libnginx-mod-rtmp rtmpdump iproute2 openssh-server chromium)
# node-media-server: the integration tests' media server whose config we did
# not write (RTMP in; RTMP and HTTP-FLV out). Pinned; 4.3.2 runs on Debian's Node 18.
NMS_VERSION=4.3.2
NMS_DIR=.nms
# hls.js and dash.js: the real players tests/integration/test_real_players.py holds
# streamperf's ABR viewers to, in headless Chromium. Pinned: the latest 1.5 and 4.7 patches.
HLSJS_VERSION=1.5.20
DASHJS_VERSION=4.7.4
PLAYERS_DIR=.players

apt_install() {  # apt_install PKG...: as root or via sudo, else say what to run
  local cmd="apt-get install -y --no-install-recommends $*" sudo
  if [ "$(id -u)" = 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo="sudo"
  else
    echo "streamperf needs: $*. Run as root: apt-get update && $cmd" >&2
    exit 1
  fi
  echo "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # Debian starts nginx on install; streamperf runs its own, so keep the
  # packaged service from starting where policy-rc.d is honoured.
  $sudo env RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# node and npm by command: a Node from elsewhere (e.g. NodeSource, whose nodejs
# carries npm and conflicts with Debian's npm) will do
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi

nms_pkg="$NMS_DIR/node_modules/node-media-server/package.json"
if ! grep -q "\"version\": \"$NMS_VERSION\"" "$nms_pkg" 2>/dev/null; then
  echo "installing node-media-server $NMS_VERSION into $NMS_DIR/"
  mkdir -p "$NMS_DIR"
  npm install --prefix "$NMS_DIR" --save-exact --no-audit --no-fund --loglevel=error \
    "node-media-server@$NMS_VERSION" >/dev/null
fi

players_installed() {
  grep -q "\"version\": \"$HLSJS_VERSION\"" "$PLAYERS_DIR/node_modules/hls.js/package.json" \
    2>/dev/null &&
  grep -q "\"version\": \"$DASHJS_VERSION\"" "$PLAYERS_DIR/node_modules/dashjs/package.json" \
    2>/dev/null
}
if ! players_installed; then
  echo "installing hls.js $HLSJS_VERSION and dash.js $DASHJS_VERSION into $PLAYERS_DIR/"
  mkdir -p "$PLAYERS_DIR"
  npm install --prefix "$PLAYERS_DIR" --save-exact --no-audit --no-fund --loglevel=error \
    "hls.js@$HLSJS_VERSION" "dashjs@$DASHJS_VERSION" >/dev/null
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "streamperf needs Python >= 3.11 ($PYTHON is $("$PYTHON" -V 2>&1))" >&2
  exit 1
}
stamp=.venv/.streamperf-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  # uv installs the ~90 packages in half the time pip takes; pip if uv cannot be had.
  # Compiled up front, as pip does: with PYTHONDONTWRITEBYTECODE set (CI runners often
  # set it) every process would otherwise compile pandas & co. again at each import.
  if ! { .venv/bin/pip install -q uv >/dev/null 2>&1 &&
         .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python \
           -e '.[dev]'; }; then
    .venv/bin/pip install -q -e '.[dev]'
  fi
  touch "$stamp"
fi
echo "streamperf ready: $(.venv/bin/streamperf --version 2>/dev/null || echo installed)"
