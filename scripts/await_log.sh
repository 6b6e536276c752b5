#!/usr/bin/env bash
# Wait (at most SECONDS) for a background pytest that `make test` started to write LOG.rc,
# print its LOG and exit with its status.
# usage: scripts/await_log.sh LOG SECONDS
set -u
log=$1
limit=$2
for _ in $(seq "$limit"); do
  [ -f "$log.rc" ] && break
  sleep 1
done
cat "$log"
if [ ! -f "$log.rc" ]; then
  echo "no end of $log after ${limit}s" >&2
  exit 1
fi
exit "$(cat "$log.rc")"
