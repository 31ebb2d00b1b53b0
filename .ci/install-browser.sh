#!/usr/bin/env bash
# Debian's chromium for the dashboard's browser test (tests/test_dashboard.py), installed
# only when it is missing. Never `playwright install`: that downloads a browser of its
# own, which fails offline; the test points Playwright at this chromium instead.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(command -v chromium)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: chromium is missing and there is no apt-get to install it; install Debian's" \
       "'chromium' package (or put a chromium on the PATH) and run again" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
echo "chromium installed: $(command -v chromium)"
