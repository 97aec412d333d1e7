import { MemoryStore } from "../../src/stores/memory-store.js";
import { describeStoreConformance } from "./conformance.js";

describeStoreConformance(
  "memory",
  async () => {
    const store = new MemoryStore();
    return { store, reopen: async () => store, cleanup: () => store.close() };
  },
  {
    knownBugs: {
      "stores a copy of the event data: changing it after the commit changes nothing stored":
        "StateImage.addEvent (src/stores/state-image.ts) keeps the caller's data object; store structuredClone(event.data ?? null)",
    },
  },
);
