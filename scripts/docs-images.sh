#!/usr/bin/env bash
# Render the bundled example's figures to the PNGs in docs/img (shown by the
# README): the simulation report's figures with rsvg-convert, the top of
# report.html with headless Chromium, and `planscale forecast --out` for a
# Monday morning. Needs scripts/setup-chromium.sh. Usage: make docs-images
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${PLANSCALE:-target/release/planscale}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin" simulate --out "$out" >/dev/null
"$bin" forecast --at 2026-04-20T06:00:00Z --out "$out/forecast.svg" >/dev/null
mkdir -p docs/img
for f in chart:busiest-day typical-week replica-hours daily decisions forecast; do
    rsvg-convert -o "docs/img/${f#*:}.png" "$out/${f%%:*}.svg"
done
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --screenshot="$PWD/docs/img/report-html.png" --window-size=1400,1500 \
    "file://$out/report.html" 2>/dev/null
ls -l docs/img
