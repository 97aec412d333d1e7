/** What the many-workers bench (bench/workers.ts) and its child processes agree on. */
export const TASKS_PER_RUN = 10;
export const DBOS_WORKFLOW = "bench_fleet";
/** Every DBOS process of the bench runs the same code under this application version. */
export const DBOS_APP_VERSION = "crewstate-bench-workers";
