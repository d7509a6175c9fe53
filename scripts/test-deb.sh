#!/usr/bin/env bash
# Tests the Debian package that scripts/deb.sh built, on this machine, as
# root: installs dist/sesame_*_<arch>.deb, checks what it installed, then
# removes and purges it and checks that nothing is left. The machine is
# left as it was found, on failure too: the package is purged on exit, and
# the script refuses to start where it would remove something that is not
# its own (sesame already installed, a file the package ships already
# there, /var/lib/sesame or /var/log/sesame in use).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

die() { echo "test-deb.sh: error: $*" >&2; exit 1; }
step() { echo "==> $*"; }
fail() { echo "test-deb.sh: FAIL: $*" >&2; failed=1; }
failed=0

[ "$(id -u)" -eq 0 ] || die "run as root: it installs the package"
command -v dpkg >/dev/null || die "dpkg not found: this is for Debian"
arch=$(dpkg --print-architecture)
shopt -s nullglob
debs=(dist/sesame_*_"$arch".deb)
shopt -u nullglob
[ ${#debs[@]} -eq 1 ] || die "expected one dist/sesame_*_$arch.deb (make deb), found ${#debs[@]}"
deb=${debs[0]}

status() { dpkg-query -W -f='${db:Status-Status}' sesame 2>/dev/null || echo not-installed; }
[ "$(status)" = not-installed ] || die "the package sesame is on this machine ($(status)): this test would remove it"
for d in /var/lib/sesame /var/log/sesame; do
  [ ! -e "$d" ] || die "$d exists: purging the package would remove it"
done
while read -r path; do
  if [ -e "$path" ] && [ ! -d "$path" ]; then
    die "$path exists and is not from the package: purging would remove it"
  fi
done < <(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|')

made_state=
cleanup() {
  if [ "$(status)" != not-installed ]; then
    echo "==> cleaning up: dpkg --purge sesame"
    dpkg --purge sesame >/dev/null || echo "test-deb.sh: error: dpkg --purge sesame failed: remove it by hand" >&2
  fi
  if [ -n "$made_state" ]; then
    rm -rf /var/lib/sesame /var/log/sesame
  fi
}
trap cleanup EXIT

version=$(dpkg-deb -f "$deb" Version)
# Debian's 0.1.0~dev-1 is the programs' 0.1.0-dev.
upstream=${version%-*}
upstream=${upstream//\~/-}
step "install $deb ($version)"
dpkg -i "$deb"
[ "$(status)" = installed ] || die "dpkg -i left sesame $(status)"

step "the programs, from their installed paths"
for prog in /usr/sbin/sesamed /usr/bin/sesame; do
  out=$("$prog" --version) || fail "$prog --version failed"
  case $out in
  "$(basename "$prog") $upstream "*) echo "    $out" ;;
  *) fail "$prog --version says \"$out\", expected the package's version $upstream" ;;
  esac
done
if command -v file >/dev/null && file -L /usr/sbin/sesamed /usr/bin/sesame | grep -q 'dynamically linked'; then
  fail "the programs are not static"
fi
/usr/sbin/sesamed --check /usr/share/doc/sesame/examples/sesame.conf >/dev/null ||
  fail "sesamed --check rejects the example configuration"
[ ! -e /etc/sesame/sesame.conf ] || fail "the package installed /etc/sesame/sesame.conf, which sesamed would run"

step "man pages"
for page in man8/sesamed.8.gz man1/sesame.1.gz; do
  [ -f "/usr/share/man/$page" ] || fail "/usr/share/man/$page is missing"
done
if command -v man >/dev/null && dpkg-query -W -f='${db:Status-Status}' man-db 2>/dev/null | grep -qx installed; then
  for want in "8 sesamed:/usr/share/man/man8/sesamed.8.gz" "1 sesame:/usr/share/man/man1/sesame.1.gz"; do
    # shellcheck disable=SC2086 # "8 sesamed": a section and a page
    got=$(man -w ${want%%:*}) || fail "man -w ${want%%:*} finds nothing"
    [ "$got" = "${want#*:}" ] || fail "man -w ${want%%:*} finds $got, expected ${want#*:}"
  done
  warnings=$(man --warnings -l /usr/share/man/man8/sesamed.8.gz /usr/share/man/man1/sesame.1.gz 2>&1 >/dev/null) ||
    fail "man -l fails on the installed pages"
  [ -z "$warnings" ] || fail "man --warnings: $warnings"
else
  echo "    man-db is not installed: the files are checked, not man -w"
fi

step "systemd unit"
unit=/lib/systemd/system/sesamed.service
[ -f "$unit" ] || fail "$unit is missing"
for d in /etc/systemd/system/*.wants/sesamed.service; do
  if [ -e "$d" ]; then fail "the package enabled the unit ($d)"; fi
done
if [ -f packaging/systemd/verify.sh ]; then
  man_flag=()
  command -v man >/dev/null && man_flag=(--man)
  sh packaging/systemd/verify.sh "${man_flag[@]}" "$unit" || fail "packaging/systemd/verify.sh $unit"
fi

step "completions, fail2ban filter, documents"
for f in /usr/share/bash-completion/completions/sesamed /usr/share/bash-completion/completions/sesame \
  /usr/share/zsh/vendor-completions/_sesamed /usr/share/zsh/vendor-completions/_sesame \
  /usr/share/fish/vendor_completions.d/sesamed.fish /usr/share/fish/vendor_completions.d/sesame.fish \
  /usr/share/doc/sesame/copyright /usr/share/doc/sesame/README.md.gz /usr/share/doc/sesame/README.Debian \
  /usr/share/doc/sesame/examples/sesame.conf; do
  [ -f "$f" ] || fail "$f is missing"
done
if [ -f /usr/share/bash-completion/bash_completion ]; then
  # bash-completion loads the script on demand, by the command's name.
  loaded=$(bash --norc -c 'source /usr/share/bash-completion/bash_completion; _completion_loader sesamed; complete -p sesamed' 2>&1) ||
    fail "bash-completion does not load the completion of sesamed: $loaded"
fi
filter=/etc/fail2ban/filter.d/sesamed.conf
if [ -f packaging/fail2ban/filter.d/sesamed.conf ]; then
  dpkg-query -W -f='${Conffiles}\n' sesame | grep -q " $filter " || fail "$filter is not a conffile of the package"
fi

step "dpkg -r, then dpkg -P"
mapfile -t files < <(dpkg -L sesame | while read -r f; do [ -d "$f" ] || echo "$f"; done)
conffiles=$(dpkg-query -W -f='${Conffiles}\n' sesame | awk 'NF {print $1}')
echo "    the package installed ${#files[@]} files"
# What sesamed would have made, which purge removes.
made_state=1
mkdir -p /var/lib/sesame /var/log/sesame
touch /var/lib/sesame/replay /var/log/sesame/sesamed.log
dpkg -r sesame
for f in "${files[@]}"; do
  if grep -qxF "$f" <<<"$conffiles"; then
    [ -e "$f" ] || fail "dpkg -r removed the conffile $f (only purge should)"
  else
    [ ! -e "$f" ] || fail "dpkg -r left $f"
  fi
done
dpkg -P sesame
for f in "${files[@]}"; do
  [ ! -e "$f" ] || fail "dpkg -P left $f"
done
for d in /var/lib/sesame /var/log/sesame; do
  [ ! -e "$d" ] || fail "dpkg -P left $d"
done
if dpkg -s sesame >/dev/null 2>&1; then
  fail "dpkg -s sesame still knows the package: $(status)"
fi

[ "$failed" -eq 0 ] || die "the package failed the checks above"
echo "==> the package installs, works and leaves nothing behind"
