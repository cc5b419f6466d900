#!/usr/bin/env bash
# The LangGraph checkpointer benchmark: the same 200-turn conversation graph
# with logbook's saver and with the PostgreSQL saver, in one run, on a local
# PostgreSQL 15 (Debian's) that this script starts on a temporary directory.
# Prints bytes on disk and put/getTuple latency (p50, p99) for both.
#
#   bench/langgraph/run.sh [path/to/logbook]      (make bench-langgraph)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
logbook="$(realpath "${1:-$root/build/logbook}")"
client="$root/clients/langgraph-js"
work="$(mktemp -d /tmp/logbook-langgraph-bench-XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -n "${pgdata:-}" && -f "$pgdata/postmaster.pid" ]]; then
    as_postgres "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

sudo=""
[[ $(id -u) -ne 0 ]] && sudo=sudo
pgbin=/usr/lib/postgresql/15/bin
if [[ ! -x $pgbin/postgres ]]; then
  echo "bench: installing postgresql-15" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
fi
# PostgreSQL refuses to run as root: run it as the postgres user when root.
as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL 15 with its defaults (fsync on, synchronous_commit on).
pgdata="$work/pg"
mkdir -p "$pgdata"
[[ $(id -u) -eq 0 ]] && chown postgres "$pgdata"
as_postgres "$pgbin/initdb" -D "$pgdata" -U postgres --auth=trust >/dev/null
pgport="$(free_port)"
as_postgres "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/log" -w \
  -o "-p $pgport -k $pgdata -c listen_addresses=127.0.0.1" start >/dev/null

# logbook with its defaults (every put acknowledged after fsync).
lbdata="$work/logbook"
lbport="$(free_port)"
"$logbook" --data-dir "$lbdata" serve --listen "127.0.0.1:$lbport" >"$work/key" 2>"$work/serve.log" &
pids+=($!)
lbpid=$!
for _ in $(seq 100); do
  grep -q "port $lbport" "$work/serve.log" 2>/dev/null && break
  sleep 0.1
done
key="$(head -1 "$work/key")"
# What a fresh data directory holds before any checkpoint (keys, format record).
baseline=$(du -sb "$lbdata" | cut -f1)

# The client, compiled, and the npm packages (the Postgres saver, pg).
if [[ ! -f "$client/node_modules/.logbook-lock" ]] || ! cmp -s "$client/package-lock.json" "$client/node_modules/.logbook-lock"; then
  (cd "$client" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.logbook-lock)
fi
(cd "$client" && npx tsc -p tsconfig.json)
ln -sfn "$client/node_modules" "$root/bench/langgraph/node_modules"

LOGBOOK_URL="http://127.0.0.1:$lbport" LOGBOOK_KEY="$key" \
  PG_URL="postgresql://postgres@127.0.0.1:$pgport/postgres" RESULTS="$work/results.json" \
  node "$root/bench/langgraph/bench.mjs"

# logbook's bytes on disk: its table files once flushed and compacted, the
# WAL left out as Postgres's is (graph_disk_usage); the whole data
# directory's growth as it stood after a clean stop is printed too.
curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$lbport/v1/graph/stats" >"$work/stats.json"
kill -TERM "$lbpid"
wait "$lbpid" || true
pids=()
lbgrowth=$(( $(du -sb "$lbdata" | cut -f1) - baseline ))
"$(dirname "$logbook")/graph_disk_usage" "$lbdata" >"$work/usage.json"

python3 - "$work/results.json" "$work/stats.json" "$work/usage.json" "$lbgrowth" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); stats = json.load(open(sys.argv[2]))
usage = json.load(open(sys.argv[3])); growth = int(sys.argv[4]); lb_bytes = usage["sst_bytes"]
lb, pg = r["logbook"], r["postgres"]
print()
print(f"LangGraph checkpointer benchmark: {lb['turns']} turns, one ~500-byte message per turn, "
      f"{lb['checkpoints']} checkpoints per saver")
print(f"{'saver':<10}{'bytes on disk':>15}{'put p50':>10}{'put p99':>10}{'get p50':>10}{'get p99':>10}")
print(f"{'logbook':<10}{lb_bytes:>15,}{lb['put_p50_ms']:>8.2f}ms{lb['put_p99_ms']:>8.2f}ms"
      f"{lb['get_p50_ms']:>8.2f}ms{lb['get_p99_ms']:>8.2f}ms")
print(f"{'postgres':<10}{pg['table_bytes']:>15,}{pg['put_p50_ms']:>8.2f}ms{pg['put_p99_ms']:>8.2f}ms"
      f"{pg['get_p50_ms']:>8.2f}ms{pg['get_p99_ms']:>8.2f}ms")
print(f"logbook: table files after flush and compaction, WAL not counted; by column family: "
      + ", ".join(f"{k} {v:,}" for k, v in usage["by_column_family"].items() if v))
print(f"logbook: data directory growth before the flush, WAL included: {growth:,} bytes; "
      f"chunk store {stats['chunk_bytes']:,} bytes in {stats['chunks']} chunks before compression")
print(f"messages: the final list is {lb['last_state_bytes']:,} bytes of JSON, gzip ratio {lb['gzip_ratio']:.1f}x")
print(f"postgres: pg_total_relation_size of the saver's tables (heap, TOAST, indexes; WAL not counted)")
print(f"bytes ratio postgres/logbook: {pg['table_bytes'] / max(lb_bytes, 1):.1f}x; "
      f"put p99 logbook {lb['put_p99_ms']:.2f} ms vs postgres {pg['put_p99_ms']:.2f} ms")
PY
