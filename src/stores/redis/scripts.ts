/**
 * The Lua scripts behind the Redis store. Redis runs a script atomically, so each mutating
 * operation — its checks (run exists, fencing token, crew) and all of its writes — happens
 * completely or not at all, and no other client sees it half done.
 *
 * Keys of one run, under the store's prefix P (the run ID cannot contain ':'):
 *   P run:<id>               hash    crew, inputs, error, parent (JSON); kind, status, attempts, created_at, updated_at,
 *                                    next_position (a run without kind is a crew run, one without parent has none)
 *   P run:<id>:tasks         hash    task name → task record (JSON) without its lease fields
 *   P run:<id>:order         zset    task name, scored by the position it was first recorded at
 *   P run:<id>:leases        hash    task name → the record's lease fields, "<token>\n<expiry JSON>\n<worker JSON>"
 *                                    (what commits are fenced by and claims decided on; kept apart
 *                                    from the record so a script never decodes or re-encodes it)
 *   P run:<id>:completed     set     names of the completed tasks (for run summaries)
 *   P run:<id>:events        list    events (JSON, without seq: an event's seq is its index + 1)
 *   P run:<id>:journals      set     names of the tasks that have a call journal
 *   P run:<id>:calls:<task>  hash    call position → call record (JSON)
 * and of the store: P version (schema version), P runs (zset of run IDs by creation time) and
 * P op:<uuid>, the idempotency key of a recent write: a write that finds its key already set
 * was applied before (its reply was lost) and does nothing. A granted claim — by `claimTask`, or
 * as the next claim of a commit — stores the lease it wrote there: a retry that finds it still the
 * task's lease returns it rather than a new token.
 *
 * Lease expiry is judged by the server's clock (TIME, inside the script) and written as ISO-8601
 * UTC with milliseconds, as `Date.toISOString()` prints it; expiries compare as byte strings.
 *
 * Every script returns a table whose first element says what happened.
 */
export interface ScriptDefinition {
  numberOfKeys: number;
  lua: string;
}

const alreadyApplied = `if redis.call('EXISTS', KEYS[#KEYS]) == 1 then return {'done'} end`;
const remember = `redis.call('SET', KEYS[#KEYS], '1', 'EX', ARGV[#ARGV])`;

/**
 * Lua helpers of the lease scripts. A lease entry is "<token>\n<expiry JSON>\n<worker JSON>"
 * (JSON never holds a raw newline). Lua's own string order follows the server's locale, so
 * expiries are compared byte by byte; `now` reads TIME (effects replication, the only mode of
 * Redis 7, makes that safe in a writing script).
 */
const leaseLib = `
      local function parse(entry)
        return string.match(entry, '^([^\\n]*)\\n([^\\n]*)\\n(.*)$')
      end
      local function later(a, b)
        local n = math.min(#a, #b)
        for i = 1, n do
          local x, y = string.byte(a, i), string.byte(b, i)
          if x ~= y then return x > y end
        end
        return #a > #b
      end
      local function iso(ms)
        local s = math.floor(ms / 1000)
        local days = math.floor(s / 86400)
        local secs = s - days * 86400
        local z = days + 719468
        local era = math.floor(z / 146097)
        local doe = z - era * 146097
        local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
        local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
        local mp = math.floor((5 * doy + 2) / 153)
        local d = doy - math.floor((153 * mp + 2) / 5) + 1
        local m = mp < 10 and mp + 3 or mp - 9
        local y = yoe + era * 400
        if m <= 2 then y = y + 1 end
        return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
          math.floor(secs / 3600), math.floor(secs / 60) % 60, secs % 60, ms - s * 1000)
      end
      local function now()
        local t = redis.call('TIME')
        return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      end
      local function grant(entry)
        local tok, expiry = parse(entry)
        return {'granted', tok, string.sub(expiry, 2, -2)}
      end`;

/**
 * Why a run may not be deleted now (needs leaseLib): no run, `running` or `paused`, or a task
 * lease still running by the server's clock; nil when it may.
 */
const busyLib = `
      local function refusal(meta, leases)
        if redis.call('EXISTS', meta) == 0 then return {'no_run'} end
        local status = redis.call('HGET', meta, 'status')
        if status == 'running' or status == 'paused' then return {'busy', status} end
        local clock = iso(now())
        local entries = redis.call('HGETALL', leases)
        for i = 1, #entries, 2 do
          local _, expiry = parse(entries[i + 1])
          if expiry and expiry ~= 'null' and later(string.sub(expiry, 2, -2), clock) then
            return {'busy', status, entries[i], string.sub(expiry, 2, -2)}
          end
        end
        return nil
      end`;


