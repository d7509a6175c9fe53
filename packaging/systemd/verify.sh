#!/bin/sh
# verify.sh [--man] UNIT_PATH: check an installed systemd unit with
# systemd-analyze verify, failing on any complaint about it.
#
# systemd-analyze verify exits 0 despite warnings unless told otherwise,
# and it also reports on other units on the machine; this script fails
# when it exits non-zero with --recursive-errors=no (errors in this unit
# only) or prints any line that names the unit (its file, drop-ins
# included). The unit's ExecStart= and other commands must exist, so run it
# after installing the package.
#
# --man also checks that the man pages in Documentation= are installed;
# it is off by default because CI images often leave out /usr/share/man.
set -eu

prog=verify.sh
usage() {
	echo "usage: $prog [--man] UNIT_PATH" >&2
	exit 2
}

man=no
if [ "${1:-}" = "--man" ]; then
	man=yes
	shift
fi
[ $# -eq 1 ] || usage
case $1 in -*) usage ;; esac
unit=$1
if [ ! -f "$unit" ]; then
	echo "$prog: error: no unit file $unit" >&2
	exit 2
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "$prog: error: systemd-analyze not found (apt-get install systemd)" >&2
	exit 2
fi
name=$(basename "$unit")

rc=0
out=$(systemd-analyze verify --man="$man" --recursive-errors=no "$unit" 2>&1) || rc=$?
if [ -n "$out" ]; then
	printf '%s\n' "$out"
fi
about=$(printf '%s\n' "$out" | grep -F -e "$name" || true)
if [ -n "$about" ] || [ "$rc" -ne 0 ]; then
	echo "$prog: error: $unit: systemd-analyze verify complains (exit status $rc)" >&2
	exit 1
fi
echo "$prog: $unit: ok"
