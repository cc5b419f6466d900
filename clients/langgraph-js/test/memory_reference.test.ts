// The same conformance suite against LangGraph's reference MemorySaver, in the
// same run: what it passes, LogbookSaver must pass (conformance.test.ts).

import { MemorySaver } from "@langchain/langgraph-checkpoint";
import { validate } from "@langchain/langgraph-checkpoint-validation";

validate<MemorySaver>({
  checkpointerName: "MemorySaver",
  createCheckpointer() {
    return new MemorySaver();
  },
});
