#!/usr/bin/env bash
# Runs sesame's whole test suite: unit tests, fuzz smoke runs, the race
# detector on the concurrent packages, cross-builds of the client, and the
# root-only end-to-end tests in network namespaces (which fail instead of
# skipping when CI=true). Installs what the tests need on Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in nft:nftables iptables:iptables ipset:ipset ip:iproute2 knockd:knockd knock:knockd hping3:hping3 socat:socat tcpdump:tcpdump firewalld:firewalld dbus-daemon:dbus-daemon fail2ban-regex:fail2ban systemd-analyze:systemd groff:groff-base man:man-db fish:fish zsh:zsh; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -e /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # firewalld and fail2ban are only for their tests (a private firewalld
    # in a namespace, fail2ban-regex): keep the packages from starting
    # their services on this machine.
    created_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
    fi
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    [ -z "$created_policy" ] || rm -f /usr/sbin/policy-rc.d
  else
    echo "==> missing ${need[*]}: root-only tests will skip (install them as root to run everything)"
  fi
fi
command -v go >/dev/null || { echo "test.sh: error: Go is not installed (go.mod says which version)"; exit 1; }

echo "==> go vet"
go vet ./...
for target in windows/amd64 darwin/arm64 linux/arm64 linux/arm; do
  echo "==> vet the client for $target"
  GOOS=${target%/*} GOARCH=${target#*/} go vet ./cmd/sesame ./internal/client
done
echo "==> cross-build the clients (make clients)"
./scripts/clients.sh

echo "==> go test"
# As shipped: no cgo (sesamed drops capabilities on all threads, which a
# binary linked with cgo cannot do).
export CGO_ENABLED=0
go test -count=1 -timeout 15m ./...
export CGO_ENABLED=1 # the race detector needs cgo

echo "==> race detector on the concurrent packages"
go test -count=1 -race ./internal/knock ./internal/daemon ./internal/door ./internal/firewall/... ./internal/replay ./internal/cipherknock ./internal/control ./internal/metrics

echo "==> the Prometheus build (-tags prometheus)"
go vet -tags prometheus ./internal/metrics ./internal/daemon ./cmd/sesamed
go test -count=1 -race -tags prometheus ./internal/metrics

echo "==> the benchmark lab against knockd, short counts (make bench runs it in full)"
if [ "$(id -u)" -eq 0 ]; then
  SESAME_LAB=short go test -count=1 -run '^$' -bench Lab -benchtime 1x -timeout 15m ./lab
elif [ "${CI:-}" = true ]; then
  echo "test.sh: error: CI=true, and the lab needs root"; exit 1
else
  echo "==> skipped: the lab needs root"
fi

echo "==> the Debian package (make deb), installed, checked and purged"
if [ "$(id -u)" -eq 0 ] && command -v dpkg >/dev/null; then
  ./scripts/deb.sh
  ./scripts/test-deb.sh
elif [ "${CI:-}" = true ]; then
  echo "test.sh: error: CI=true, and the package test needs root and dpkg"; exit 1
else
  echo "==> skipped: installing the package needs root and dpkg"
fi

echo "==> fuzz smoke runs"
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" at the -fuzztime boundary, having found nothing (a race fixed in
# Go 1.27, go.dev/issue/75804). Such a run, and only such a run (no failing
# input written), is run once more; a second failure fails the suite.
fuzz() {
  local out rc
  out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-10s}" "$1" 2>&1) && rc=0 || rc=$?
  echo "$out"
  if [ $rc -ne 0 ] && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
    echo "--- $1 $2: the fuzz coordinator's deadline race (go.dev/issue/75804), no crasher: once more"
    go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-10s}" "$1"
    return
  fi
  return $rc
}
# Every package with a fuzz target, so a new parser's fuzzer is never left out.
for pkg in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
  for f in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "--- $pkg $f"
    fuzz "$pkg" "$f"
  done
done
echo "==> all tests passed"
