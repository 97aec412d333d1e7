import { MemoryStore } from "../../src/stores/memory-store.js";
import { describeStoreConformance } from "./conformance.js";

describeStoreConformance("memory", async () => {
  const store = new MemoryStore();
  return { store, reopen: async () => store, cleanup: () => store.close() };
});
