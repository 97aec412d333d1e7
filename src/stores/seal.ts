import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, createSecretKey, randomFillSync, type KeyObject } from "node:crypto";
import { CrewstateError, quote } from "../errors.js";
import { registerSecret } from "../redact.js";
import type { CallRecord, Inputs, JsonValue, NewEvent, Run, RunDump, RunEvent, TaskRecord } from "./store.js";

/**
 * Encryption at rest: the one place values are sealed and opened. The checked layer
 * (`base-store.ts`) seals on the way in and opens on the way out, so every back end stores only
 * sealed text and none of them knows. See docs/encryption.md.
 *
 * A sealed value is the string `cs1:<keyId>:<base64 of nonce (12) | ciphertext | tag (16)>`,
 * AES-256-GCM over the value's JSON text, with the run ID, the record (task name, or "" for the
 * run), the field and the key ID bound as associated data: a value moved to another record, run
 * or field does not open. Inputs and event data, which must stay objects, are `{"$sealed": …}`.
 */

export const SEALED_PREFIX = "cs1:";
const SEALED = /^cs1:([A-Za-z0-9_.-]{1,64}):([A-Za-z0-9+/]{40,}={0,2})$/;
const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface EncryptionKey {
  /** 32 bytes: base64 text or bytes. */
  key: string | Uint8Array;
  /** Default: derived from the key (`k` + 8 hex digits). */
  keyId?: string;
}

export interface EncryptionOptions extends EncryptionKey {
  /** Older keys, kept only to read values sealed with them (until `crewstate rekey`). */
  previous?: EncryptionKey[];
}

/** Where a sealed value belongs: its run, its record ("" for the run itself) and its field. */
export interface Binding {
  runId: string;
  task: string;
  field: string;
}

export function isSealed(value: unknown): value is string {
  return typeof value === "string" && SEALED.test(value);
}

/** `{"$sealed": "cs1:…"}`: how an object that must stay an object (inputs, event data) is kept sealed. */
function sealedObject(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  const sealed = (value as Record<string, unknown>).$sealed;
  return keys.length === 1 && isSealed(sealed) ? sealed : undefined;
}

function where(b: Binding): string {
  return b.task === "" ? `run ${quote(b.runId)}` : `task ${quote(b.task)} of run ${quote(b.runId)}`;
}

function context(b: Binding): { runId: string; task?: string } {
  return b.task === "" ? { runId: b.runId } : { runId: b.runId, task: b.task };
}

/** Refuses a sealed value read with no key: KEY_REQUIRED. */
function keyRequired(b: Binding, keyId: string): CrewstateError {
  return new CrewstateError(
    "KEY_REQUIRED",
    `${where(b)} holds values sealed with key ${quote(keyId)}, and no encryption key is set: set CREWSTATE_ENCRYPTION_KEY (or pass encryption to openStore)`,
    context(b),
  );
}

/** Refuses any sealed value found in `run` (or its dump) when there is no key. */
export function refuseSealed(value: unknown, b: Binding): void {
  const sealed = isSealed(value) ? value : sealedObject(value);
  if (sealed !== undefined) throw keyRequired(b, SEALED.exec(sealed)![1]!);
}

/** A key's bytes from base64 text or bytes; a one-line error naming `source` otherwise. */
function keyBytes(key: unknown, source: string): Buffer {
  if (typeof key === "string") {
    const text = key.trim();
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw new CrewstateError("INVALID_INPUT", `${source} is not base64: give 32 random bytes in base64 (e.g. \`openssl rand -base64 32\`)`);
    }
    const bytes = Buffer.from(text, "base64");
    registerSecret(text); // masked in every message and log, like an API key
    if (bytes.length !== 32) throw new CrewstateError("INVALID_INPUT", `${source} is ${bytes.length} bytes; an encryption key is exactly 32 bytes (44 base64 characters)`);
    return bytes;
  }
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw new CrewstateError("INVALID_INPUT", `${source} is ${key.length} bytes; an encryption key is exactly 32 bytes`);
    return Buffer.from(key);
  }
  throw new CrewstateError("INVALID_INPUT", `${source} must be 32 bytes, as base64 text or a Uint8Array`);
}

