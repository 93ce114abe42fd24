#!/usr/bin/env bash
# Smoke test of webhooks on a running FulFil: starts a local receiver (scripts/receiver.py),
# creates a webhook pointing at it, sends a test, checks that creating, updating and deleting a
# product each deliver a signed event to the receiver, reads the delivery log, deletes the
# webhook. Stops at the first failed check and says what was expected and what came back.
#
#   FULFIL_TOKEN=<key> [FULFIL_URL=http://127.0.0.1:8000] scripts/test_webhooks.sh
#
# The deployment must be allowed to call the receiver: WEBHOOK_ALLOW_PRIVATE_NETWORKS=true, and
# a Celery worker consuming the `webhooks` queue. The receiver listens on RECEIVER_BIND
# (127.0.0.1); the webhook calls RECEIVER_HOST (default: the same), which for a deployment in
# containers is this machine's address as the containers see it (RECEIVER_BIND=0.0.0.0 then).
# EVENT_TIMEOUT (30 s) bounds each wait for a delivery.
set -euo pipefail
# shellcheck source=scripts/smoke_lib.sh
source "$(dirname "$0")/smoke_lib.sh"

RECEIVER_BIND="${RECEIVER_BIND:-127.0.0.1}"
if [[ $RECEIVER_BIND == 0.0.0.0 ]]; then
  RECEIVER_HOST="${RECEIVER_HOST:-127.0.0.1}"
else
  RECEIVER_HOST="${RECEIVER_HOST:-$RECEIVER_BIND}"
fi
EVENT_TIMEOUT="${EVENT_TIMEOUT:-30}"
PYTHON="${PYTHON:-python3}"
RUN="smoke-$(date +%s)-$$"
SKU="${RUN^^}-HOOK"
SECRET="smoke-secret-$RUN"
RECEIVED="$SMOKE_TMP/received.jsonl"

# --- the receiver
"$PYTHON" "$(dirname "$0")/receiver.py" --host "$RECEIVER_BIND" --out "$RECEIVED" --port-file "$SMOKE_TMP/port" &
RECEIVER_PID=$!
on_exit "kill $RECEIVER_PID"
for _ in $(seq 1 100); do
  [[ -s "$SMOKE_TMP/port" ]] && break
  kill -0 "$RECEIVER_PID" 2>/dev/null || fail "the receiver did not start" "$PYTHON $(dirname "$0")/receiver.py exited"
  sleep 0.1
done
[[ -s "$SMOKE_TMP/port" ]] || fail "the receiver did not start listening within 10 s"
HOOK_URL="http://$RECEIVER_HOST:$(cat "$SMOKE_TMP/port")/smoke/$RUN"
echo "Webhooks smoke test against $API, receiver at $HOOK_URL"

# received_events: the events that reached the receiver so far, one line each.
received_events() {
  jq -r '(.body | fromjson? | .event) // "(not JSON)"' "$RECEIVED" | paste -sd ' ' -
}

