#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright's own browser download
# fails here). Installs it once, as root or with passwordless sudo; a machine
# that can do neither says so and stops, unless KISA_SKIP_BROWSER=1 (then the
# browser tests skip, saying why).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -n "${KISA_CHROMIUM:-}" ]; then exit 0; fi
if [ "${KISA_SKIP_BROWSER:-0}" = 1 ]; then
  echo "chromium missing; KISA_SKIP_BROWSER=1: the browser tests will skip" >&2; exit 0
fi
if [ "$(id -u)" = 0 ]; then sudo=""
elif sudo -n true 2>/dev/null; then sudo="sudo -n"
else
  echo "chromium is missing and cannot be installed here (no root, no sudo):" >&2
  echo "  apt-get install chromium, or set KISA_CHROMIUM=/path/to/chromium, or KISA_SKIP_BROWSER=1" >&2
  exit 1
fi
echo "installing chromium (apt-get) for the browser tests ..." >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  chromium fonts-liberation >/dev/null
