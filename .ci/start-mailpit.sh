#!/usr/bin/env bash
# Installs Mailpit and starts it on loopback with STARTTLS and SMTP AUTH required, for the
# interop tests in smtp/mailpit_test.go.
#
#   bash .ci/start-mailpit.sh [ENVFILE]
#
# With ENVFILE, the `export POSTIE_MAILPIT_*=...` lines the tests read are written to it
# (mode 600: it holds the throwaway SMTP password) and Mailpit's files go beside it:
# mailpit.pid (kill that pid to stop it), mailpit.log, mailpit-cert.pem, mailpit.db.
# Without ENVFILE the files go to a new temporary directory and the export lines are
# printed, for `eval "$(bash .ci/start-mailpit.sh)"`.
#
# Ports: POSTIE_MAILPIT_SMTP_PORT (default 1025) and POSTIE_MAILPIT_HTTP_PORT (default 8025),
# always on 127.0.0.1.
set -euo pipefail

version=v1.33.1
smtp_addr=127.0.0.1:${POSTIE_MAILPIT_SMTP_PORT:-1025}
http_addr=127.0.0.1:${POSTIE_MAILPIT_HTTP_PORT:-8025}

envfile=${1:-}
if [ -n "$envfile" ]; then
  mkdir -p "$(dirname "$envfile")"
  dir=$(cd "$(dirname "$envfile")" && pwd)
else
  dir=$(mktemp -d)
fi
log() { echo "start-mailpit: $*" >&2; }

# 1. Install the pinned version unless it is already there.
bindir=$(go env GOBIN)
[ -n "$bindir" ] || bindir="$(go env GOPATH)/bin"
mailpit="$bindir/mailpit"
if ! go version -m "$mailpit" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/axllent/mailpit[[:space:]]+$version([[:space:]]|$)"; then
  log "installing github.com/axllent/mailpit@$version into $bindir"
  GOFLAGS= go install "github.com/axllent/mailpit@$version"
fi

# 2. A self-signed certificate for 127.0.0.1 and localhost, and a password file.
if ! command -v openssl >/dev/null; then
  log "openssl not found; installing it"
  apt-get update -qq && apt-get install -y -qq openssl >/dev/null
fi
cert="$dir/mailpit-cert.pem"
key="$dir/mailpit-key.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$key" -out "$cert" -days 2 -subj "/CN=localhost/O=Postie CI Mailpit" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" 2>/dev/null
user=postie
pass=$(openssl rand -hex 16)
umask 077
printf '%s:%s\n' "$user" "$pass" >"$dir/mailpit-auth"

# 3. Start it: SMTP with STARTTLS and AUTH required, HTTP API, both on loopback; no
# version check or reverse DNS (nothing leaves the machine).
for addr in "$smtp_addr" "$http_addr"; do
  if (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then
    log "$addr is already in use (an older Mailpit?); stop it or set POSTIE_MAILPIT_SMTP_PORT / POSTIE_MAILPIT_HTTP_PORT"
    exit 1
  fi
done
rm -f "$dir/mailpit.db"
"$mailpit" \
  --smtp "$smtp_addr" --listen "$http_addr" \
  --smtp-tls-cert "$cert" --smtp-tls-key "$key" --smtp-require-starttls \
  --smtp-auth-file "$dir/mailpit-auth" \
  --database "$dir/mailpit.db" \
  --disable-version-check --smtp-disable-rdns \
  </dev/null >"$dir/mailpit.log" 2>&1 &
pid=$!
echo "$pid" >"$dir/mailpit.pid"

# 4. Wait until both the API and the SMTP port answer, at most 30 s.
ready=
for _ in $(seq 1 60); do
  if ! kill -0 "$pid" 2>/dev/null; then
    log "mailpit exited; its log:"
    cat "$dir/mailpit.log" >&2
    exit 1
  fi
  if "$mailpit" readyz --listen "$http_addr" >/dev/null 2>&1 &&
    (exec 3<>"/dev/tcp/${smtp_addr%:*}/${smtp_addr##*:}") 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  log "mailpit did not become ready in 30 s; its log:"
  cat "$dir/mailpit.log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
fi
log "mailpit $version (pid $pid) ready: SMTP $smtp_addr (STARTTLS + AUTH), API http://$http_addr"

exports="export POSTIE_MAILPIT_SMTP=$smtp_addr
export POSTIE_MAILPIT_API=http://$http_addr
export POSTIE_MAILPIT_USER=$user
export POSTIE_MAILPIT_PASS=$pass
export POSTIE_MAILPIT_CA=$cert"
if [ -n "$envfile" ]; then
  printf '%s\n' "$exports" >"$envfile"
  log "wrote the POSTIE_MAILPIT_* variables to $envfile"
else
  printf '%s\n' "$exports"
fi
