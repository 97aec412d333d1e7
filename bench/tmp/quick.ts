import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chainCrew } from "../chain.js";
import { countCommits } from "../commits.js";
import { openStore } from "../../src/stores/open.js";
import { planRun } from "../../src/engine/plan-run.js";
const n = Number(process.argv[2] ?? 1000);
const dir = mkdtempSync(path.join(os.tmpdir(), "q-"));
const tag = `q${Date.now()}`;
const urls: Record<string, string> = {
  memory: "memory:",
  sqlite: `sqlite:${dir}/s.db`,
  json: `json:${dir}/s.json`,
  postgres: `postgres://postgres@127.0.0.1:5432/test?schema=${tag}`,
  redis: `redis://127.0.0.1:6379?prefix=${tag}:`,
};
for (const [name, url] of Object.entries(urls)) {
  if (process.argv[3] && !process.argv[3].split(",").includes(name)) continue;
  const crew = chainCrew(n);
  let store = await openStore(url);
  let c = countCommits(store);
  let t = process.hrtime.bigint();
  await crew.kickoff({ runId: "bench", store });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  const fresh = c.total();
  let resumeCommits = 0, resumeMs = 0, planMs: number[] = [];
  if (name !== "memory") {
    await store.close();
    for (let i = 0; i < 3; i++) {
      t = process.hrtime.bigint();
      const s2 = await openStore(url);
      await planRun(chainCrew(n), s2, { runId: "bench" });
      planMs.push(Number(process.hrtime.bigint() - t) / 1e6);
      await s2.close();
    }
    store = await openStore(url);
    c = countCommits(store);
    t = process.hrtime.bigint();
    const r = await crew.kickoff({ runId: "bench", store });
    resumeMs = Number(process.hrtime.bigint() - t) / 1e6;
    resumeCommits = c.total();
    if (r.tasks.some((x) => x.outcome !== "reused")) throw new Error("rerun");
  }
  await store.close();
  console.log(`${name.padEnd(9)} N=${n} ${(ms / n).toFixed(3)} ms/task, commits/task ${(fresh / n).toFixed(3)} (${[...c.byMethod].join(" ")}) | resume kickoff ${resumeMs.toFixed(1)} ms in ${resumeCommits} commit(s); open+load+plan ${planMs.map((x) => x.toFixed(1)).join("/")} ms`);
}
