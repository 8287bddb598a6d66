#!/usr/bin/env bash
# Installs what the console and its browser tests need, only where missing (safe to run again):
# Debian chromium and a CJK font for headless tests and screenshots, and the npm libraries (Cytoscape.js).
set -euo pipefail
cd "$(dirname "$0")"

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
# grep reads all of fc-list's output: with -q it would stop early and pipefail would see SIGPIPE
fc-list 2>/dev/null | grep -i wqy >/dev/null || missing+=(fonts-wqy-zenhei)
if [ ${#missing[@]} -gt 0 ]; then
    echo "安装 / installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y "${missing[@]}"
fi

# Also when a library listed in package.json is missing (a checkout installed before it was added).
libs_missing=0
for lib in $(node -e 'console.log(Object.keys(require("./package.json").dependencies).join(" "))'); do
    [ -f "node_modules/$lib/package.json" ] || libs_missing=1
done
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ] || [ "$libs_missing" = 1 ]; then
    command -v npm >/dev/null || { echo "需要 npm / npm not found"; exit 1; }
    npm ci --no-audit --no-fund
    touch node_modules
fi
