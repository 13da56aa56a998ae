#!/usr/bin/env bash
# Starts the local eCard sandbox, seeds demo data, then the Celery worker and beat and the web
# server. Ctrl-C (or any one of them dying) stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DEBUG="${DEBUG:-1}"
export ECARD_SANDBOX_CONTROL_KEY="${ECARD_SANDBOX_CONTROL_KEY:-dev-sandbox-key}"
SANDBOX_PORT="${SANDBOX_PORT:-8443}"
WEB_ADDR="${WEB_ADDR:-127.0.0.1:8000}"
mkdir -p var/sandbox
# A second shell (`DEBUG=1 .venv/bin/python manage.py ecard_certify`) finds the local
# sandbox's control key here while this runs (config/settings.py reads it in DEBUG only).
CONTROL_KEY_FILE=var/sandbox/control-key
(umask 077 && printf '%s\n' "$ECARD_SANDBOX_CONTROL_KEY" >"$CONTROL_KEY_FILE")

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "Stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$CONTROL_KEY_FILE"
  echo "Stopped."
}
trap stop INT TERM EXIT

# Secrets through the environment (ECARD_SANDBOX_*), never on a command line.
ECARD_SANDBOX_CLIENT_SECRET="${ECARD_CLIENT_SECRET:-demo-secret}" \
  $PY -m ecard_sandbox --port "$SANDBOX_PORT" --state-dir var/sandbox \
  --client-id "${ECARD_CLIENT_ID:-demo-client}" &
pids+=($!)

# The demo cards are the sandbox's own data; the menu, kiosk and staff login are the app's.
$PY -m ecard_sandbox seed --url "https://127.0.0.1:$SANDBOX_PORT" --state-dir var/sandbox --wait 20
$PY manage.py seed_demo --web-addr "$WEB_ADDR"

$PY -m celery -A config worker --loglevel=INFO --concurrency=2 --hostname="worker@%h" &
pids+=($!)
$PY -m celery -A config beat --loglevel=INFO &
pids+=($!)
$PY manage.py runserver "$WEB_ADDR" --noreload &
pids+=($!)

echo "Web: http://$WEB_ADDR/  (staff: http://$WEB_ADDR/admin/, health: http://$WEB_ADDR/healthz)"
# Any process exiting ends the whole set.
wait -n
