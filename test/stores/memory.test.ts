import type { StateImage } from "../../src/stores/memory/state-image.js";
import { MemoryStore } from "../../src/stores/memory/store.js";
import { describeStoreConformance } from "../../src/testing/index.js";

describeStoreConformance("memory", {
  open: async () => new MemoryStore(),
  tamperOutput: async (store, runId, task, output) => {
    (store as unknown as { image: StateImage }).image.runs.get(runId)!.tasks.get(task)!.output = output;
  },
});
