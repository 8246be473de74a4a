#!/usr/bin/env bash
# test-setup step: a real kube-apiserver v1.20.2 + etcd for tests/kube_*.rs.
# Builds once (about 8-12 min cold) and caches outside the repository; see k8s-apiserver.sh.
set -euo pipefail
bash "$(dirname "$0")/k8s-apiserver.sh" >/dev/null
