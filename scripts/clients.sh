#!/usr/bin/env bash
# Cross-builds the client, sesame, for the systems people knock from, into
# dist/clients/sesame-<os>-<arch>[.exe], with a SHA256SUMS file. Static
# (CGO_ENABLED=0) and reproducible (-trimpath, no VCS stamp).
#
#   scripts/clients.sh                # "make clients"
#   VERSION=1.2.3 scripts/clients.sh  # default: the version the code says
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "clients.sh: error: $*" >&2; exit 1; }
command -v go >/dev/null || die "Go is not installed (go.mod says which version)"
unset GOARCH GOOS GOARM

# os/arch[/GOARM]; windows/arm64 is built when the toolchain can.
targets=(linux/amd64 linux/arm64 linux/arm/7 darwin/amd64 darwin/arm64 windows/amd64)
optional=(windows/arm64)

if [ -z "${VERSION:-}" ]; then
  VERSION=$(go run -buildvcs=false ./cmd/sesame --version | awk '{print $2}')
fi
VERSION=${VERSION#v}

out=dist/clients
rm -rf "$out"
mkdir -p "$out"

build() {
  local os arch arm name
  IFS=/ read -r os arch arm <<<"$1"
  name=sesame-$os-$arch
  [ "$os" = windows ] && name+=.exe
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOARM=$arm go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X main.version=$VERSION" -o "$out/$name" ./cmd/sesame
}

echo "==> sesame $VERSION"
for t in "${targets[@]}"; do
  echo "    $t"
  build "$t"
done
for t in "${optional[@]}"; do
  if build "$t" 2>/dev/null; then
    echo "    $t"
  else
    echo "    $t: does not build, skipped"
  fi
done

(cd "$out" && sha256sum sesame-* >SHA256SUMS)
if command -v file >/dev/null; then
  (cd "$out" && file sesame-*) | sed 's/^/    /'
fi
echo "==> $out/SHA256SUMS"
