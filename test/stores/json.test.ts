import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JsonFileStore } from "../../src/stores/json/store.js";
import { describeStoreConformance } from "../../src/testing/index.js";

// Each test gets a folder of its own: removed afterwards, kept (and named) when the test failed.
const files = new Map<JsonFileStore, string>();

describeStoreConformance("json", {
  open: async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "crewstate-json-conformance-")), "crew_state.json");
    const store = await JsonFileStore.open(file);
    files.set(store, file);
    return store;
  },
  reopen: (store) => JsonFileStore.open(files.get(store)!),
  close: async (store, { failed }) => {
    const dir = path.dirname(files.get(store)!);
    files.delete(store);
    try {
      await store.close();
    } finally {
      if (failed) console.warn(`kept ${dir} of the failed test`);
      else fs.rmSync(dir, { recursive: true, force: true });
    }
  },
});
