// The official LangGraph checkpointer conformance suite, against a real
// `logbook serve`. Each checkpointer the suite creates gets its own tenant,
// so that one instance never sees another's threads.

import { validate } from "@langchain/langgraph-checkpoint-validation";

import { LogbookSaver } from "../src/index.js";
import { LogbookServer } from "./server.js";

const server = new LogbookServer();
let instances = 0;

validate<LogbookSaver>({
  checkpointerName: "@logbook/langgraph-checkpoint",
  beforeAllTimeout: 60000,
  async beforeAll() {
    await server.start();
  },
  async afterAll() {
    await server.stop();
    server.cleanup();
  },
  createCheckpointer() {
    instances += 1;
    return new LogbookSaver({ url: server.url, apiKey: server.adminKey, tenant: `conformance-${instances}` });
  },
  destroyCheckpointer(saver) {
    saver.end();
  },
});
