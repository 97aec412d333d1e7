/**
 * The SQL of the PostgreSQL store, built once per store: the schema is the only thing spliced in,
 * validated and quoted. Every write is one statement (its own transaction, one round trip).
 */

export interface Statement {
  name: string;
  text: string;
}
export type Statements = ReturnType<typeof statements>;

/** What a commit of a task's record carries besides it: journal entries, the next task's claim, the run's end. */
export interface CommitShape {
  calls: boolean;
  next: boolean;
  end: boolean;
}

export function statements(s: string) {
  const named = (name: string, text: string): Statement => ({ name: `crewstate_${name}`, text });
  // A task's record but its name and lease; `recordParams` gives their values in this order.
  const recordColumns =
    "status, input_hash, output, structured, output_hash, started_at, completed_at, attempts, error, input_tokens, output_tokens, cost_usd, model";
  const taskColumns = `name, ${recordColumns}, worker, fencing_token, lease_expires_at`;
  const fromExcluded = (columns: string) => columns.split(", ").map((c) => `${c} = excluded.${c}`).join(", ");
  // A timestamptz as the store contract's ISO-8601 UTC text with milliseconds (as `Date.toISOString`).
  const iso = (ts: string) => `to_char((${ts}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  // The server's clock, read once per statement, to the millisecond (what an ISO string can hold).
  const clock = `clock AS MATERIALIZED (SELECT date_trunc('milliseconds', clock_timestamp()) AS now)`;
  const runColumns = "run_id, crew, inputs, status, attempts, error, created_at, updated_at, kind, parent_run_id, parent_task";
  // A journal entry but its run; `callParams` gives their values in this order, `callArrays` as arrays of `callTypes`.
  const callColumns = "task, position, kind, request_hash, response, input_tokens, output_tokens, cost_usd, at";
  const callTypes = ["text", "integer", "text", "text", "text", "integer", "integer", "double precision", "text"];
  const replaceCall = `ON CONFLICT (run_id, task, position) DO UPDATE SET ${fromExcluded(callColumns.replace("task, position, ", ""))}`;
  // The upsert into run $1's journal of the entries in the arrays from $`first` on (when `when` holds).
  const insertCalls = (first: number, when?: string) => `
         INSERT INTO ${s}.calls (run_id, ${callColumns})
         SELECT $1, ${callColumns}
         FROM unnest(${callTypes.map((type, i) => `$${first + i}::${type}[]`).join(", ")}) AS u(${callColumns})${when ? `
         WHERE ${when}` : ""}
         ${replaceCall}`;
  // The upsert of a claim (run $1; `p` names the parameters of the task, the worker (JSON), the TTL
  // in ms, the worker to take over from, the op and the token the claimer saw, or NULL) that
  // writes `columns` = `values` as well as the lease, in a row `run` and `clock` give (`set`
  // updates them in an existing row), when `when` holds. With a token seen, a new row is tried
  // only for 0 or when a row is there to conflict with, and an existing row is taken only while
  // its token is still that one. The conflict clause sees the latest committed row, so of
  // concurrent claims exactly one passes it; the others wait for that one and find its lease
  // running (or its token moved on). A retry that finds its own op ID in the row passes whatever
  // the lease and token, having moved the token itself.
  type ClaimParams = { task: string; worker: string; ttl: string; takeOver: string; op: string; seen: string };
  const claimTask = (p: ClaimParams, columns: string, values: string, set: string, when = "") => `
         INSERT INTO ${s}.tasks AS t (run_id, name, ${columns}, worker, fencing_token, lease_expires_at, claim_op)
         SELECT run.run_id, ${p.task}, ${values}, ${p.worker}, 1, ${iso(`clock.now + ${p.ttl}::integer * interval '1 millisecond'`)}, ${p.op}::uuid
         FROM run, clock
         WHERE ${when}(${p.seen}::bigint IS NULL OR ${p.seen}::bigint = 0
            OR EXISTS (SELECT 1 FROM ${s}.tasks WHERE run_id = $1 AND name = ${p.task}))
         ON CONFLICT (run_id, name) DO UPDATE
           SET ${set}worker = excluded.worker,
               fencing_token = CASE WHEN t.claim_op = excluded.claim_op THEN t.fencing_token ELSE t.fencing_token + 1 END,
               lease_expires_at = CASE WHEN t.claim_op = excluded.claim_op THEN t.lease_expires_at ELSE excluded.lease_expires_at END,
               claim_op = excluded.claim_op
           WHERE t.claim_op = excluded.claim_op
              OR ((${p.seen}::bigint IS NULL OR t.fencing_token = ${p.seen}::bigint)
                  AND (t.lease_expires_at IS NULL
                       OR t.lease_expires_at COLLATE "C" <= (SELECT ${iso("now")} FROM clock) COLLATE "C"
                       OR t.worker = excluded.worker
                       OR t.worker = ${p.takeOver}))
         RETURNING fencing_token, lease_expires_at
       `;
  const claim = (columns: string, values: string, set: string) =>
    claimTask({ task: "$2", worker: "$3", ttl: "$4", takeOver: "$5", op: "$6", seen: "$7" }, columns, values, set);
  // A started record's fields (`recordParams`) as parameters from $`first` on, typed.
  const recordValues = (first: number) =>
    ["", "", "", "", "", "", "", "::integer", "", "::integer", "::integer", "::double precision", ""].map((type, i) => `$${first + i}${type}`).join(", ");
  // The commit of a task's record: $1 run, $2..$18 the task row, $19 the fencing token required
  // (or NULL), $20 now, $21..$23 event task, type, data, $24 the record whose token $19 must be
  // (NULL: the task's own), $25 the op; then, as `shape` says, the journal entries (9 arrays,
  // callArrays), the next claim (task, worker as JSON, TTL in ms, the token seen, its event's
  // task, type and data, its started record: 20 in all) and the run's end (status, error, event
  // task, type, data). Replacing the record ends any claim's retry window. Nothing but the
  // record's upsert is written unless it is (fenced out, nothing is), nor on a retry (the op's
  // event is there). Fenced by another record, the check locks that record's row as
  // recordCall's does. The next claim is judged as claimTask judges it (the server's clock, the
  // token seen, a live lease of another worker), after the record; its op is the commit's, kept
  // in the claimed row, so a retry of a commit that landed returns the lease it was granted. The
  // events follow in order: the task's (carrying the op), the claim's start, the run's end.
  const commit = (shape: CommitShape) => {
    let next = 26;
    const take = (count: number) => ((next += count), next - count);
    const calls = shape.calls ? take(9) : 0;
    const n = shape.next ? take(20) : 0;
    const e = shape.end ? take(5) : 0;
    const suffix = `${shape.calls ? "_calls" : ""}${shape.next ? "_next" : ""}${shape.end ? "_end" : ""}`;
    return named(
      `save_task${suffix}`,
      `WITH ${shape.next ? `${clock}, ` : ""}done AS (
         SELECT 1 FROM ${s}.events WHERE op_id = $25::uuid
       ), run AS (
         SELECT run_id FROM ${s}.runs WHERE run_id = $1 AND NOT EXISTS (SELECT 1 FROM done) FOR NO KEY UPDATE
       ), task AS (
         INSERT INTO ${s}.tasks AS t (run_id, ${taskColumns})
         SELECT run_id, $2, $3, $4, $5, $6, $7, $8, $9, $10::integer, $11, $12::integer, $13::integer, $14::double precision, $15, $16, $17::bigint, $18
         FROM run
         WHERE $19::bigint IS NULL
            OR ($24::text IS NULL AND ($19::bigint = 0 OR EXISTS (SELECT 1 FROM ${s}.tasks WHERE run_id = $1 AND name = $2)))
            OR ($24::text IS NOT NULL
                AND $19::bigint = coalesce((SELECT fencing_token FROM ${s}.tasks WHERE run_id = $1 AND name = $24::text FOR SHARE), 0))
         ON CONFLICT (run_id, name) DO UPDATE
           SET ${fromExcluded(recordColumns)}, worker = excluded.worker, fencing_token = excluded.fencing_token,
               lease_expires_at = excluded.lease_expires_at, claim_op = NULL
           WHERE $19::bigint IS NULL OR $24::text IS NOT NULL OR t.fencing_token = $19::bigint
         RETURNING 1
       ), ${shape.calls ? `journal AS (${insertCalls(calls, "EXISTS (SELECT 1 FROM task)")}
       ), ` : ""}${shape.next ? `claim AS (${claimTask(
         { task: `$${n}::text`, worker: `$${n + 1}::text`, ttl: `$${n + 2}`, takeOver: "NULL::text", op: "$25", seen: `$${n + 3}` },
         recordColumns,
         recordValues(n + 7),
         `${fromExcluded(recordColumns)}, `,
         "EXISTS (SELECT 1 FROM task) AND ",
       )}), ` : ""}counted AS (
         SELECT ${shape.next ? "(SELECT count(*) FROM claim)::integer" : "0"} AS claimed
       ), bump AS (
         UPDATE ${s}.runs r SET event_count = r.event_count + 1 + counted.claimed${shape.end ? " + 1" : ""}, updated_at = $20${
           shape.end ? `, status = $${e}::text, error = $${e + 1}::text` : ""}
         FROM counted
         WHERE r.run_id = $1 AND EXISTS (SELECT 1 FROM task)
         RETURNING r.event_count - 1 - counted.claimed${shape.end ? " - 1" : ""} AS base, counted.claimed
       ), event AS (
         INSERT INTO ${s}.events (run_id, seq, task, type, at, data, op_id)
         SELECT $1::text, base + 1, $21::text, $22::text, $20::text, $23::text, $25::uuid FROM bump${shape.next ? `
         UNION ALL
         SELECT $1::text, base + 2, $${n + 4}::text, $${n + 5}::text, $20::text, $${n + 6}::text, NULL::uuid FROM bump WHERE claimed = 1` : ""}${shape.end ? `
         UNION ALL
         SELECT $1::text, base + 2 + claimed, $${e + 2}::text, $${e + 3}::text, $20::text, $${e + 4}::text, NULL::uuid FROM bump` : ""}
       )
       SELECT EXISTS (SELECT 1 FROM done) AS done, EXISTS (SELECT 1 FROM run) AS found, EXISTS (SELECT 1 FROM bump) AS written,
              CASE WHEN NOT EXISTS (SELECT 1 FROM task)
                   THEN (SELECT fencing_token FROM ${s}.tasks WHERE run_id = $1 AND name = coalesce($24::text, $2)) END AS current${shape.next ? `,
              (SELECT fencing_token FROM claim) AS token, (SELECT lease_expires_at FROM claim) AS expires_at,
              (SELECT fencing_token FROM ${s}.tasks WHERE run_id = $1 AND name = $${n}::text AND claim_op = $25::uuid) AS kept_token,
              (SELECT lease_expires_at FROM ${s}.tasks WHERE run_id = $1 AND name = $${n}::text AND claim_op = $25::uuid) AS kept_expires_at` : ""}`,
    );
  };
  const commits = new Map<string, Statement>();
  for (const calls of [false, true]) for (const next of [false, true]) for (const end of [false, true]) commits.set(`${calls}${next}${end}`, commit({ calls, next, end }));
  // Many records kept in one commit: $1 run, $2 now, $3..$5 event task, type, data, $6 op, $7..$23
  // the records (an array per column of `taskColumns`), $24 the token each record was read with;
  // with `end`, $25..$29 the run's status, error, event task, type, data. No records, no reuse
  // event: the op is then the end event's. Each record's row is
  // locked and its token checked against the one it was read with: the first that differs
  // refuses the whole commit, named with its token now. A row made by another writer after the
  // statement's snapshot is checked by the upsert itself; one that fails there aborts the
  // statement (division by zero, "raced"), and the caller runs it again.
  const reuse = (end: boolean) =>
    named(
      `reuse_tasks${end ? "_end" : ""}`,
      `WITH done AS (
         SELECT 1 FROM ${s}.events WHERE op_id = $6::uuid
       ), run AS (
         SELECT run_id FROM ${s}.runs WHERE run_id = $1 AND NOT EXISTS (SELECT 1 FROM done) FOR NO KEY UPDATE
       ), u AS (
         SELECT * FROM unnest(
           $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::integer[],
           $16::text[], $17::integer[], $18::integer[], $19::double precision[], $20::text[], $21::text[], $22::bigint[], $23::text[], $24::bigint[]
         ) WITH ORDINALITY AS u(${taskColumns}, fence, ord)
       ), held AS (
         SELECT t.name, t.fencing_token FROM ${s}.tasks t
         WHERE t.run_id = $1 AND t.name = ANY ($7::text[]) AND EXISTS (SELECT 1 FROM run)
         FOR NO KEY UPDATE
       ), bad AS (
         SELECT u.name, coalesce(held.fencing_token, 0) AS current
         FROM u LEFT JOIN held ON held.name = u.name
         WHERE EXISTS (SELECT 1 FROM run) AND coalesce(held.fencing_token, 0) <> u.fence
         ORDER BY u.ord LIMIT 1
       ), up AS (
         INSERT INTO ${s}.tasks AS t (run_id, ${taskColumns})
         SELECT run.run_id, ${taskColumns.split(", ").map((c) => `u.${c}`).join(", ")}
         FROM run, u
         WHERE NOT EXISTS (SELECT 1 FROM bad)
         ORDER BY u.ord
         ON CONFLICT (run_id, name) DO UPDATE
           SET ${fromExcluded(recordColumns)}, worker = excluded.worker, fencing_token = excluded.fencing_token,
               lease_expires_at = excluded.lease_expires_at, claim_op = NULL
           WHERE t.fencing_token = (SELECT u.fence FROM u WHERE u.name = t.name)
         RETURNING 1
       ), bump AS (
         UPDATE ${s}.runs SET event_count = event_count + (cardinality($7::text[]) > 0)::integer${end ? " + 1" : ""}, updated_at = $2${end ? ", status = $25::text, error = $26::text" : ""}
         WHERE run_id = $1 AND EXISTS (SELECT 1 FROM run) AND NOT EXISTS (SELECT 1 FROM bad)
         RETURNING event_count
       ), event AS (
         INSERT INTO ${s}.events (run_id, seq, task, type, at, data, op_id)
         SELECT $1::text, event_count${end ? " - 1" : ""}, $3::text, $4::text, $2::text, $5::text, $6::uuid FROM bump WHERE cardinality($7::text[]) > 0${end ? `
         UNION ALL
         SELECT $1::text, event_count, $27::text, $28::text, $2::text, $29::text, CASE WHEN cardinality($7::text[]) > 0 THEN NULL ELSE $6 END::uuid FROM bump` : ""}
       )
       SELECT EXISTS (SELECT 1 FROM done) AS done, EXISTS (SELECT 1 FROM run) AS found,
              (SELECT name FROM bad) AS fenced_task, (SELECT current FROM bad) AS current,
              CASE WHEN EXISTS (SELECT 1 FROM bump) AND (SELECT count(*) FROM up) <> (SELECT count(*) FROM u)
                   THEN 1 / ((SELECT count(*) FROM up) - (SELECT count(*) FROM up))::integer END AS raced`,
    );
  return {
    // $1 run, $2 crew, $3 inputs, $4 now, $5 kind, $6 $7 parent run and task, $8 op, $9 the plan
    // (or NULL: no run_planned event). An existing run keeps its kind (another is a mismatch) and
    // its parent; refused, the run's crew and kind say why.
    beginRun: named(
      "begin_run",
      `WITH done AS (
         SELECT 1 FROM ${s}.events WHERE op_id = $8::uuid
       ), up AS (
         INSERT INTO ${s}.runs AS r (run_id, crew, inputs, status, attempts, error, created_at, updated_at, event_count, kind, parent_run_id, parent_task)
         SELECT $1, $2, $3, 'running', 1, NULL, $4, $4, 1 + ($9::text IS NOT NULL)::integer, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM done)
         ON CONFLICT (run_id) DO UPDATE
           SET crew = excluded.crew, inputs = excluded.inputs, status = 'running', attempts = r.attempts + 1,
               error = NULL, updated_at = excluded.updated_at, event_count = r.event_count + 1 + ($9::text IS NOT NULL)::integer
           WHERE (r.crew = excluded.crew OR r.crew = '""') AND r.kind = excluded.kind
         RETURNING attempts, event_count
       ), event AS (
         INSERT INTO ${s}.events (run_id, seq, task, type, at, data, op_id)
         SELECT $1::text, event_count - ($9::text IS NOT NULL)::integer, NULL::text, 'run_started', $4::text, '{"attempt":' || attempts || '}', $8::uuid FROM up
         UNION ALL
         SELECT $1::text, event_count, NULL::text, 'run_planned', $4::text, $9::text, NULL::uuid FROM up WHERE $9::text IS NOT NULL
       )
       SELECT EXISTS (SELECT 1 FROM done) AS done, EXISTS (SELECT 1 FROM up) AS written,
              (SELECT crew FROM ${s}.runs WHERE run_id = $1) AS crew, (SELECT kind FROM ${s}.runs WHERE run_id = $1) AS kind`,
    ),
    runCrew: named("run_crew", `SELECT crew, kind FROM ${s}.runs WHERE run_id = $1`),
    commit: (shape: CommitShape) => commits.get(`${shape.calls}${shape.next}${shape.end}`)!,
    reuseTasks: reuse(false),
    reuseTasksEnd: reuse(true),
    taskToken: named("task_token", `SELECT fencing_token FROM ${s}.tasks WHERE run_id = $1 AND name = $2`),
    // $1 run, $2 task, $3 worker (JSON), $4 TTL in ms, $5 the worker to take over from (JSON, or NULL), $6 op,
    // $7 the token seen (or NULL).
    // The run's key-share lock keeps the run from being replaced under the claim without
    // serialising claims with commits. A new row is a pending record; an existing one keeps every
    // field but the lease's.
    claimTask: named(
      "claim_task",
      `WITH ${clock}, run AS (
         SELECT run_id FROM ${s}.runs WHERE run_id = $1 FOR KEY SHARE
       ), claim AS (${claim("status, attempts", "'pending', 0", "")})
       SELECT EXISTS (SELECT 1 FROM run) AS found, (SELECT fencing_token FROM claim) AS token,
              (SELECT lease_expires_at FROM claim) AS expires_at`,
    ),
    // $1..$7 as claimTask, $8 now, $9..$11 event task, type, data, $12..$24 the started record
    // (recordColumns). Granted, the claim is a commit: it takes the run's row lock first, as
    // saveTask does, writes the record under the claim's lease and appends the event. A retry
    // whose event is already there returns the lease it was granted and appends nothing.
    claimStart: named(
      "claim_start",
      `WITH ${clock}, done AS (
         SELECT 1 FROM ${s}.events WHERE op_id = $6::uuid
       ), run AS (
         SELECT run_id FROM ${s}.runs WHERE run_id = $1 FOR NO KEY UPDATE
       ), claim AS (${claim(
         recordColumns,
         "$12, $13, $14, $15, $16, $17, $18, $19::integer, $20, $21::integer, $22::integer, $23::double precision, $24",
         `${fromExcluded(recordColumns)}, `,
       )}), bump AS (
         UPDATE ${s}.runs SET event_count = event_count + 1, updated_at = $8
         WHERE run_id = $1 AND EXISTS (SELECT 1 FROM claim) AND NOT EXISTS (SELECT 1 FROM done)
         RETURNING event_count
       ), event AS (
         INSERT INTO ${s}.events (run_id, seq, task, type, at, data, op_id)
         SELECT $1, event_count, $9, $10, $8, $11, $6::uuid FROM bump
       )
       SELECT EXISTS (SELECT 1 FROM run) AS found, (SELECT fencing_token FROM claim) AS token,
              (SELECT lease_expires_at FROM claim) AS expires_at`,
    ),
    // $1 run, $2 task, $3 token, $4 TTL in ms. The current token is for the message of a refusal.
    heartbeat: named(
      "heartbeat",
      `WITH ${clock}, renewed AS (
         UPDATE ${s}.tasks SET lease_expires_at = ${iso("clock.now + $4::integer * interval '1 millisecond'")}
         FROM clock
         WHERE run_id = $1 AND name = $2 AND fencing_token = $3::bigint
         RETURNING worker, lease_expires_at
       )
       SELECT EXISTS (SELECT 1 FROM ${s}.runs WHERE run_id = $1) AS found,
              (SELECT worker FROM renewed) AS worker, (SELECT lease_expires_at FROM renewed) AS expires_at,
              (SELECT fencing_token FROM ${s}.tasks WHERE run_id = $1 AND name = $2) AS current`,
    ),
    // $1 run, $2 task, $3 token: a stale token matches no row, so it does nothing.
    releaseTask: named(
      "release_task",
      `UPDATE ${s}.tasks SET lease_expires_at = NULL, claim_op = NULL
       WHERE run_id = $1 AND name = $2 AND fencing_token = $3::bigint`,
    ),
    // $1 run, $2 status, $3 error, $4 now, $5..$7 event task, type, data, $8 op
    setRunStatus: named(
      "set_run_status",
      `WITH done AS (
         SELECT 1 FROM ${s}.events WHERE op_id = $8::uuid
       ), run AS (
         UPDATE ${s}.runs SET status = $2, error = $3, updated_at = $4, event_count = event_count + 1
         WHERE run_id = $1 AND NOT EXISTS (SELECT 1 FROM done)
         RETURNING event_count
       ), event AS (
         INSERT INTO ${s}.events (run_id, seq, task, type, at, data, op_id)
         SELECT $1, event_count, $5, $6, $4, $7, $8::uuid FROM run
       )
       SELECT EXISTS (SELECT 1 FROM done) AS done, EXISTS (SELECT 1 FROM run) AS written`,
    ),
    // $1 run, $2 task, $3 now, $4..$6 event task, type, data, $7 op
    removeTask: named(
      "remove_task",
      `WITH done AS (
         SELECT 1 FROM ${s}.events WHERE op_id = $7::uuid
       ), run AS (
         SELECT run_id FROM ${s}.runs WHERE run_id = $1 AND NOT EXISTS (SELECT 1 FROM done) FOR NO KEY UPDATE
       ), removed AS (
         DELETE FROM ${s}.tasks WHERE run_id = (SELECT run_id FROM run) AND name = $2 RETURNING 1
       ), journal AS (
         DELETE FROM ${s}.calls WHERE run_id = $1 AND task = $2 AND EXISTS (SELECT 1 FROM removed)
       ), bump AS (
         UPDATE ${s}.runs SET event_count = event_count + 1, updated_at = $3
         WHERE run_id = $1 AND EXISTS (SELECT 1 FROM removed)
         RETURNING event_count
       ), event AS (
         INSERT INTO ${s}.events (run_id, seq, task, type, at, data, op_id)
         SELECT $1, event_count, $4, $5, $3, $6, $7::uuid FROM bump
       )
       SELECT EXISTS (SELECT 1 FROM done) AS done, EXISTS (SELECT 1 FROM run) AS found, EXISTS (SELECT 1 FROM bump) AS removed`,
    ),
    // $1 run, $2 task, $3 position, $4 kind, $5 request hash, $6 response, $7 $8 tokens, $9 cost, $10 at,
    // $11 the fencing token required (or NULL), $12 the record it must be the token of (NULL: the
    // call's task). The check locks the task's row (FOR SHARE waits for
    // a claim in flight and reads its token), so a claim that replaces the lease comes before the
    // entry or after it, never between the check and the write.
    recordCall: named(
      "record_call",
      `WITH run AS (
         SELECT run_id FROM ${s}.runs WHERE run_id = $1 FOR KEY SHARE
       ), written AS (
         INSERT INTO ${s}.calls (run_id, ${callColumns})
         SELECT run_id, $2, $3::integer, $4, $5, $6, $7::integer, $8::integer, $9::double precision, $10
         FROM run
         WHERE $11::bigint IS NULL
            OR $11::bigint = coalesce((SELECT fencing_token FROM ${s}.tasks WHERE run_id = $1 AND name = coalesce($12::text, $2) FOR SHARE), 0)
         ${replaceCall}
         RETURNING 1
       )
       SELECT EXISTS (SELECT 1 FROM run) AS found, EXISTS (SELECT 1 FROM written) AS written,
              (SELECT fencing_token FROM ${s}.tasks WHERE run_id = $1 AND name = coalesce($12::text, $2)) AS current`,
    ),
    clearCalls: named(
      "clear_calls",
      `WITH cleared AS (DELETE FROM ${s}.calls WHERE run_id = $1 AND task = $2)
       SELECT EXISTS (SELECT 1 FROM ${s}.runs WHERE run_id = $1) AS found`,
    ),
    getRun: named("get_run", `SELECT ${runColumns} FROM ${s}.runs WHERE run_id = $1`),
    getTasks: named("get_tasks", `SELECT ${taskColumns} FROM ${s}.tasks WHERE run_id = $1 ORDER BY position`),
    listRuns: named(
      "list_runs",
      `SELECT r.run_id, r.crew, r.status, r.attempts, r.error, r.created_at, r.updated_at, r.kind, r.parent_run_id, r.parent_task,
              coalesce(t.task_count, 0)::integer AS task_count, coalesce(t.completed_count, 0)::integer AS completed_count
       FROM ${s}.runs r
       LEFT JOIN (
         SELECT run_id, count(*) AS task_count, count(*) FILTER (WHERE status IN ('completed', 'skipped')) AS completed_count
         FROM ${s}.tasks GROUP BY run_id
       ) t ON t.run_id = r.run_id
       ORDER BY r.created_at DESC, r.run_id DESC`,
    ),
    getEvents: named("get_events", `SELECT run_id, seq, task, type, at, data FROM ${s}.events WHERE run_id = $1 ORDER BY seq`),
    getCalls: named(
      "get_calls",
      `SELECT task, position, kind, request_hash, response, input_tokens, output_tokens, cost_usd, at
       FROM ${s}.calls WHERE run_id = $1 AND task = $2 ORDER BY position`,
    ),
    // The journals of the run's recorded tasks, in task order (what `exportRun` promises).
    getRunCalls: named(
      "get_run_calls",
      `SELECT c.task, c.position, c.kind, c.request_hash, c.response, c.input_tokens, c.output_tokens, c.cost_usd, c.at
       FROM ${s}.calls c JOIN ${s}.tasks t ON t.run_id = c.run_id AND t.name = c.task
       WHERE c.run_id = $1 ORDER BY t.position, c.position`,
    ),
    lockRun: named("lock_run", `SELECT 1 FROM ${s}.runs WHERE run_id = $1 FOR UPDATE`),
    // A deletion's checks, inside its transaction: the run's row locked first (every write takes it,
    // so no claim or commit comes between), then any lease still running by the server's clock.
    lockRunStatus: named("lock_run_status", `SELECT status FROM ${s}.runs WHERE run_id = $1 FOR UPDATE`),
    liveLease: named(
      "live_lease",
      `WITH ${clock}
       SELECT name, lease_expires_at FROM ${s}.tasks, clock
       WHERE run_id = $1 AND lease_expires_at IS NOT NULL AND lease_expires_at COLLATE "C" > ${iso("clock.now")} COLLATE "C"
       ORDER BY position LIMIT 1`,
    ),
    // The bytes of the run's stored payloads: inputs, outputs, event data, call responses.
    runBytes: named(
      "run_bytes",
      `SELECT (SELECT octet_length(inputs) FROM ${s}.runs WHERE run_id = $1)
            + (SELECT coalesce(sum(coalesce(octet_length(output), 0) + coalesce(octet_length(structured), 0)), 0) FROM ${s}.tasks WHERE run_id = $1)
            + (SELECT coalesce(sum(coalesce(octet_length(data), 0)), 0) FROM ${s}.events WHERE run_id = $1)
            + (SELECT coalesce(sum(octet_length(response)), 0) FROM ${s}.calls WHERE run_id = $1) AS bytes`,
    ),
    dropCompletedJournals: named(
      "drop_completed_journals",
      `WITH dropped AS (
         DELETE FROM ${s}.calls c USING ${s}.tasks t
         WHERE c.run_id = $1 AND t.run_id = c.run_id AND t.name = c.task AND t.status = 'completed'
         RETURNING octet_length(c.response) AS bytes
       )
       SELECT coalesce(sum(bytes), 0) AS bytes FROM dropped`,
    ),
    deleteRun: named(
      "delete_run",
      `WITH tasks AS (DELETE FROM ${s}.tasks WHERE run_id = $1),
            events AS (DELETE FROM ${s}.events WHERE run_id = $1),
            calls AS (DELETE FROM ${s}.calls WHERE run_id = $1)
       DELETE FROM ${s}.runs WHERE run_id = $1`,
    ),
    insertRun: named(
      "insert_run",
      `INSERT INTO ${s}.runs (${runColumns}, event_count) VALUES ($1, $2, $3, $4, $5::integer, $6, $7, $8, $9, $10, $11, $12::integer)`,
    ),
    importTasks: named(
      "import_tasks",
      `INSERT INTO ${s}.tasks (run_id, ${taskColumns})
       SELECT $1, ${taskColumns} FROM unnest(
         $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::integer[],
         $11::text[], $12::integer[], $13::integer[], $14::double precision[], $15::text[], $16::text[], $17::bigint[], $18::text[]
       ) WITH ORDINALITY AS u(${taskColumns}, ord)
       ORDER BY ord`,
    ),
    importEvents: named(
      "import_events",
      `INSERT INTO ${s}.events (run_id, seq, task, type, at, data)
       SELECT $1, ord, task, type, at, data
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(task, type, at, data, ord)`,
    ),
    // $1 run, $2..$10 the entries (callArrays)
    importCalls: named("import_calls", insertCalls(2)),
  };
}
