#!/usr/bin/env bash
# Screenshot an HTML report with headless Chromium: scripts/screenshot.sh REPORT.html OUT.png [HEIGHT]
set -euo pipefail
html=$(realpath "$1"); out=$2; h=${3:-2400}
tmp=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --no-first-run --hide-scrollbars --user-data-dir="$tmp" --screenshot="$out" --window-size=1200,"$h" \
  "file://$html" >/dev/null 2>&1
rm -rf "$tmp"
echo "$out"
