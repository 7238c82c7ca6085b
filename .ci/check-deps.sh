#!/usr/bin/env bash
# Enforces the dependency direction of DESIGN.md on non-test code: transport imports only the
# standard library (its own subpackages aside), smtp/mime is a leaf over transport, and only
# mailer/jwemail imports jordan-wright/email.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=github.com/postiemail/postie
fail=0
deps() { go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' "$1" | grep -v "^$1\$" || true; }

for p in $mod/transport $mod/smtp/mime; do
  bad=$(deps "$p" | grep -v "^$mod/transport\$" || true)
  if [ -n "$bad" ]; then echo "$p must import only the standard library and transport, but imports: $bad"; fail=1; fi
done
for p in $(go list ./... | grep -v "^$mod/mailer/jwemail\$"); do
  if go list -f '{{join .Imports "\n"}}' "$p" | grep -q '^github.com/jordan-wright/email$'; then
    echo "$p imports github.com/jordan-wright/email; only mailer/jwemail may"; fail=1
  fi
done
for p in $(go list ./... | grep -E "^$mod/(mailer|transport|smtp|middleware|templates)(/|\$)"); do
  if go list -f '{{join .Imports "\n"}}' "$p" | grep -qx "$mod"; then
    echo "$p imports the root package; nothing may"; fail=1
  fi
done
exit $fail
