// A real LangGraph graph that stops at interrupt(), the logbook server killed
// with SIGKILL and restarted, and the graph resumed with Command({resume})
// from the saved state by a fresh saver and a freshly compiled graph, as a
// restarted application would.

import { Annotation, Command, END, START, StateGraph, interrupt } from "@langchain/langgraph";

import { LogbookSaver, LogbookUnavailableError } from "../src/index.js";
import { LogbookServer } from "./server.js";

const State = Annotation.Root({
  messages: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  approval: Annotation<string | undefined>(),
});

function buildGraph() {
  return new StateGraph(State)
    .addNode("draft", (s) => ({ messages: [`draft reply to: ${s.messages[0]}`] }))
    .addNode("review", () => {
      const answer = interrupt({ question: "send the draft?" }) as string;
      return { approval: answer, messages: [`reviewer said: ${answer}`] };
    })
    .addNode("send", (s) => ({ messages: [`sent (approval: ${s.approval})`] }))
    .addEdge(START, "draft")
    .addEdge("draft", "review")
    .addEdge("review", "send")
    .addEdge("send", END);
}

describe("crash and resume", () => {
  const server = new LogbookServer();
  beforeAll(async () => {
    await server.start();
  });
  afterAll(async () => {
    await server.stop();
    server.cleanup();
  });

  it("resumes an interrupted graph after the server is SIGKILLed and restarted", async () => {
    const config = { configurable: { thread_id: "order-42" } };
    const before = new LogbookSaver({ url: server.url, apiKey: server.adminKey, tenant: "shop" });
    const graph = buildGraph().compile({ checkpointer: before });
    const first = await graph.invoke({ messages: ["where is my order?"] }, config);
    expect(first.messages).toEqual(["where is my order?", "draft reply to: where is my order?"]);
    const paused = await graph.getState(config);
    expect(paused.next).toEqual(["review"]);
    expect(paused.tasks[0].interrupts[0].value).toEqual({ question: "send the draft?" });
    let historyBefore = 0;
    for await (const _ of graph.getStateHistory(config)) historyBefore += 1;
    expect(historyBefore).toBeGreaterThan(2);

    await server.kill();
    // While it is down, the saver says so plainly.
    await expect(before.getTuple(config)).rejects.toThrow(LogbookUnavailableError);
    await expect(before.getTuple(config)).rejects.toThrow(/unreachable.*logbook serve/);
    before.end();

    await server.start();
    const after = new LogbookSaver({ url: server.url, apiKey: server.adminKey, tenant: "shop" });
    const resumed = buildGraph().compile({ checkpointer: after });
    const state = await resumed.getState(config);
    expect(state.next).toEqual(["review"]);
    expect(state.values.messages).toEqual(first.messages);
    expect(state.tasks[0].interrupts[0].value).toEqual({ question: "send the draft?" });
    let historyAfter = 0;
    for await (const _ of resumed.getStateHistory(config)) historyAfter += 1;
    expect(historyAfter).toBe(historyBefore);

    const done = await resumed.invoke(new Command({ resume: "yes" }), config);
    expect(done.messages).toEqual([
      "where is my order?",
      "draft reply to: where is my order?",
      "reviewer said: yes",
      "sent (approval: yes)",
    ]);
    expect(done.approval).toBe("yes");
    expect((await resumed.getState(config)).next).toEqual([]);
    after.end();
  });

  it("keeps every acknowledged put across a SIGKILL", async () => {
    const saver = new LogbookSaver({ url: server.url, apiKey: server.adminKey, tenant: "durable" });
    const graph = buildGraph().compile({ checkpointer: saver });
    const threads = ["a", "b", "c"];
    for (const t of threads) await graph.invoke({ messages: [`hello from ${t}`] }, { configurable: { thread_id: t } });
    const counts: Record<string, number> = {};
    for (const t of threads) {
      counts[t] = 0;
      for await (const _ of saver.list({ configurable: { thread_id: t } })) counts[t] += 1;
    }
    saver.end();
    await server.kill();
    await server.start();
    const again = new LogbookSaver({ url: server.url, apiKey: server.adminKey, tenant: "durable" });
    for (const t of threads) {
      let n = 0;
      for await (const _ of again.list({ configurable: { thread_id: t } })) n += 1;
      expect(n).toBe(counts[t]);
      const tuple = await again.getTuple({ configurable: { thread_id: t } });
      expect(tuple?.checkpoint.channel_values.messages).toEqual([`hello from ${t}`, `draft reply to: hello from ${t}`]);
    }
    again.end();
  });
});
