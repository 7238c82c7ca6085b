#!/usr/bin/env bash
# Installs Debian's Chromium for the templates preview browser test
# (templates.TestPreviewInChromium), unless it is there already. Idempotent.
# Honours POSTIE_CHROMIUM: when it names an existing binary, nothing is installed.
set -euo pipefail

want=${POSTIE_CHROMIUM:-/usr/bin/chromium}
if [ -x "$want" ]; then
  echo "chromium: found $want ($("$want" --version 2>/dev/null | head -n1 || echo 'version unknown'))"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium: $want is missing and installing it needs root (apt-get install chromium)" >&2
  exit 1
fi

echo "chromium: installing Debian's chromium package"
export DEBIAN_FRONTEND=noninteractive
for try in 1 2 3; do
  if apt-get update -qq && apt-get install -y -qq chromium >/dev/null; then
    break
  fi
  if [ "$try" = 3 ]; then
    echo "chromium: apt-get failed three times" >&2
    exit 1
  fi
  echo "chromium: apt-get failed (try $try); retrying"
done

if [ ! -x /usr/bin/chromium ]; then
  echo "chromium: the package installed but /usr/bin/chromium is missing" >&2
  exit 1
fi
echo "chromium: installed $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
