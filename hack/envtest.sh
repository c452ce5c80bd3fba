#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kubectl) from the Go module proxy, because no release download site is
# reachable here. The binaries are cached outside the clone, keyed by version,
# so every later clone (CI's included) reuses them. Prints the directory to use
# as KUBEBUILDER_ASSETS on stdout; progress goes to stderr.
set -euo pipefail

KUBE_VERSION=1.37.2
ETCD_VERSION=3.6.16
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${TENANT_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tenant-operator}
dir="$cache_root/envtest/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION"

need=()
[ -x "$dir/etcd" ] || need+=(etcd)
for b in kube-apiserver kube-controller-manager kubectl; do
	[ -x "$dir/$b" ] || need+=("$b")
done
if [ ${#need[@]} -eq 0 ]; then
	echo "$dir"
	exit 0
fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS=-mod=mod
start=$(date +%s)
for b in "${need[@]}"; do
	echo "envtest: building $b (first time only; kube-apiserver takes about 5 minutes on 2 cores)" >&2
	case $b in
	etcd) (cd "$here/envtest/etcd" && go build -trimpath -o "$tmp/etcd" go.etcd.io/etcd/server/v3) ;;
	*) (cd "$here/envtest/kubernetes" && go build -trimpath -ldflags "-X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" -o "$tmp/$b" "k8s.io/kubernetes/cmd/$b") ;;
	esac
	# Rename into place only when the build succeeded, so a killed build never
	# leaves a half-written binary that later runs would trust.
	mv "$tmp/$b" "$dir/$b"
done
echo "envtest: built ${need[*]} in $(($(date +%s) - start))s into $dir" >&2
echo "$dir"
