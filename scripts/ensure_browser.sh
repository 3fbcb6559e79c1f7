#!/usr/bin/env bash
# Makes sure the browser test (tests/test_app_browser.py) has a Chromium; `make test` calls it first.
#
#   bash scripts/ensure_browser.sh [PYTHON]     (PYTHON: the venv's python, default .venv/bin/python)
#
# Nothing to do when $LOCALMARL_CHROMIUM, Debian's /usr/bin/chromium or Playwright's own Chromium
# exists. Otherwise: as root with apt-get, installs Debian's chromium (~1 min); else tries
# `python -m playwright install chromium` (needs the network to reach Playwright's download site);
# else prints the one command that fixes it and exits with 1.
set -uo pipefail
PY="${1:-.venv/bin/python}"
say() { echo "ensure_browser: $*" >&2; }

if [ -n "${LOCALMARL_CHROMIUM:-}" ]; then
  [ -x "$LOCALMARL_CHROMIUM" ] && exit 0
  say "LOCALMARL_CHROMIUM=$LOCALMARL_CHROMIUM is not an executable file; point it at a Chromium, or unset it"
  exit 1
fi
[ -x /usr/bin/chromium ] && exit 0

playwright_chromium() {  # Playwright's own Chromium, if it is installed
  "$PY" - <<'EOF' 2>/dev/null
import os, sys
from playwright.sync_api import sync_playwright
with sync_playwright() as pw:
    sys.exit(0 if os.path.isfile(pw.chromium.executable_path) else 1)
EOF
}
playwright_chromium && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing Debian's chromium for the browser test (apt-get, about a minute)"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq chromium >/dev/null && [ -x /usr/bin/chromium ]; then
    exit 0
  fi
  say "apt-get could not install chromium"
fi

if "$PY" -c "import playwright" 2>/dev/null; then
  say "trying Playwright's own Chromium ($PY -m playwright install chromium)"
  if timeout 900 "$PY" -m playwright install chromium >/dev/null 2>&1 && playwright_chromium; then
    exit 0
  fi
fi

if command -v apt-get >/dev/null 2>&1; then
  fix="sudo apt-get update && sudo apt-get install -y chromium"
else
  fix="$PY -m playwright install chromium"
fi
say "no Chromium for the browser test; fix it with: $fix  (or set LOCALMARL_CHROMIUM to a Chromium's path)"
exit 1
