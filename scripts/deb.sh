#!/usr/bin/env bash
# Builds the Debian package dist/sesame_<version>_<arch>.deb with nfpm
# (packaging/nfpm.yaml): static binaries, man pages, completions, the
# systemd unit, the fail2ban filter (when packaging/fail2ban has it), an
# example configuration and the documentation.
#
#   scripts/deb.sh                  # for this machine's architecture
#   GOARCH=arm64 scripts/deb.sh     # or amd64, arm64, arm (ARMv7, armhf)
#   VERSION=1.2.3 scripts/deb.sh    # default: the version the code says
#   UNIT=/path/sesamed.service ...  # default: packaging/systemd/sesamed.service
#   SOURCE_DATE_EPOCH=...           # the files' dates (for reproducible packages)
#
# The binaries print VERSION: it is given to the linker as main.version.
# Needs Go (go.mod's version) and the Go module proxy, for nfpm.
set -euo pipefail
cd "$(dirname "$0")/.."

# nfpm, pinned. v2.46.0 and later do not build from the module proxy here:
# they need go.digitalxero.dev modules, which the proxy refuses (403).
NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2

die() { echo "deb.sh: error: $*" >&2; exit 1; }
# deb_arch is Debian's name for the architecture.
deb_arch() { case $goarch in arm) echo armhf ;; *) echo "$goarch" ;; esac; }

command -v go >/dev/null || die "Go is not installed (go.mod says which version)"
goarch=${GOARCH:-$(go env GOHOSTARCH)}
# The target is given to the builds of the package's binaries alone: the
# tests and go run below are for this machine.
unset GOARCH GOOS GOARM
goarm=
case $goarch in
amd64 | arm64) nfpm_arch=$goarch ;;
arm) nfpm_arch=arm7 goarm=7 ;;
*) die "GOARCH=$goarch: expected amd64, arm64 or arm" ;;
esac

# The version: what the code says (cmd/sesame's version variable), unless
# VERSION overrides it. -buildvcs=false keeps the toolchain from stamping a
# VCS pseudo-version, which the programs would print instead.
if [ -z "${VERSION:-}" ]; then
  VERSION=$(go run -buildvcs=false ./cmd/sesame --version | awk '{print $2}')
fi
VERSION=${VERSION#v}
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
  die "version \"$VERSION\" is not MAJOR.MINOR.PATCH[-PRERELEASE]"

build=dist/build/deb-$goarch
rm -rf "$build"
mkdir -p "$build"

echo "==> build sesamed and sesame $VERSION for linux/$goarch"
for cmd in sesamed sesame; do
  CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X main.version=$VERSION" -o "$build/$cmd" "./cmd/$cmd"
done
if [ "$goarch" = "$(go env GOHOSTARCH)" ]; then
  for cmd in sesamed sesame; do
    got=$("$build/$cmd" --version | awk '{print $2}')
    [ "$got" = "$VERSION" ] || die "$cmd --version says $got, not $VERSION: cmd/$cmd must take its version from -ldflags \"-X main.version=...\" (a var version, as cmd/sesame has)"
  done
fi

echo "==> man pages and completions match --help"
go test -count=1 -run TestManPage ./cmd/sesamed ./cmd/sesame |
  sed 's/^/    /' || die "the man pages or completions are stale: make man rewrites them"
gzip -9nc docs/man/sesamed.8 >"$build/sesamed.8.gz"
gzip -9nc docs/man/sesame.1 >"$build/sesame.1.gz"
for doc in README.md docs/totp.md docs/cipher-knock.md; do
  gzip -9nc "$doc" >"$build/$(basename "$doc").gz"
done
unit=${UNIT:-packaging/systemd/sesamed.service}
[ -f "$unit" ] || die "$unit is missing (UNIT=FILE names another unit file)"

config=$build/nfpm.yaml
cp packaging/nfpm.yaml "$config"
if [ -f packaging/fail2ban/filter.d/sesamed.conf ]; then
  cat >>"$config" <<'EOF'
  - src: packaging/fail2ban/filter.d/sesamed.conf
    dst: /etc/fail2ban/filter.d/sesamed.conf
    type: config
    file_info: {mode: 0644}
EOF
fi

echo "==> nfpm ($NFPM)"
# nfpm reads the sources relative to the working directory: the root.
rm -f dist/sesame_*_"$(deb_arch)".deb
VERSION=$VERSION ARCH=$nfpm_arch BUILD=$build UNIT=$unit \
  MAINTAINER=${MAINTAINER:-"sesame maintainers <maintainers@sesame-knock.invalid>"} \
  go run "$NFPM" package --config "$config" --packager deb --target dist/ |
  sed 's/^/    /'
ls -l dist/sesame_*_"$(deb_arch)".deb