function keyIdOf(given: unknown, bytes: Buffer, source: string): string {
  if (given === undefined) return `k${createHash("sha256").update("crewstate key id\n").update(bytes).digest("hex").slice(0, 8)}`;
  if (typeof given !== "string" || !KEY_ID.test(given)) {
    throw new CrewstateError("INVALID_INPUT", `${source} ${JSON.stringify(String(given).slice(0, 80))} is not valid: use 1-64 letters, digits, '.', '_' or '-'`);
  }
  return given;
}

/** Holds the current key (which seals) and the older ones (which only open). */
export class Sealer {
  readonly keyId: string;
  private readonly keys = new Map<string, Buffer>();
  /** Random bytes drawn in bulk; every nonce is 12 fresh bytes of it, never reused. */
  private pool = Buffer.alloc(0);
  private poolAt = 0;
  /** The last keyed hashes made, by plain hash: a kickoff keys the same input hash more than once. */
  private readonly keyedCache = new Map<string, string>();
  /** Per key ID: the key keyed hashes are made with, derived (HKDF) from that encryption key. */
  private readonly hashKeys = new Map<string, KeyObject>();

  constructor(options: EncryptionOptions, names: KeyNames = OPTION_NAMES) {
    const bytes = keyBytes(options.key, names.key);
    this.keyId = keyIdOf(options.keyId, bytes, names.keyId);
    this.keys.set(this.keyId, bytes);
    (options.previous ?? []).forEach((old, i) => {
      const oldBytes = keyBytes(old.key, names.previous(i, "key"));
      const id = keyIdOf(old.keyId, oldBytes, names.previous(i, "keyId"));
      if (!this.keys.has(id)) this.keys.set(id, oldBytes);
    });
    for (const [id, key] of this.keys) this.hashKeys.set(id, createSecretKey(Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), "crewstate keyed hashes v1", 32))));
  }

  /** The keyed form of a plain hash: HMAC-SHA256 under a key derived (HKDF) from the current key. */
  readonly keyHash = (hash: string): string => {
    let keyed = this.keyedCache.get(hash);
    if (keyed === undefined) {
      keyed = this.keyHashWith(this.keyId, hash);
      if (this.keyedCache.size >= 256) this.keyedCache.delete(this.keyedCache.keys().next().value!);
      this.keyedCache.set(hash, keyed);
    }
    return keyed;
  };

  private nonce(): Buffer {
    if (this.poolAt + NONCE_BYTES > this.pool.length) {
      this.pool = randomFillSync(Buffer.allocUnsafe(NONCE_BYTES * 256));
      this.poolAt = 0;
    }
    const nonce = this.pool.subarray(this.poolAt, this.poolAt + NONCE_BYTES);
    this.poolAt += NONCE_BYTES;
    return nonce;
  }

  private keyHashWith(keyId: string, hash: string): string {
    return createHmac("sha256", this.hashKeys.get(keyId)!).update(hash).digest("hex");
  }

  /** Seals JSON text. */
  seal(text: string, b: Binding): string {
    const nonce = this.nonce();
    const cipher = createCipheriv("aes-256-gcm", this.keys.get(this.keyId)!, nonce);
    cipher.setAAD(associated(this.keyId, b));
    const body = Buffer.concat([nonce, cipher.update(text, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `${SEALED_PREFIX}${this.keyId}:${body.toString("base64")}`;
  }

  /** Opens a sealed value back to its JSON text; KEY_MISMATCH when no key has its ID, or it does not open. */
  open(sealed: string, b: Binding): string {
    const [, keyId, body] = SEALED.exec(sealed)!;
    const key = this.keys.get(keyId!);
    if (key === undefined) {
      throw new CrewstateError(
        "KEY_MISMATCH",
        `${where(b)} holds a value sealed with key ${quote(keyId)}, which is not among the keys given (${[...this.keys.keys()].map((k) => quote(k)).join(", ")}): add it to CREWSTATE_ENCRYPTION_KEYS`,
        context(b),
      );
    }
    const bytes = Buffer.from(body!, "base64");
    try {
      if (bytes.length < NONCE_BYTES + TAG_BYTES) throw new Error("too short");
      const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, NONCE_BYTES));
      decipher.setAAD(associated(keyId!, b));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString("utf8");
    } catch {
      throw new CrewstateError(
        "KEY_MISMATCH",
        `the ${b.field} of ${where(b)} does not open with key ${quote(keyId)}: the key is wrong, or the value was moved from another record`,
        context(b),
      );
    }
  }

  // --- values -------------------------------------------------------------------------------

  sealJson(value: JsonValue, b: Binding): string {
    return isSealed(value) ? value : this.seal(JSON.stringify(value), b);
  }

  openJson(value: unknown, b: Binding): JsonValue {
    return isSealed(value) ? (JSON.parse(this.open(value, b)) as JsonValue) : (value as JsonValue);
  }

  sealObject<T extends object>(value: T, b: Binding): T {
    if (sealedObject(value) !== undefined) return value;
    return { $sealed: this.seal(JSON.stringify(value), b) } as unknown as T;
  }

  openObject<T extends object>(value: T, b: Binding): T {
    const sealed = sealedObject(value);
    return sealed === undefined ? value : (JSON.parse(this.open(sealed, b)) as T);
  }

  // --- records ------------------------------------------------------------------------------

  /**
   * A task record as stored: output (always, so a sealed record is known by it), structured output
   * and error sealed, the output hash keyed. A record already sealed (a dump moving as it is) is
   * left alone.
   */
  sealTask(runId: string, task: TaskRecord): TaskRecord {
    if (isSealed(task.output)) return task;
    // A record holding nothing to seal (a claimed or started task) stays as it is.
    if (task.output === null && task.structured === null && task.error === null && task.outputHash === null) return task;
    const b = (field: string): Binding => ({ runId, task: task.name, field });
    return {
      ...task,
      output: this.seal(JSON.stringify(task.output), b("output")),
      structured: task.structured === null ? null : this.sealJson(task.structured, b("structured output")),
      error: task.error === null ? null : this.sealJson(task.error, b("error")),
      outputHash: task.outputHash === null ? null : this.keyHash(task.outputHash),
    };
  }

  /**
   * A stored task record opened. Its output hash comes back plain when the keyed one matches the
   * opened output; otherwise as stored, which the layer's output check then refuses.
   */
  openTask(runId: string, task: TaskRecord, plainOutputHash: (output: string, structured: JsonValue | null) => string): TaskRecord {
    if (!isSealed(task.output)) return task;
    const b = (field: string): Binding => ({ runId, task: task.name, field });
    const output = JSON.parse(this.open(task.output, b("output"))) as string | null;
    const structured = task.structured === null ? null : this.openJson(task.structured, b("structured output"));
    const error = task.error === null ? null : (this.openJson(task.error, b("error")) as string);
    let outputHash = task.outputHash;
    if (outputHash !== null) {
      const plain = plainOutputHash(output ?? "", structured);
      // Keyed with the key that sealed the output (an older one until a rekey).
      if (this.keyHashWith(SEALED.exec(task.output)![1]!, plain) === outputHash) outputHash = plain;
    }
    return { ...task, output, structured, error, outputHash };
  }

  sealInputs(runId: string, inputs: Inputs): Inputs {
    return this.sealObject(inputs, { runId, task: "", field: "inputs" });
  }

  sealRunError(runId: string, error: string | null): string | null {
    return error === null ? null : this.sealJson(error, { runId, task: "", field: "error" });
  }

  openRun(run: Run, plainOutputHash: (output: string, structured: JsonValue | null) => string): Run {
    const b = (field: string): Binding => ({ runId: run.runId, task: "", field });
    return {
      ...run,
      inputs: this.openObject(run.inputs, b("inputs")),
      error: run.error === null ? null : (this.openJson(run.error, b("error")) as string),
      tasks: run.tasks.map((t) => this.openTask(run.runId, t, plainOutputHash)),
    };
  }

  sealEvent<E extends NewEvent | RunEvent>(runId: string, event: E): E {
    if (event.data == null) return event;
    return { ...event, data: this.sealObject(event.data, { runId, task: event.task ?? "", field: `data of a ${event.type} event` }) };
  }

  openEvent(event: RunEvent): RunEvent {
    if (event.data === null) return event;
    return { ...event, data: this.openObject(event.data, { runId: event.runId, task: event.task ?? "", field: `data of a ${event.type} event` }) };
  }

  sealCall(runId: string, call: CallRecord): CallRecord {
    return { ...call, response: this.sealJson(call.response, callBinding(runId, call)) };
  }

  openCall(runId: string, call: CallRecord): CallRecord {
    return { ...call, response: this.openJson(call.response, callBinding(runId, call)) };
  }

  sealDump(dump: RunDump): RunDump {
    const runId = dump.run.runId;
    return {
      run: { ...dump.run, inputs: this.sealInputs(runId, dump.run.inputs), error: this.sealRunError(runId, dump.run.error), tasks: dump.run.tasks.map((t) => this.sealTask(runId, t)) },
      events: dump.events.map((e) => this.sealEvent(runId, e)),
      calls: dump.calls.map((c) => this.sealCall(runId, c)),
    };
  }
}

