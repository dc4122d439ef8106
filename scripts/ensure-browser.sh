#!/usr/bin/env bash
# Makes sure the status page's browser test has a browser: Debian's chromium and chromedriver,
# installed when missing (development and CI machines; CHROMEDRIVER / CHROMIUM name others).
set -euo pipefail

driver=${CHROMEDRIVER:-chromedriver}
browser=${CHROMIUM:-/usr/bin/chromium}
if command -v "$driver" >/dev/null && [ -x "$browser" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
  echo "ensure-browser: install chromium and chromedriver (Debian: apt-get install chromium chromium-driver), or set CHROMEDRIVER and CHROMIUM" >&2
  exit 1
fi
echo "ensure-browser: installing Debian's chromium and chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || {
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
}
