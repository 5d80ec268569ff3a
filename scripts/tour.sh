#!/usr/bin/env bash
# The README's five-minute tour, step by step, against a running `make run`.
# Usage: scripts/tour.sh [BASE_URL]   (the key is read from .data/local-admin-key or $ENTENTE_KEY)
# Exits non-zero at the first step that does not answer what the README says.
set -euo pipefail
BASE=${1:-http://127.0.0.1:8000}
KEY=${ENTENTE_KEY:-$(cat .data/local-admin-key)}
AUTH="Authorization: Bearer $KEY"
JSON="Content-Type: application/json"
D=${TOUR_DIALOGUE:-$(python3 -c 'import uuid; print(uuid.uuid4())')}
S=$(python3 -c 'import uuid; print(uuid.uuid4())')
O=$(python3 -c 'import uuid; print(uuid.uuid4())')
RUN=$(date +%s)-$(python3 -c 'import uuid; print(uuid.uuid4())')  # a fresh Idempotency-Key per run
DAY='{"start":"2026-11-20","end":"2026-11-21","precision":"day","wording":"20 November 2026"}'
PLACE='{"city":"Tashkent","country":"UZ"}'
HEAD_KZ='{"name":"Akan Rakhmetullin","title":"Deputy Minister of Foreign Affairs","organization":"Ministry of Foreign Affairs of Kazakhstan","party":"KZ"}'
HEAD_UZ='{"name":"Bakhtiyor Saidov","title":"Minister of Foreign Affairs","organization":"Ministry of Foreign Affairs of Uzbekistan","party":"UZ"}'

step() { printf '\n== %s\n' "$1"; }
expect() {  # expect STATUS curl-args… : run curl, check the HTTP status, print the body
  local want=$1; shift
  local out status
  out=$(curl -sS -w '\n%{http_code}' "$@")
  status=${out##*$'\n'}; body=${out%$'\n'*}
  echo "$body" | head -c 600; echo
  [ "$status" = "$want" ] || { echo "!! expected HTTP $want, got $status"; exit 1; }
}

step "1. launch a dialogue (201, ETag \"1\")"
expect 201 -X POST "$BASE/dialogues" -H "$AUTH" -H "$JSON" -H "Idempotency-Key: tour-$RUN" \
  -d "{\"dialogue_id\":\"$D\",\"charter\":{\"name\":\"Tour Strategic Dialogue\",\"acronym\":\"TSD\",\"format\":\"bilateral\",\"parties\":[\"KZ\",\"UZ\"],\"cadence\":\"annual\"}}"

step "2. schedule a session (201)"
expect 201 -X POST "$BASE/dialogues/$D/sessions" -H "$AUTH" -H "$JSON" \
  -d "{\"dialogue_id\":\"$D\",\"session_id\":\"$S\",\"plan\":{\"planned\":$DAY,\"place\":$PLACE,\"host\":\"UZ\"}}"
BEFORE_HOLD=$(python3 -c 'import datetime as d; print(d.datetime.now(d.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))')
sleep 1

step "3. hold it (200, ETag \"3\")"
expect 200 -X POST "$BASE/dialogues/$D/sessions/$S/hold" -H "$AUTH" -H "$JSON" -H 'If-Match: "2"' \
  -d "{\"dialogue_id\":\"$D\",\"session_id\":\"$S\",\"record\":{\"held_on\":$DAY,\"place\":$PLACE,\"heads\":[$HEAD_KZ,$HEAD_UZ],\"topics\":[\"trade and investment\"]}}"

step "4. adopt an outcome at it (201)"
expect 201 -X POST "$BASE/dialogues/$D/outcomes" -H "$AUTH" -H "$JSON" \
  -d "{\"dialogue_id\":\"$D\",\"outcome_id\":\"$O\",\"session_id\":\"$S\",\"terms\":{\"kind\":\"commitment\",\"text\":\"Meet again in 2027 in Astana\",\"responsible\":[\"KZ\",\"UZ\"]}}"

step "5. a stale If-Match is a conflict (409 problem+json)"
expect 409 -X POST "$BASE/dialogues/$D/rename" -H "$AUTH" -H "$JSON" -H 'If-Match: "1"' \
  -d "{\"dialogue_id\":\"$D\",\"name\":\"Renamed\"}"

step "6. the dialogue's history, with who and why (200)"
expect 200 "$BASE/streams/dialogue-$D/events" -H "$AUTH"

step "7. the dialogue as recorded before the session was held (200, version 2)"
expect 200 "$BASE/dialogues/$D?as_of=$BEFORE_HOLD" -H "$AUTH"

step "8. verify every hash chain (200, broken: [])"
expect 200 "$BASE/verify" -H "$AUTH"

step "9. subscribe to the calendar with a feed token (201; the feed 200, twice); a key in the URL is 401"
FEED=$(curl -sS -X POST "$BASE/calendar/tokens" -H "$AUTH" -H "$JSON" -d '{"name":"my calendar"}' \
  | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
expect 200 "$BASE/calendar.ics?token=$FEED&since=2021-01-01"
expect 200 "$BASE/calendar.ics?token=$FEED&since=2021-01-01"
expect 401 "$BASE/calendar.ics?key=$KEY&since=2021-01-01"
echo; echo "tour complete"