function callBinding(runId: string, call: CallRecord): Binding {
  return { runId, task: call.task, field: `response of ${call.kind} call ${call.position}` };
}

function associated(keyId: string, b: Binding): Buffer {
  // NUL cannot occur in a key ID, run ID, task name or field name, so the joined text is unambiguous.
  return Buffer.from(`cs1\u0000${keyId}\u0000${b.runId}\u0000${b.task}\u0000${b.field}`, "utf8");
}

/** Refuses, with KEY_REQUIRED, a stored run or dump holding any sealed value, read with no key. */
export function refuseSealedRun(run: Run): void {
  refuseSealed(run.inputs, { runId: run.runId, task: "", field: "inputs" });
  refuseSealed(run.error, { runId: run.runId, task: "", field: "error" });
  for (const t of run.tasks) for (const v of [t.output, t.structured, t.error]) refuseSealed(v, { runId: run.runId, task: t.name, field: "output" });
}

/** What each key setting is called where it was given, for error messages. */
export interface KeyNames {
  key: string;
  keyId: string;
  previous(index: number, field: "key" | "keyId"): string;
}

const OPTION_NAMES: KeyNames = { key: "encryption.key", keyId: "encryption.keyId", previous: (i, f) => `encryption.previous[${i}].${f}` };
const ENV_NAMES: KeyNames = {
  key: "CREWSTATE_ENCRYPTION_KEY",
  keyId: "CREWSTATE_ENCRYPTION_KEY_ID",
  previous: (i, f) => `CREWSTATE_ENCRYPTION_KEYS item ${i + 1}${f === "keyId" ? " (its key ID)" : ""}`,
};