/**
 * Lua helpers that write a task, for scripts whose KEYS begin meta tasks order leases completed
 * events. `place` gives a task recorded for the first time (`added` = 1) the run's next position;
 * `write` upserts a record and its lease entry; `commit` writes them and their event as a commit does.
 */
const taskLib = `
      local function place(name, added)
        if added == 1 then redis.call('ZADD', KEYS[3], redis.call('HINCRBY', KEYS[1], 'next_position', 1), name) end
      end
      local function write(name, record, lease, status)
        place(name, redis.call('HSET', KEYS[2], name, record))
        redis.call('HSET', KEYS[4], name, lease)
        if status == 'completed' or status == 'skipped' then redis.call('SADD', KEYS[5], name) else redis.call('SREM', KEYS[5], name) end
      end
      local function commit(name, record, lease, status, event, at)
        write(name, record, lease, status)
        redis.call('HSET', KEYS[1], 'updated_at', at)
        redis.call('RPUSH', KEYS[6], event)
      end`;

/**
 * Lua helper that sets a run's status: its status, error ('' = none) and update time in the run's
 * hash `meta`, and its event appended to `events`.
 */
const statusLib = `
      local function setStatus(meta, events, status, err, at, event)
        redis.call('HSET', meta, 'status', status, 'updated_at', at)
        if err == '' then redis.call('HDEL', meta, 'error') else redis.call('HSET', meta, 'error', err) end
        redis.call('RPUSH', events, event)
      end`;

/**
 * Lua helper of the scripts that write call journals: `journal` records a call entry at its
 * position in the task's calls hash (replacing the call there) and the task among the run's journals.
 */
const journalLib = `
      local function journal(calls, journals, task, position, entry)
        redis.call('HSET', calls, position, entry)
        redis.call('SADD', journals, task)
      end`;

/**
 * Lua helper of the fenced writes: `fenced` returns the task's current fencing token (the first
 * line of its lease entry; '0' for a task without one) when a required token is given ('' = none)
 * and differs from it, and nil when the write may go ahead.
 */
const fenceLib = `
      local function fenced(leases, name, required)
        if required == '' then return nil end
        local lease = redis.call('HGET', leases, name)
        local current = lease and string.match(lease, '^[^\\n]*') or '0'
        if tonumber(current) ~= tonumber(required) then return current end
        return nil
      end`;

/**
 * The claim, written once for `claimTask` and for the next claim of a commit (needs leaseLib,
 * taskLib and fenceLib; KEYS begin meta tasks order leases completed events).
 * claim(name, worker JSON, ttlMs, takeOverFrom JSON ('' = none), seenToken ('' = none), record,
 * status, event ('' = no start), at) → {'granted', token, expiresAt}, leaseEntry | {'held'} | {'fenced', currentToken}
 *
 * Granted when the task has no lease, or its lease has run out by the server's clock, or it is
 * held by this worker or by takeOverFrom — and, when seenToken is given, the task's token (0
 * without a lease entry) still is seenToken (else 'fenced'): the token grows by one and the lease
 * entry gets the worker and now + ttl. Without an event, a task without a record gets `record` (a
 * pending one) and nothing else changes; with one (a start), `record` becomes the task's record
 * and the event is appended, as a commit at `at` would. A refused claim writes nothing.
 */
const claimLib = `
      local function claim(name, worker, ttl, takeOver, seen, record, status, event, at)
        local current = redis.call('HGET', KEYS[4], name)
        local token = 0
        local clock = now()
        if current then
          local tok, expiry, holder = parse(current)
          token = tonumber(tok)
          if expiry ~= 'null' and later(string.sub(expiry, 2, -2), iso(clock)) and holder ~= worker and holder ~= takeOver then
            return {'held'}
          end
        end
        local moved = fenced(KEYS[4], name, seen)
        if moved then return {'fenced', moved} end
        token = token + 1
        local text = token == math.floor(token) and string.format('%d', token) or tostring(token)
        local expires = iso(clock + tonumber(ttl))
        local lease = text .. '\\n"' .. expires .. '"\\n' .. worker
        if event == '' then
          place(name, redis.call('HSETNX', KEYS[2], name, record))
          redis.call('HSET', KEYS[4], name, lease)
        else
          commit(name, record, lease, status, event, at)
        end
        return {'granted', text, expires}, lease
      end`;