# wait_for_event EVENT JQ_CONDITION WHAT: until the receiver holds a POST of EVENT whose payload
# matches JQ_CONDITION (applied to the payload); prints that payload.
wait_for_event() {
  local event=$1 condition=$2 what=$3 found deadline=$((SECONDS + EVENT_TIMEOUT))
  while ((SECONDS <= deadline)); do
    found="$(jq -c --arg event "$event" "select(.method == \"POST\")
      | select((.headers | with_entries(.key |= ascii_downcase))[\"x-webhook-event\"] == \$event)
      | .body | fromjson? | select(.event == \$event) | select($condition)" "$RECEIVED" | head -n1)"
    if [[ -n $found ]]; then
      printf '%s\n' "$found"
      return 0
    fi
    sleep 0.2
  done
  fail "$what: expected a $event delivery with $condition at the receiver within ${EVENT_TIMEOUT}s" \
    "it received: $(received_events)" \
    "is a Celery worker consuming the webhooks queue running? (celery -A fulfil worker -Q webhooks,default)"
}

# signature_ok EVENT: the X-Webhook-Signature of EVENT's delivery is the HMAC-SHA256 of its body.
signature_ok() {
  "$PYTHON" - "$RECEIVED" "$1" "$SECRET" <<'PY'
import hashlib, hmac, json, sys

path, event, secret = sys.argv[1:]
for line in open(path, encoding="utf-8"):
    record = json.loads(line)
    headers = {k.lower(): v for k, v in record["headers"].items()}
    if headers.get("x-webhook-event") == event:
        body = record["body"].encode("utf-8")
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        sys.exit(0 if hmac.compare_digest(expected, headers.get("x-webhook-signature", "")) else 1)
sys.exit(1)
PY
}

# --- create the webhook
call POST /webhooks "$(jq -nc --arg url "$HOOK_URL" --arg secret "$SECRET" --arg run "$RUN" \
  '{url: $url, secret: $secret, description: ("test_webhooks.sh " + $run),
    events: ["product.created", "product.updated", "product.deleted"]}')"
if [[ $STATUS == 400 && "$(jq -r 'has("url")' <<<"$BODY" 2>/dev/null)" == true ]]; then
  fail "POST /webhooks: the server refuses the receiver's URL $HOOK_URL" "$(_excerpt)" \
    "a receiver on this machine needs WEBHOOK_ALLOW_PRIVATE_NETWORKS=true on the server (web and workers)"
fi
expect_status 201 "POST /webhooks"
expect_json '[.url, .is_active, .has_secret] | @tsv' "$HOOK_URL"$'\ttrue\ttrue' "POST /webhooks"
HOOK_ID="$(json .id)"
on_exit "curl -sS -o /dev/null -X DELETE -H 'Authorization: Token $FULFIL_TOKEN' '$API/webhooks/$HOOK_ID'"
ok "created webhook $HOOK_ID"

call GET "/webhooks/$HOOK_ID"
expect_status 200 "GET /webhooks/$HOOK_ID"
expect_json '.events | join(",")' "product.created,product.updated,product.deleted" "GET /webhooks/$HOOK_ID"
ok "read it back"

# --- send a test
call POST "/webhooks/$HOOK_ID/test" '{}'
expect_status 200 "POST /webhooks/$HOOK_ID/test"
expect_json '[.success, .status_code, (.response_time_ms | type)] | @tsv' $'true\t200\tnumber' \
  "POST /webhooks/$HOOK_ID/test"
wait_for_event webhook.test true "the test delivery" >/dev/null
ok "test delivery: HTTP $(json .status_code) in $(json .response_time_ms) ms, and the receiver got it"

# --- product events
call POST /products "$(jq -nc --arg sku "$SKU" '{sku: $sku, name: "Hooked product"}')"
expect_status 201 "POST /products"
PRODUCT_ID="$(json .id)"
on_exit "curl -sS -o /dev/null -X DELETE -H 'Authorization: Token $FULFIL_TOKEN' '$API/products/$PRODUCT_ID'"
wait_for_event product.created "(.data.id == \"$PRODUCT_ID\" and .data.sku == \"$SKU\")" "creating $SKU" >/dev/null
signature_ok product.created || fail "product.created: X-Webhook-Signature is not the HMAC-SHA256 of the body" \
  "with the webhook's secret"
ok "product.created arrived, signed with the webhook's secret"

call PATCH "/products/$PRODUCT_ID" '{"name": "Hooked product, renamed"}'
expect_status 200 "PATCH /products/$PRODUCT_ID"
wait_for_event product.updated "(.data.id == \"$PRODUCT_ID\" and .data.name == \"Hooked product, renamed\")" \
  "renaming $SKU" >/dev/null
ok "product.updated arrived with the new name"

call DELETE "/products/$PRODUCT_ID"
expect_status 204 "DELETE /products/$PRODUCT_ID"
wait_for_event product.deleted "(.data.id == \"$PRODUCT_ID\" and .data.sku == \"$SKU\")" "deleting $SKU" >/dev/null
ok "product.deleted arrived"

# --- the delivery log (the worker writes each entry right after its delivery)
deadline=$((SECONDS + EVENT_TIMEOUT))
while :; do
  call GET "/webhooks/$HOOK_ID/logs"
  expect_status 200 "GET /webhooks/$HOOK_ID/logs"
  [[ "$(json .count)" -ge 4 ]] && break
  ((SECONDS <= deadline)) || fail "GET /webhooks/$HOOK_ID/logs: expected 4 entries (test, created, updated, deleted)" \
    "got $(json .count): $(json '[.results[].event] | join(" ")')"
  sleep 0.5
done
expect_json '[.results[] | "\(.event):\(.success):\(.status_code)"] | sort | join(" ")' \
  "product.created:true:200 product.deleted:true:200 product.updated:true:200 webhook.test:true:200" \
  "GET /webhooks/$HOOK_ID/logs"
call GET "/webhooks/$HOOK_ID/logs?event=product.updated&success=true"
expect_json '[.count, .results[0].trigger] | @tsv' $'1\tevent' "GET /webhooks/$HOOK_ID/logs?event=product.updated"
ok "the log has every attempt, each a success with HTTP 200; filters work"

# --- delete the webhook
call DELETE "/webhooks/$HOOK_ID"
expect_status 204 "DELETE /webhooks/$HOOK_ID"
call GET "/webhooks/$HOOK_ID"
expect_status 404 "GET /webhooks/$HOOK_ID after deleting it"
ok "deleted the webhook; reading it now gives 404"

echo "PASS: webhooks smoke test ($FULFIL_URL)"
