#!/usr/bin/env bash
# A short real job on the embedded default data directory: an agent session
# with turns, a human-in-the-loop checkpoint and LLM usage, read back, queried
# and audited. Run by `make demo`; safe to repeat (each run is a new session).
set -euo pipefail

LOGBOOK=${LOGBOOK:-build/logbook}
export LOGBOOK_DATA_DIR=${DATA_DIR:-./logbook-data}
sid=$(cat /proc/sys/kernel/random/uuid)
cp_id=$(cat /proc/sys/kernel/random/uuid)
tenant=acme
step() { printf '\n== %s\n' "$*"; }

step "init $LOGBOOK_DATA_DIR"
"$LOGBOOK" init

step "session $sid: start, two turns (proposed, then applied), a pin and an objective"
"$LOGBOOK" append --stream "session/$sid" --tenant $tenant --actor agent-runtime \
  --expected-version no_stream <<JSON
{"type":"SessionStarted","payload":{"session_id":"$sid","tenant":"$tenant","user":"u-17","channel":"web","kind":"support"}}
{"type":"TurnProposed","payload":{"session_id":"$sid","turn_id":"1","awf_raw_json":"{\"say\":\"hello\"}","acts_json":"[{\"op\":\"greet\"}]"}}
{"type":"TurnApplied","payload":{"session_id":"$sid","turn_id":"1"}}
{"type":"MemoryPinned","payload":{"session_id":"$sid","text":"customer prefers e-mail"}}
{"type":"ObjectiveSet","payload":{"session_id":"$sid","text":"resolve the billing question","priority":1}}
{"type":"TurnProposed","payload":{"session_id":"$sid","turn_id":"2","acts_json":"[{\"op\":\"lookup_invoice\"}]"}}
{"type":"TurnApplied","payload":{"session_id":"$sid","turn_id":"2"}}
JSON

step "human-in-the-loop checkpoint $cp_id: created, then approved by an operator"
"$LOGBOOK" append --stream "checkpoint/$cp_id" --tenant $tenant --actor agent-runtime \
  --expected-version no_stream --type CheckpointCreated \
  --payload "{\"checkpoint_id\":\"$cp_id\",\"tenant\":\"$tenant\",\"thread_id\":\"$sid\",\"prompt\":\"Use these sources?\",\"required_role\":\"operator\",\"source_ids\":[\"doc-1\",\"doc-2\"]}"
"$LOGBOOK" append --stream "checkpoint/$cp_id" --tenant $tenant --actor ops-alice --role operator \
  --expected-version 1 --type CheckpointApproved \
  --payload "{\"checkpoint_id\":\"$cp_id\",\"approved_source_ids\":[\"doc-1\"],\"by\":\"ops-alice\"}"

step "LLM usage for the session"
"$LOGBOOK" append --stream "tenant/$tenant/costs" --tenant $tenant --actor agent-runtime <<JSON
{"type":"UsageRecorded","payload":{"tenant":"$tenant","provider":"openai","model":"gpt-4o-mini","kind":"chat","tokens_in":1840,"tokens_out":312,"usd_micros":463,"latency_ms":820,"success":true,"session_id":"$sid"}}
{"type":"UsageRecorded","payload":{"tenant":"$tenant","provider":"openai","model":"text-embedding-3-small","kind":"embedding","tokens_in":5200,"usd_micros":104,"latency_ms":95,"success":true,"session_id":"$sid"}}
{"type":"UsageRecorded","payload":{"tenant":"$tenant","provider":"anthropic","model":"claude-3-5-haiku","kind":"chat","tokens_in":900,"tokens_out":0,"latency_ms":30000,"success":false,"error_code":"timeout","session_id":"$sid"}}
JSON

step "read the session back"
"$LOGBOOK" read --stream "session/$sid"

step "state of the session as of its first turn (time travel)"
first_turn_lsn=$("$LOGBOOK" read --stream "session/$sid" --from-version 3 --limit 1 | sed 's/.*"lsn":\([0-9]*\).*/\1/')
"$LOGBOOK" replay --stream "session/$sid" --as-of-lsn "$first_turn_lsn" | tail -n 4

step "audit: who approved what (served by the audit index)"
"$LOGBOOK" audit query --tenant $tenant --type CheckpointApproved

step "audit: verify checksums, hash chains and LSN continuity"
"$LOGBOOK" audit verify

step "stats"
"$LOGBOOK" stats