/**
 * The keys the environment gives: `CREWSTATE_ENCRYPTION_KEY` (with `CREWSTATE_ENCRYPTION_KEY_ID`)
 * seals, and older keys in `CREWSTATE_ENCRYPTION_KEYS="id:base64,…"` only open. Undefined when unset.
 */
export function encryptionFromEnv(env: NodeJS.ProcessEnv = process.env): EncryptionOptions | undefined {
  const key = env.CREWSTATE_ENCRYPTION_KEY;
  if (key === undefined || key === "") {
    if (env.CREWSTATE_ENCRYPTION_KEYS) throw new CrewstateError("INVALID_INPUT", "CREWSTATE_ENCRYPTION_KEYS is set without CREWSTATE_ENCRYPTION_KEY: the current key seals, the listed ones only open");
    return undefined;
  }
  const previous: EncryptionKey[] = [];
  for (const [i, item] of (env.CREWSTATE_ENCRYPTION_KEYS ?? "").split(",").entries()) {
    if (item.trim() === "") continue;
    const colon = item.indexOf(":");
    if (colon < 1) throw new CrewstateError("INVALID_INPUT", `CREWSTATE_ENCRYPTION_KEYS item ${i + 1} is not keyId:base64`);
    previous.push({ keyId: item.slice(0, colon).trim(), key: item.slice(colon + 1).trim() });
  }
  const keyId = env.CREWSTATE_ENCRYPTION_KEY_ID || undefined;
  return { key, ...(keyId === undefined ? {} : { keyId }), previous };
}

/** The encryption in force: the option given, else the environment's (see `encryptionFromEnv`); undefined when neither. */
export function sealerFrom(options: EncryptionOptions | undefined, env: NodeJS.ProcessEnv = process.env): Sealer | undefined {
  if (options !== undefined) return new Sealer(options, OPTION_NAMES);
  const fromEnv = encryptionFromEnv(env);
  return fromEnv && new Sealer(fromEnv, ENV_NAMES);
}
