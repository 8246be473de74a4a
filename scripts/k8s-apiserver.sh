#!/usr/bin/env bash
# Build (once) and cache a real kube-apiserver + kube-controller-manager v1.20.2 for the
# integration tests, and install etcd-server.
#
# There is no container runtime and no internet beyond package registries on the
# project's machines, so kind/envtest are unavailable. Debian's `kubernetes` source
# package (1.20.5+really1.20.2) carries its whole vendor/ tree and builds offline with
# Debian's Go 1.19 (see docs/ARCHITECTURE.md, "Controller", and the project's shared notes).
#
# The binaries are cached outside the repository, in
#   ${PLANSCALE_K8S_CACHE:-$HOME/.cache/planscale/k8s-1.20.2}
# and reused when present. The last line printed on stdout is that directory.
# Cold: about 8 minutes on 2 cores, 1.3 GB peak memory. Warm: a second or two.
set -euo pipefail

CACHE="${PLANSCALE_K8S_CACHE:-$HOME/.cache/planscale/k8s-1.20.2}"
BINS=(kube-apiserver kube-controller-manager)
log() { echo "k8s-apiserver.sh: $*" >&2; }

apt_install() {
  # Install only what is missing; `apt-get update` once if the first try fails.
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; then
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
  fi
}

# etcd is always needed by the tests; the Debian package does not start a service here.
apt_install etcd-server

have_all=1
for b in "${BINS[@]}"; do [ -x "$CACHE/$b" ] || have_all=0; done
if [ "$have_all" = 1 ]; then
  log "using cached binaries in $CACHE"
  echo "$CACHE"
  exit 0
fi

apt_install golang-1.19-go rsync ca-certificates

WORK="$(mktemp -d "${TMPDIR:-/tmp}/planscale-k8s-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
log "building kube-apiserver v1.20.2 from Debian's source package in $WORK (about 8 min cold)"

# A private apt state so the machine's own sources stay untouched: the same Debian
# entries as the system's, as deb-src.
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/src"
cat >"$WORK/apt/deb-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
APT_OPTS=(-o "Dir::Etc::SourceList=$WORK/apt/deb-src.sources" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache")
apt-get "${APT_OPTS[@]}" update -q >&2
(cd "$WORK/src" && apt-get "${APT_OPTS[@]}" source --download-only kubernetes >&2)

ORIG="$(ls "$WORK"/src/kubernetes_*.orig.tar.gz | head -n1)"
[ -f "$ORIG" ] || { log "expected kubernetes_*.orig.tar.gz in $WORK/src, found: $(ls "$WORK/src")"; exit 1; }
mkdir -p "$WORK/k8s"
tar -xzf "$ORIG" -C "$WORK/k8s" --strip-components=1
(
  cd "$WORK/k8s"
  PATH=/usr/lib/go-1.19/bin:$PATH GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0 \
    GOCACHE="$WORK/gocache" GOPATH="$WORK/gopath" \
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >&2
)
mkdir -p "$CACHE"
for b in "${BINS[@]}"; do
  src="$(find "$WORK/k8s/_output" -type f -name "$b" -perm -u+x | head -n1)"
  [ -n "$src" ] || { log "build finished without $b under _output/"; exit 1; }
  install -m 0755 "$src" "$CACHE/$b.tmp" && mv "$CACHE/$b.tmp" "$CACHE/$b"
done
"$CACHE/kube-apiserver" --version >&2
log "cached in $CACHE"
echo "$CACHE"
