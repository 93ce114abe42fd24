#!/usr/bin/env bash
# Smoke test of the products API on a running FulFil: create, read, update, a duplicate SKU
# refused, list and filters, delete and 404 afterwards. Stops at the first failed check and
# says what was expected and what came back. Its products have SKUs unique to the run and are
# deleted at the end, so it is safe against a catalogue that holds real data.
#
#   FULFIL_TOKEN=<key> [FULFIL_URL=http://127.0.0.1:8000] scripts/test_crud.sh
set -euo pipefail
# shellcheck source=scripts/smoke_lib.sh
source "$(dirname "$0")/smoke_lib.sh"

RUN="smoke-$(date +%s)-$$"
SKU_A="${RUN^^}-A"
SKU_B="${RUN^^}-B"
echo "Products API smoke test against $API (SKUs $SKU_A, $SKU_B)"

call_anonymous GET /hello
expect_status 200 "GET /hello (health)"
expect_json .status ok "GET /hello (database and broker)"
ok "health: database $(json .database), broker $(json .broker)"

call_anonymous GET /products
expect_status 401 "GET /products without a token"
ok "the API refuses a caller without a token (401)"

# --- create and read
call POST /products "$(jq -nc --arg sku "$SKU_A" --arg run "$RUN" \
  '{sku: $sku, name: "Smoke product A", description: ("Made by test_crud.sh " + $run), active: true}')"
expect_status 201 "POST /products"
expect_json .sku "$SKU_A" "POST /products"
expect_json .active true "POST /products"
ID_A="$(json .id)"
on_exit "curl -sS -o /dev/null -X DELETE -H 'Authorization: Token $FULFIL_TOKEN' '$API/products/$ID_A'"
ok "created $SKU_A ($ID_A)"

call GET "/products/$ID_A"
expect_status 200 "GET /products/$ID_A"
expect_json .name "Smoke product A" "GET /products/$ID_A"
expect_json .sku "$SKU_A" "GET /products/$ID_A"
ok "read it back"

# --- update
call PATCH "/products/$ID_A" '{"name": "Smoke product A, renamed", "active": false}'
expect_status 200 "PATCH /products/$ID_A"
expect_json .name "Smoke product A, renamed" "PATCH /products/$ID_A"
expect_json .active false "PATCH /products/$ID_A"
call GET "/products/$ID_A"
expect_json '[.name, .active] | @tsv' $'Smoke product A, renamed\tfalse' "GET after PATCH"
ok "PATCH changed name and active"

call PUT "/products/$ID_A" "$(jq -nc --arg sku "$SKU_A" --arg run "$RUN" \
  '{sku: $sku, name: "Smoke product A, replaced", description: ("Made by test_crud.sh " + $run), active: false}')"
expect_status 200 "PUT /products/$ID_A"
expect_json .name "Smoke product A, replaced" "PUT /products/$ID_A"
ok "PUT replaced it"

# --- a duplicate SKU, in another case, is refused
call POST /products "$(jq -nc --arg sku "${SKU_A,,}" '{sku: $sku, name: "A duplicate"}')"
expect_status 409 "POST /products with ${SKU_A,,} (the same SKU ignoring case)"
expect_json .code duplicate_sku "the 409 answer"
expect_json .existing_id "$ID_A" "the 409 answer"
ok "a duplicate SKU in another case is refused with 409"

call POST /products "$(jq -nc --arg sku "$SKU_B" --arg run "$RUN" \
  '{sku: $sku, name: "Smoke product B", description: ("Made by test_crud.sh " + $run)}')"
expect_status 201 "POST /products ($SKU_B)"
ID_B="$(json .id)"
on_exit "curl -sS -o /dev/null -X DELETE -H 'Authorization: Token $FULFIL_TOKEN' '$API/products/$ID_B'"
ok "created $SKU_B ($ID_B)"

# --- list and filters
call GET "/products?sku=$RUN"
expect_status 200 "GET /products?sku=$RUN"
expect_json .count 2 "sku contains (ignoring case)"
call GET "/products?sku_exact=${SKU_A,,}"
expect_status 200 "GET /products?sku_exact=${SKU_A,,}"
expect_json '[.count, .results[0].id] | @tsv' $'1\t'"$ID_A" "sku_exact (ignoring case)"
call GET "/products?search=$RUN%20test_crud.sh"
expect_status 200 "GET /products?search=..."
expect_json .count 2 "search (every word in SKU, name or description)"
call GET "/products?sku=$RUN&active=false"
expect_json '[.count, .results[0].sku] | @tsv' $'1\t'"$SKU_A" "active=false"
call GET "/products?sku=$RUN&active=true"
expect_json '[.count, .results[0].sku] | @tsv' $'1\t'"$SKU_B" "active=true"
ok "filters: sku, sku_exact, search, active"

call GET "/products?sku=$RUN&ordering=sku&limit=1"
expect_status 200 "GET /products?...&limit=1"
expect_json '[.count, (.results | length), .results[0].sku, (.next != null), (.previous == null)] | @tsv' \
  $'2\t1\t'"$SKU_A"$'\ttrue\ttrue' "page 1 of 2 (limit=1)"
call GET "/products?sku=$RUN&ordering=sku&limit=1&offset=1"
expect_json '[.count, (.results | length), .results[0].sku, (.next == null), (.previous != null)] | @tsv' \
  $'2\t1\t'"$SKU_B"$'\ttrue\ttrue' "page 2 of 2 (offset=1)"
call GET "/products?limit=many"
expect_status 400 "GET /products?limit=many"
ok "pagination: limit, offset, next, previous; a nonsense limit is a 400"

# --- delete
for pair in "$ID_A:$SKU_A" "$ID_B:$SKU_B"; do
  id="${pair%%:*}"
  call DELETE "/products/$id"
  expect_status 204 "DELETE /products/$id"
  call GET "/products/$id"
  expect_status 404 "GET /products/$id after deleting it"
  ok "deleted ${pair#*:}; reading it now gives 404"
done
call DELETE "/products/$ID_A"
expect_status 404 "DELETE /products/$ID_A a second time"
call GET "/products?sku=$RUN"
expect_json .count 0 "the list after deleting both"
ok "nothing of this run is left"

echo "PASS: products API smoke test ($FULFIL_URL)"
