// A deterministic 200-turn conversation graph run twice in one process: with
// logbook's LogbookSaver and with @langchain/langgraph-checkpoint-postgres.
// Each turn's input is a short user message; a fake node appends one
// ~500-byte reply per turn (no LLM). Every put and
// getTuple the graph makes is timed. Prints the latencies and writes them,
// with the Postgres saver's table bytes, to $RESULTS (JSON); run.sh adds the
// bytes on disk of logbook's data directory. Started by run.sh.

import { writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import pg from "pg";

import { LogbookSaver } from "../../clients/langgraph-js/dist/index.js";

const TURNS = Number(process.env.TURNS ?? 200);
const MESSAGE_BYTES = 500;

// Deterministic text with about the redundancy of prose: words drawn with
// Zipf frequencies from 2048 pseudo-words (xorshift PRNG, fixed seeds). The
// run prints how well the final message list compresses with gzip (English
// prose: about 2.5-3x), as a check that the text is neither random nor trivial.
function xorshift(seed) {
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
}
const VOCAB = (() => {
  const next = xorshift(42);
  const letters = "etaoinshrdlucmfwypvbgkjqxz";
  const words = [];
  for (let i = 0; i < 2048; i++) {
    const len = 2 + (next() % 9);
    let w = "";
    for (let k = 0; k < len; k++) w += letters[Math.min(letters.length - 1, Math.floor(-Math.log(1 - (next() % 1000) / 1000) * 6))];
    words.push(w);
  }
  return words;
})();
const ZIPF = (() => {
  const cdf = [];
  let sum = 0;
  for (let r = 1; r <= VOCAB.length; r++) cdf.push((sum += 1 / r));
  return cdf.map((c) => c / sum);
})();
function words(seed, bytes) {
  const next = xorshift(seed + 1000);
  let s = "";
  while (s.length < bytes) {
    const u = next() / 4294967296;
    let lo = 0, hi = ZIPF.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ZIPF[mid] < u) lo = mid + 1; else hi = mid;
    }
    s += VOCAB[lo] + " ";
  }
  return s.slice(0, bytes);
}

const State = Annotation.Root({
  messages: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
  turn: Annotation(),
});

function buildGraph(checkpointer) {
  return new StateGraph(State)
    .addNode("assistant", (s) => ({
      messages: [{ role: "assistant", id: `a-${s.turn}`, content: words(s.turn, MESSAGE_BYTES) }],
    }))
    .addEdge(START, "assistant")
    .addEdge("assistant", END)
    .compile({ checkpointer });
}

// Wraps put and getTuple with timers.
function timed(saver) {
  const t = { put: [], getTuple: [] };
  for (const name of ["put", "getTuple"]) {
    const orig = saver[name].bind(saver);
    saver[name] = async (...args) => {
      const start = process.hrtime.bigint();
      try {
        return await orig(...args);
      } finally {
        t[name].push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    };
  }
  return t;
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function run(name, saver, threadId) {
  const times = timed(saver);
  const graph = buildGraph(saver);
  const config = { configurable: { thread_id: threadId } };
  const start = Date.now();
  for (let turn = 1; turn <= TURNS; turn++) {
    // The user's turn (short) is the input; the node appends the reply.
    await graph.invoke({ turn, messages: [{ role: "user", id: `u-${turn}`, content: `turn ${turn}: and then?` }] }, config);
  }
  // The application's own reads: the latest state after each run.
  for (let i = 0; i < TURNS; i++) await saver.getTuple(config);
  const last = await saver.getTuple(config);
  const messages = last.checkpoint.channel_values.messages;
  if (messages.length !== 2 * TURNS) throw new Error(`${name}: expected ${2 * TURNS} messages, got ${messages.length}`);
  let checkpoints = 0;
  for await (const _ of saver.list(config)) checkpoints++;
  const r = {
    saver: name,
    turns: TURNS,
    checkpoints,
    seconds: (Date.now() - start) / 1000,
    puts: times.put.length,
    put_p50_ms: pct(times.put, 50),
    put_p99_ms: pct(times.put, 99),
    gets: times.getTuple.length,
    get_p50_ms: pct(times.getTuple, 50),
    get_p99_ms: pct(times.getTuple, 99),
    last_state_bytes: JSON.stringify(messages).length,
    gzip_ratio: JSON.stringify(messages).length / gzipSync(JSON.stringify(messages)).length,
  };
  console.log(
    `${name.padEnd(9)} ${r.checkpoints} checkpoints, ${r.puts} puts p50 ${r.put_p50_ms.toFixed(2)} ms p99 ${r.put_p99_ms.toFixed(2)} ms, ` +
      `${r.gets} getTuple p50 ${r.get_p50_ms.toFixed(2)} ms p99 ${r.get_p99_ms.toFixed(2)} ms (${r.seconds.toFixed(1)} s)`,
  );
  return r;
}

const results = {};

const logbook = new LogbookSaver({ url: process.env.LOGBOOK_URL, apiKey: process.env.LOGBOOK_KEY, tenant: "bench" });
results.logbook = await run("logbook", logbook, "bench-thread");
logbook.end();

const pool = new pg.Pool({ connectionString: process.env.PG_URL, max: 4 });
const postgres = new PostgresSaver(pool);
await postgres.setup();
results.postgres = await run("postgres", postgres, "bench-thread");
const { rows } = await pool.query(
  `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r'`,
);
results.postgres.table_bytes = Number(rows[0].bytes);
await pool.end();

writeFileSync(process.env.RESULTS, JSON.stringify(results, null, 2));
