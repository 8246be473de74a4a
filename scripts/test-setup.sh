#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine of this kind
# (Debian bookworm, root, package registries only). Idempotent: each step
# checks first and reuses caches outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
for step in scripts/setup-*.sh; do
  [ -e "$step" ] || continue
  echo "== $step"
  bash "$step"
done
