import type { StateImage } from "../../src/stores/state-image.js";
import { MemoryStore } from "../../src/stores/memory-store.js";
import { describeStoreConformance } from "./conformance.js";

describeStoreConformance("memory", async () => {
  const store = new MemoryStore();
  return {
    store,
    reopen: async () => store,
    cleanup: () => store.close(),
    tamperOutput: async (runId, task, output) => {
      (store as unknown as { image: StateImage }).image.runs.get(runId)!.tasks.get(task)!.output = output;
    },
  };
});
