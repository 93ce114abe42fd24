# shellcheck shell=bash
# Shared by scripts/test_*.sh (sourced, not run): settings from the environment, HTTP calls, and
# checks that stop the script at the first failure, saying what was expected and what came back.

FULFIL_URL="${FULFIL_URL:-http://127.0.0.1:8000}"
FULFIL_URL="${FULFIL_URL%/}"
API="$FULFIL_URL/api/v1"
CURL_TIMEOUT="${CURL_TIMEOUT:-30}"
STATUS=""
BODY=""

# fail MESSAGE [DETAIL...]: print and exit 1.
fail() {
  printf 'FAIL: %s\n' "$1" >&2
  shift
  local line
  for line in "$@"; do
    printf '      %s\n' "$line" >&2
  done
  exit 1
}

ok() {
  printf 'ok    %s\n' "$*"
}

for tool in curl jq; do
  command -v "$tool" >/dev/null || fail "$tool is not installed" "apt-get install -y $tool"
done
[[ -n "${FULFIL_TOKEN:-}" ]] || fail "FULFIL_TOKEN is not set" \
  "create a token with: python manage.py drf_create_token <user>" "then: FULFIL_TOKEN=<key> $0"

SMOKE_TMP="$(mktemp -d)"
SMOKE_CLEANUPS=()

# on_exit COMMAND: run COMMAND when the script ends, however it ends (last registered first).
on_exit() {
  SMOKE_CLEANUPS+=("$1")
}

_smoke_cleanup() {
  local i
  for ((i = ${#SMOKE_CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${SMOKE_CLEANUPS[i]}" >/dev/null 2>&1 || true
  done
  rm -rf "$SMOKE_TMP"
}
trap _smoke_cleanup EXIT

_request() {
  local token=$1 method=$2 path=$3 data=${4-}
  local args=(-sS -o "$SMOKE_TMP/body" -w '%{http_code}' --max-time "$CURL_TIMEOUT" -X "$method"
    -H "Accept: application/json")
  if [[ -n $token ]]; then
    args+=(-H "Authorization: Token $token")
  fi
  if [[ -n $data ]]; then
    args+=(-H "Content-Type: application/json" --data "$data")
  fi
  if ! STATUS="$(curl "${args[@]}" "$API$path" 2>"$SMOKE_TMP/curl-error")"; then
    fail "$method $API$path: no answer" "curl: $(cat "$SMOKE_TMP/curl-error")" \
      "is FulFil running at $FULFIL_URL? (set FULFIL_URL)"
  fi
  BODY="$(cat "$SMOKE_TMP/body")"
}

# call METHOD PATH [JSON]: an authenticated API call; sets STATUS and BODY.
call() {
  _request "$FULFIL_TOKEN" "$@"
}

# call_anonymous METHOD PATH [JSON]: the same without credentials.
call_anonymous() {
  _request "" "$@"
}

_excerpt() {
  printf 'answer: %s' "${BODY:0:400}"
}

# expect_status CODE WHAT: the last call answered CODE.
expect_status() {
  [[ $STATUS == "$1" ]] || fail "$2: expected HTTP $1, got HTTP $STATUS" "$(_excerpt)"
}

# json FILTER: jq FILTER applied to the last answer (raw output).
json() {
  jq -r "$1" <<<"$BODY" 2>/dev/null || fail "the answer is not JSON (reading $1)" "$(_excerpt)"
}

# expect_json FILTER VALUE WHAT: jq FILTER on the last answer gives VALUE.
expect_json() {
  local got
  got="$(json "$1")"
  [[ $got == "$2" ]] || fail "$3: expected $1 to be $2, got $got" "$(_excerpt)"
}
