// `npm run demo`: run the claims-triage crew, kill it inside a task after some of its model and tool
// calls were journaled, resume it (the journaled calls are replayed, not paid again), show the state.
// CREWSTATE_STORE picks the store (default: sqlite:.crewstate/state.db).
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = ["bin/crewstate.js"];
const runId = `claim-demo-${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}`;
const runArgs = ["run", "examples/claims-triage/crew.ts", "--run-id", runId, "--input", "notes=@examples/claims-triage/case-notes.txt"];
// With the offline demo model, each call takes a moment so there is time to interrupt.
const env = { ...process.env, CREWSTATE_DEMO_DELAY_MS: process.env.CREWSTATE_DEMO_DELAY_MS ?? "1200" };

const banner = (text) => console.log(`\n\x1b[1m== ${text}\x1b[0m`);

function crewstate(args) {
  const result = spawnSync(process.execPath, [...cli, ...args], { cwd: root, env, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

banner(`1. Start run ${runId}, and kill the process (SIGKILL) inside draft_task, once its policy lookup is journaled`);
await new Promise((resolve, reject) => {
  const child = spawn(process.execPath, [...cli, ...runArgs], { cwd: root, env, stdio: ["ignore", "pipe", "inherit"] });
  let seen = "";
  let killing = false;
  child.stdout.on("data", (chunk) => {
    process.stdout.write(chunk);
    seen += chunk;
    // draft_task's first model call answered with a lookup_policy call (committed before the tool
    // runs); the tool's result is committed before the next model call, which takes a while.
    if (/\[2\/2\] draft_task: running[\s\S]*lookup_policy\(/.test(seen) && !killing) {
      killing = true;
      setTimeout(() => {
        child.kill("SIGKILL");
        console.log("   >>> killed with SIGKILL while draft_task waited for its second model call");
      }, Math.min(400, Number(env.CREWSTATE_DEMO_DELAY_MS) / 3));
    }
  });
  child.on("error", reject);
  child.on("exit", (code, signal) => {
    if (signal === "SIGKILL") resolve();
    else reject(new Error(`the first run ended before it could be interrupted (exit ${code})`));
  });
});

banner("2. The state it left: analyze_task completed, draft_task interrupted with its first calls journaled");
crewstate(["show", runId]);

banner("3. What a rerun will do, and why");
crewstate(["plan", ...runArgs.slice(1)]);

banner("4. Resume the same run ID: analyze_task is reused; draft_task replays its journaled calls and makes only the rest");
crewstate(runArgs);

banner("5. The finished run");
crewstate(["show", runId]);
console.log(`\nTry: npx crewstate output ${runId} draft_task · npx crewstate invalidate ${runId} analyze_task · npx crewstate runs`);
