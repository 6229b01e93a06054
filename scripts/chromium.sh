#!/usr/bin/env bash
# Debian's chromium for the admin console's browser test
# (examples/console, TestBrowser with chromedp).
#
#   eval "$(bash scripts/chromium.sh)"
#
# installs the chromium package with apt-get when no chromium is on PATH
# (that needs root; quiet, and a no-op when it is installed), and prints
#
#   export DIRSYNC_CHROMIUM=/usr/bin/chromium
#
# The test reads DIRSYNC_CHROMIUM; under CI=true it fails when chromium is
# missing rather than skipping.
set -euo pipefail

log() { printf 'chromium.sh: %s\n' "$*" >&2; }

find_chromium() {
  command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null
}

if ! exe=$(find_chromium); then
  log "chromium missing: installing the chromium package"
  if [ "$(id -u)" != 0 ]; then log "not root: install chromium yourself"; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  aptlog=$(mktemp)
  { apt-get update -qq && apt-get install -y -qq chromium; } >"$aptlog" 2>&1 ||
    { log "apt-get failed:"; tail -30 "$aptlog" >&2; rm -f "$aptlog"; exit 1; }
  rm -f "$aptlog"
  exe=$(find_chromium) || { log "chromium still missing after install"; exit 1; }
fi
printf 'export DIRSYNC_CHROMIUM=%q\n' "$exe"