/**
 * The begin of a run, written once for `crewstateBeginRun` and for a reuse that begins its run.
 * beginRefused(meta, crew JSON, kind) → nil (it may go ahead) | {'mismatch', crew} | {'kind_mismatch', kind}.
 * begin(meta, runs, events, runId, crew JSON, inputs JSON, at, score, kind, parent ('' = none),
 * planned event ('' = none)) creates the run (attempts 1), or sets it running again (attempts + 1,
 * the inputs, no error; it keeps its kind and parent), and appends `run_started` (and the plan's).
 */
const beginLib = `
      local function beginRefused(meta, crew, kind)
        local theirs = redis.call('HGET', meta, 'crew')
        if not theirs then return nil end
        if theirs ~= crew and theirs ~= '""' then return {'mismatch', theirs} end
        local k = redis.call('HGET', meta, 'kind') or 'crew'
        if k ~= kind then return {'kind_mismatch', k} end
        return nil
      end
      local function begin(meta, runs, events, runId, crew, inputs, at, score, kind, parent, planned)
        local attempts = 1
        if redis.call('HGET', meta, 'crew') then
          attempts = redis.call('HINCRBY', meta, 'attempts', 1)
          redis.call('HSET', meta, 'crew', crew, 'inputs', inputs, 'status', 'running', 'updated_at', at)
          redis.call('HDEL', meta, 'error')
        else
          redis.call('HSET', meta, 'crew', crew, 'kind', kind, 'inputs', inputs, 'status', 'running', 'attempts', 1,
            'created_at', at, 'updated_at', at, 'next_position', 0)
          if parent ~= '' then redis.call('HSET', meta, 'parent', parent) end
          redis.call('ZADD', runs, score, runId)
        end
        redis.call('RPUSH', events,
          '{"task":null,"type":"run_started","at":' .. cjson.encode(at) .. ',"data":{"attempt":' .. attempts .. '}}')
        if planned ~= '' then redis.call('RPUSH', events, planned) end
      end`;

