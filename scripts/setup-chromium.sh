#!/usr/bin/env bash
# Install what the report rendering test needs (tests/report_render.rs):
# Debian's `chromium` (headless rendering of report.html) and `librsvg2-bin`
# (`rsvg-convert`, renders the SVG figures to PNG for docs/img).
# Does nothing when they are already there. Needs root for apt-get.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v rsvg-convert >/dev/null 2>&1 || missing+=(librsvg2-bin)
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-chromium: $(chromium --version 2>/dev/null | head -n1); $(rsvg-convert --version | head -n1)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-chromium: ${missing[*]} missing; run as root (apt-get install)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: the browser and the converter, not their suggested extras.
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup-chromium: $(chromium --version 2>/dev/null | head -n1); $(rsvg-convert --version | head -n1)"
