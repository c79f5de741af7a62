#!/usr/bin/env bash
# The service against its own OpenAPI document, from outside: `biotag serve` with the default
# model on a free loopback port; openapi-spec-validator checks the document it serves, and
# schemathesis sends it generated requests (valid and invalid bodies) and checks that no answer
# is a server error and that every status, content type, header and body is the one the
# document declares. Then SIGTERM, and the server must exit 0.
# Usage: Tests/service/check_service.sh BIOTAG VENV
set -euo pipefail
biotag=$1 venv=$2
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$biotag" serve --host 127.0.0.1 --port "$port" --workers 1 --log-level warning >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$log"; echo "biotag serve exited before it was ready"; exit 1; }
  sleep 0.2
done
spec=$(mktemp --suffix=.json)
curl -sf "http://127.0.0.1:$port/openapi.json" >"$spec"
"$venv/bin/python" -m openapi_spec_validator "$spec"
rm -f "$spec"
# Left out: positive_data_acceptance (a record's text fields are named by the request, so the
# document cannot say that their values must be strings) and unsupported_method (other methods
# on a route answer 404, not 405).
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" --workers 1 --max-examples 30 --seed 20261205 \
  --checks all --exclude-checks positive_data_acceptance,unsupported_method \
  --request-timeout 30 --no-color
kill -TERM $server
status=0; wait $server || status=$?
[ $status -eq 0 ] || { cat "$log"; echo "biotag serve exited $status after SIGTERM"; exit 1; }
echo "service check: OpenAPI document valid, schemathesis passed, SIGTERM exit 0"