export const SCRIPTS = {
  /** KEYS version · ARGV code version → {'created'} | {'found', version}. Writes only when absent. */
  crewstateOpen: {
    numberOfKeys: 1,
    lua: `
      local found = redis.call('GET', KEYS[1])
      if found then return {'found', found} end
      redis.call('SET', KEYS[1], ARGV[1])
      return {'created'}`,
  },

  /**
   * KEYS meta runs events tasks order leases op
   * ARGV runId crew inputs at score kind parent('' = none) planned('' = none) ttl
   * → {'ok' | 'done', meta, order, tasks, leases} (the run as it stands after the begin: HGETALL and
   * ZRANGE replies) | {'mismatch', crew} | {'kind_mismatch', kind}. An existing run keeps its kind
   * and parent. A planned event (`run_planned`) follows `run_started`.
   */
  crewstateBeginRun: {
    numberOfKeys: 7,
    lua: `
      local function run(outcome)
        return {outcome, redis.call('HGETALL', KEYS[1]), redis.call('ZRANGE', KEYS[5], 0, -1),
          redis.call('HGETALL', KEYS[4]), redis.call('HGETALL', KEYS[6])}
      end
      ${beginLib}
      if redis.call('EXISTS', KEYS[7]) == 1 then return run('done') end
      local refused = beginRefused(KEYS[1], ARGV[2], ARGV[6])
      if refused then return refused end
      begin(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
      ${remember}
      return run('ok')`,
  },

  /**
   * KEYS meta tasks order leases completed events calls journals op
   * ARGV name record lease status requiredToken('' = none) fencedBy('' = the task) event at
   *      nextTask('' = none) nextWorker(JSON) nextTtlMs nextSeenToken nextRecord nextStatus nextEvent
   *      endStatus('' = none) endError('' = none) endEvent (position call)… ttl
   * → ok | done | {'granted', token, expiresAt} | no_run | {'fenced', currentToken}
   *
   * One commit of a task: the fence check, then the record, its event and its calls; then the claim
   * of the next task (judged by `claim`, as `claimTask` judges it: refused, it writes nothing of
   * its own); then the run's status and its event. Fenced out, nothing is written. The op key
   * keeps the lease the next claim was granted ('1' otherwise): a retry returns that lease while
   * it is still the task's, and changes nothing.
   */
  crewstateSaveTask: {
    numberOfKeys: 9,
    lua: `
      ${leaseLib}
      ${taskLib}
      ${statusLib}
      ${journalLib}
      ${fenceLib}
      ${claimLib}
      local applied = redis.call('GET', KEYS[9])
      if applied then
        if ARGV[9] ~= '' and applied ~= '1' and redis.call('HGET', KEYS[4], ARGV[9]) == applied then return grant(applied) end
        return {'done'}
      end
      if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_run'} end
      local name = ARGV[1]
      local current = fenced(KEYS[4], ARGV[6] ~= '' and ARGV[6] or name, ARGV[5])
      if current then return {'fenced', current} end
      commit(name, ARGV[2], ARGV[3], ARGV[4], ARGV[7], ARGV[8])
      for i = 19, #ARGV - 1, 2 do journal(KEYS[7], KEYS[8], name, ARGV[i], ARGV[i + 1]) end
      local result, lease = {'ok'}, nil
      if ARGV[9] ~= '' then
        result, lease = claim(ARGV[9], ARGV[10], ARGV[11], '', ARGV[12], ARGV[13], ARGV[14], ARGV[15], ARGV[8])
        if not lease then result = {'ok'} end
      end
      if ARGV[16] ~= '' then setStatus(KEYS[1], KEYS[6], ARGV[16], ARGV[17], ARGV[8], ARGV[18]) end
      redis.call('SET', KEYS[9], lease or '1', 'EX', ARGV[#ARGV])
      return result`,
  },

  /**
   * KEYS meta tasks order leases completed events runs op
   * ARGV at event('' = none) endStatus('' = none) endError('' = none) endEvent
   *      beginCrew('' = no begin) beginInputs beginScore beginKind beginParent beginPlanned runId
   *      (name record lease status token)… ttl
   * → ok | done | no_run | {'fenced', task, currentToken} | {'mismatch', crew} | {'kind_mismatch', kind}
   *
   * Reused results in one commit: the begin (as `crewstateBeginRun`'s) may go ahead, and each
   * task's lease token (0 without a lease entry) must still be the token it was read with, else
   * nothing is written; then the run is begun (when beginCrew is given), every record upserted,
   * the one event appended (when given), and the run's status set when endStatus is given.
   */
  crewstateReuseTasks: {
    numberOfKeys: 8,
    lua: `
      ${alreadyApplied}
      ${taskLib}
      ${statusLib}
      ${fenceLib}
      ${beginLib}
      if ARGV[6] == '' then
        if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_run'} end
      else
        local refused = beginRefused(KEYS[1], ARGV[6], ARGV[9])
        if refused then return refused end
      end
      for i = 13, #ARGV - 1, 5 do
        local current = fenced(KEYS[4], ARGV[i], ARGV[i + 4])
        if current then return {'fenced', ARGV[i], current} end
      end
      if ARGV[6] ~= '' then begin(KEYS[1], KEYS[7], KEYS[6], ARGV[12], ARGV[6], ARGV[7], ARGV[1], ARGV[8], ARGV[9], ARGV[10], ARGV[11]) end
      for i = 13, #ARGV - 1, 5 do write(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]) end
      redis.call('HSET', KEYS[1], 'updated_at', ARGV[1])
      if ARGV[2] ~= '' then redis.call('RPUSH', KEYS[6], ARGV[2]) end
      if ARGV[3] ~= '' then setStatus(KEYS[1], KEYS[6], ARGV[3], ARGV[4], ARGV[1], ARGV[5]) end
      ${remember}
      return {'ok'}`,
  },

  /** KEYS meta events op · ARGV status error('' = none) at event ttl → ok | done | no_run */
  crewstateSetRunStatus: {
    numberOfKeys: 3,
    lua: `
      ${alreadyApplied}
      ${statusLib}
      if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_run'} end
      setStatus(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
      ${remember}
      return {'ok'}`,
  },

  /**
   * KEYS meta tasks order leases completed events journals calls op · ARGV name at event ttl
   * → removed | absent | done | no_run
   */
  crewstateRemoveTask: {
    numberOfKeys: 9,
    lua: `
      ${alreadyApplied}
      if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_run'} end
      local name = ARGV[1]
      if redis.call('HDEL', KEYS[2], name) == 0 then return {'absent'} end
      redis.call('ZREM', KEYS[3], name)
      redis.call('HDEL', KEYS[4], name)
      redis.call('SREM', KEYS[5], name)
      redis.call('DEL', KEYS[8])
      redis.call('SREM', KEYS[7], name)
      redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
      redis.call('RPUSH', KEYS[6], ARGV[3])
      ${remember}
      return {'removed'}`,
  },

  /**
   * KEYS meta tasks order leases completed events op
   * ARGV name worker(JSON) ttlMs takeOverFrom(JSON, '' = none) seenToken('' = none) record status
   *      event('' = no start) at opTtl
   * → {'granted', token, expiresAt} | held | {'fenced', currentToken} | no_run
   *
   * The claim as `claim` judges and writes it. A grant stores its lease entry under the op key: a
   * retry that finds that entry still the task's returns the same lease (before either check, as
   * the token it saw has since grown by the grant).
   */
  crewstateClaimTask: {
    numberOfKeys: 7,
    lua: `
      ${leaseLib}
      ${taskLib}
      ${fenceLib}
      ${claimLib}
      if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_run'} end
      local current = redis.call('HGET', KEYS[4], ARGV[1])
      if current and redis.call('GET', KEYS[7]) == current then return grant(current) end
      local result, lease = claim(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
      if lease then redis.call('SET', KEYS[7], lease, 'EX', ARGV[10]) end
      return result`,
  },

  /**
   * KEYS meta leases · ARGV name token ttlMs → {'renewed', expiresAt, worker} | {'fenced', currentToken} | no_run.
   * Renewing again is harmless, so a retry needs no op key.
   */
  crewstateHeartbeat: {
    numberOfKeys: 2,
    lua: `
      ${leaseLib}
      if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_run'} end
      local current = redis.call('HGET', KEYS[2], ARGV[1])
      if not current then return {'fenced', '0'} end
      local tok, _, worker = parse(current)
      if tonumber(tok) ~= tonumber(ARGV[2]) then return {'fenced', tok} end
      local expires = iso(now() + tonumber(ARGV[3]))
      redis.call('HSET', KEYS[2], ARGV[1], tok .. '\\n"' .. expires .. '"\\n' .. worker)
      return {'renewed', expires, worker}`,
  },

  /** KEYS leases · ARGV name token → released | stale. Clears the expiry, keeping the worker; idempotent. */
  crewstateReleaseTask: {
    numberOfKeys: 1,
    lua: `
      ${leaseLib}
      local current = redis.call('HGET', KEYS[1], ARGV[1])
      if not current then return {'stale'} end
      local tok, _, worker = parse(current)
      if tonumber(tok) ~= tonumber(ARGV[2]) then return {'stale'} end
      redis.call('HSET', KEYS[1], ARGV[1], tok .. '\\nnull\\n' .. worker)
      return {'released'}`,
  },

  /**
   * KEYS meta calls journals leases · ARGV task position call requiredToken('' = none) fencedBy('' = the task)
   * → ok | no_run | {'fenced', currentToken}. Replaying it changes nothing.
   */
  crewstateRecordCall: {
    numberOfKeys: 4,
    lua: `
      ${journalLib}
      ${fenceLib}
      if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_run'} end
      local current = fenced(KEYS[4], ARGV[5] ~= '' and ARGV[5] or ARGV[1], ARGV[4])
      if current then return {'fenced', current} end
      journal(KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3])
      return {'ok'}`,
  },

  /** KEYS meta calls journals · ARGV task → ok | no_run */
  crewstateClearCalls: {
    numberOfKeys: 3,
    lua: `
      if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_run'} end
      redis.call('DEL', KEYS[2])
      redis.call('SREM', KEYS[3], ARGV[1])
      return {'ok'}`,
  },

  /**
   * KEYS meta runs tasks order leases completed events journals op
   * ARGV overwrite('1'|'0') runId score callsPrefix
   *      crew inputs status attempts error('' = none) created_at updated_at kind parent('' = none)
   *      taskCount (name record lease status)… eventCount (event)… callCount (task position call)… ttl
   * → ok | done | exists
   *
   * Replacing a run deletes its call journals by name (callsPrefix .. task): keys not passed in
   * KEYS, which a Redis Cluster would refuse — give the prefix a {hash tag} there.
   */
  crewstateImportRun: {
    numberOfKeys: 9,
    lua: `
      ${alreadyApplied}
      ${journalLib}
      local meta, runs, tasks, order, leases, completed, events, journals =
        KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
      if redis.call('EXISTS', meta) == 1 then
        if ARGV[1] ~= '1' then return {'exists'} end
        for _, task in ipairs(redis.call('SMEMBERS', journals)) do redis.call('DEL', ARGV[4] .. task) end
        redis.call('DEL', meta, tasks, order, leases, completed, events, journals)
      end
      local i = 14
      local taskCount = tonumber(ARGV[i])
      redis.call('HSET', meta, 'crew', ARGV[5], 'kind', ARGV[12], 'inputs', ARGV[6], 'status', ARGV[7], 'attempts', ARGV[8],
        'created_at', ARGV[10], 'updated_at', ARGV[11], 'next_position', taskCount)
      if ARGV[9] ~= '' then redis.call('HSET', meta, 'error', ARGV[9]) end
      if ARGV[13] ~= '' then redis.call('HSET', meta, 'parent', ARGV[13]) end
      redis.call('ZADD', runs, ARGV[3], ARGV[2])
      for position = 1, taskCount do
        local name = ARGV[i + 1]
        redis.call('HSET', tasks, name, ARGV[i + 2])
        redis.call('ZADD', order, position, name)
        redis.call('HSET', leases, name, ARGV[i + 3])
        if ARGV[i + 4] == 'completed' or ARGV[i + 4] == 'skipped' then redis.call('SADD', completed, name) end
        i = i + 4
      end
      i = i + 1
      local eventCount = tonumber(ARGV[i])
      for _ = 1, eventCount do
        i = i + 1
        redis.call('RPUSH', events, ARGV[i])
      end
      i = i + 1
      local callCount = tonumber(ARGV[i])
      for _ = 1, callCount do
        journal(ARGV[4] .. ARGV[i + 1], journals, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
        i = i + 3
      end
      ${remember}
      return {'ok'}`,
  },

  /**
   * KEYS meta runs tasks order leases completed events journals op · ARGV runId callsPrefix ttl
   * → {'ok', bytes} | {'busy', status[, task, expiresAt]} | no_run | done
   *
   * Deletes the run whole unless it is running or paused, or a task's lease has not run out by
   * the server's clock. bytes: the lengths of the run's inputs, task records, events and calls
   * as stored. Call journals are deleted by name (callsPrefix .. task), as an import replaces them.
   */
  crewstateDeleteRun: {
    numberOfKeys: 9,
    lua: `
      ${alreadyApplied}
      ${leaseLib}
      ${busyLib}
      local meta, runs, tasks, order, leases, completed, events, journals =
        KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
      local refused = refusal(meta, leases)
      if refused then return refused end
      local bytes = redis.call('HSTRLEN', meta, 'inputs')
      for _, record in ipairs(redis.call('HVALS', tasks)) do bytes = bytes + #record end
      for _, event in ipairs(redis.call('LRANGE', events, 0, -1)) do bytes = bytes + #event end
      for _, task in ipairs(redis.call('SMEMBERS', journals)) do
        for _, call in ipairs(redis.call('HVALS', ARGV[2] .. task)) do bytes = bytes + #call end
        redis.call('DEL', ARGV[2] .. task)
      end
      redis.call('DEL', meta, tasks, order, leases, completed, events, journals)
      redis.call('ZREM', runs, ARGV[1])
      ${remember}
      return {'ok', tostring(bytes)}`,
  },

  /**
   * KEYS meta tasks leases completed journals op · ARGV callsPrefix ttl
   * → {'ok', bytes} | {'busy', status[, task, expiresAt]} | no_run | done
   *
   * Deletes the call journals of the run's completed tasks (a record's status follows its JSON
   * name: a quote inside a name is escaped, so the first '","status":"' is the record's own),
   * judged as crewstateDeleteRun judges.
   */
  crewstateDropJournals: {
    numberOfKeys: 6,
    lua: `
      ${alreadyApplied}
      ${leaseLib}
      ${busyLib}
      local meta, tasks, leases, completed, journals = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
      local refused = refusal(meta, leases)
      if refused then return refused end
      local bytes = 0
      for _, task in ipairs(redis.call('SINTER', completed, journals)) do
        local record = redis.call('HGET', tasks, task)
        local _, _, taskStatus = string.find(record or '', '","status":"(%a+)"')
        if taskStatus == 'completed' then
          for _, call in ipairs(redis.call('HVALS', ARGV[1] .. task)) do bytes = bytes + #call end
          redis.call('DEL', ARGV[1] .. task)
          redis.call('SREM', journals, task)
        end
      end
      ${remember}
      return {'ok', tostring(bytes)}`,
  },
} satisfies Record<string, ScriptDefinition>;

export type ScriptName = keyof typeof SCRIPTS;
