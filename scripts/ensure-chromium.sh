#!/usr/bin/env bash
# Make sure the browser the web-page tests drive is installed: Debian's chromium, which
# Playwright (the Python package, a dev dependency) launches through executable_path
# (tests/server/test_browser.py). Nothing is downloaded by Playwright itself.
#
# - /usr/bin/chromium (or a chromium on PATH) starts and prints its version: nothing is done.
# - Missing: the chromium package is installed with apt-get (as root, or with sudo).
set -euo pipefail

say() { echo "ensure-chromium: $*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

if command -v chromium >/dev/null 2>&1 && chromium --version >/dev/null 2>&1; then
  exit 0
fi

say "Chromium is not installed; installing Debian's chromium with apt-get"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
chromium --version >/dev/null
