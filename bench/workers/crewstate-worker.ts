/**
 * One crewstate worker process of the many-workers bench: `startWorker` with concurrency 1 on
 * the 10-task chain crew (zero-latency model, 1 KiB outputs), the store URL from argv. Prints
 * `ready` once its queue consumer is registered; SIGTERM stops it gracefully.
 *
 *   node --import tsx bench/workers/crewstate-worker.ts <store-url>
 */
import { startWorker } from "../../src/engine/worker.js";
import { defaultLogger } from "../../src/log.js";
import { chainCrew } from "../chain.js";
import { TASKS_PER_RUN } from "./shared.js";

const url = process.argv[2];
if (!url) throw new Error("usage: crewstate-worker.ts <store-url>");
const worker = await startWorker(chainCrew(TASKS_PER_RUN), { store: url, concurrency: 1, logger: defaultLogger("silent") });
process.stdout.write("ready\n");
await new Promise<void>((resolve) => process.once("SIGTERM", () => resolve()));
await worker.stop();
process.exit(0);
