/**
 * A flow's forks are not its child runs: `relativesOf` and the dashboard's run API tell them apart,
 * and a fork's spending never counts in the flow's totals.
 */
import { describe, expect, it } from "vitest";
import { fork, MemoryStore, runFlow } from "../../src/index.js";
import { relativesOf } from "../../src/runs/lineage.js";
import { apiRoutes } from "../../src/ui/api.js";
import { ChangeFeed } from "../../src/ui/changes.js";
import { Calls, crewFlow } from "../flow/fixtures.js";

describe("lineage", () => {
  it("keeps a flow's forks apart from its child runs, in relativesOf and the dashboard", async () => {
    const store = new MemoryStore();
    await runFlow(crewFlow(new Calls(), "demo"), { runId: "flow", store });
    const api = apiRoutes(store, store.location, "test", new ChangeFeed(store, 0));
    const view = async () => (await (await api.request("/runs/flow")).json()) as { totals: unknown; children: { runId: string }[]; forks: { runId: string; at: string | null }[] };
    const before = await view();
    expect(before.children).toHaveLength(1);
    expect(before.forks).toEqual([]);

    await fork(store, "flow", { runId: "flow-fork" });
    await fork(store, "flow", { runId: "flow-at", at: "draft" });
    const after = await view();
    expect(after.children).toEqual(before.children);
    expect(after.forks.map((f) => [f.runId, f.at]).sort()).toEqual([["flow-at", "draft"], ["flow-fork", null]]);
    expect(after.totals).toEqual(before.totals);

    const { forks, children } = await relativesOf(store, "flow");
    expect(forks.map((r) => r.runId).sort()).toEqual(["flow-at", "flow-fork"]);
    expect(children.map((r) => r.runId)).toEqual(before.children.map((c) => c.runId));
  });
});
