#!/usr/bin/env bash
# Checks deploy/systemd as far as a machine without a running systemd can:
# `systemd-analyze verify` on the unit (in a scratch root holding systemd's
# own units and a stand-in executable at the unit's ExecStart path, which
# verify checks exists), with any warning counted as a failure; and the
# example flag file through the daemon's own flag parser.
#
#   verify_unit.sh UNIT FLAGS_EXAMPLE AOTI_EXECUTORD
set -euo pipefail
unit=$1
flags=$2
daemon=$3

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd" "$root/usr/local/bin"
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp "$unit" "$root/etc/systemd/system/aoti-executord.service"
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
[ "$exec_start" = /usr/local/bin/aoti-executord ] || {
  echo "unexpected ExecStart binary: $exec_start" >&2
  exit 1
}
printf '#!/bin/sh\n' >"$root$exec_start"
chmod +x "$root$exec_start"

output=$(systemd-analyze verify --man=no --root="$root" \
  aoti-executord.service 2>&1) || {
  echo "systemd-analyze verify failed:" >&2
  echo "$output" >&2
  exit 1
}
if [ -n "$output" ]; then
  echo "systemd-analyze verify warns:" >&2
  echo "$output" >&2
  exit 1
fi

# What the issue asks of the unit, present as written.
for line in Type=notify NotifyAccess=main Restart=on-failure \
  'ExecStart=/usr/local/bin/aoti-executord --flagfile=/etc/aoti-executor/flags' \
  RuntimeDirectory=aoti-executor ProtectSystem=strict PrivateTmp=yes \
  NoNewPrivileges=yes 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
  SystemCallArchitectures=native; do
  grep -qxF "$line" "$unit" || {
    echo "missing from the unit: $line" >&2
    exit 1
  }
done
grep -qE '^WatchdogSec=[1-9]' "$unit" || {
  echo "missing from the unit: WatchdogSec=" >&2
  exit 1
}

# The daemon parses the example flags (exit 2 on any bad flag); --version
# stops it before it serves.
"$daemon" --flagfile="$flags" --version >/dev/null
echo "PASS"
