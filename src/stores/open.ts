import { existsSync } from "node:fs";
import { CrewstateError, quote } from "../errors.js";
import { redactUrl, registerUrlSecrets } from "../redact.js";
import { MemoryStore } from "./memory/store.js";
import { retentionRules, type RetentionOptions } from "../runs/prune-plan.js";
import { setStoreRetention } from "../runs/prune.js";
import { BaseStore } from "./base-store.js";
import { sealerFrom, type EncryptionOptions } from "./seal.js";
import type { Store } from "./store.js";

export const DEFAULT_STORE_URL = "sqlite:.crewstate/state.db";

/** The store URL in force: the one given, else `CREWSTATE_STORE`, else the SQLite default. */
export function storeUrlFrom(given?: string): string {
  return given ?? process.env.CREWSTATE_STORE ?? DEFAULT_STORE_URL;
}

export interface OpenStoreOptions {
  /** A file store that is not there is STORE_NOT_FOUND instead of being created. */
  mustExist?: boolean;
  /**
   * Only read: no file is created or changed, no schema created or migrated, nothing compacted;
   * the store must exist. Writes through the store fail.
   */
  readOnly?: boolean;
  /**
   * Rules applied at the end of each run kicked off on this store (after the run's final status
   * commit), as `crewstate prune` applies them; the run just finished is never removed, and a
   * failure is a warning, never the run's. See docs/retention.md.
   */
  retention?: RetentionOptions;
  /**
   * Encryption at rest (see docs/encryption.md): the key that seals, and older ones that only
   * open. Default: from `CREWSTATE_ENCRYPTION_KEY` (+ `_KEY_ID`, and `CREWSTATE_ENCRYPTION_KEYS`
   * for older keys); off when neither is given.
   */
  encryption?: EncryptionOptions;
}

/**
 * Opens the store a URL names:
 * `memory:`, `sqlite:<path>`, `json:<path>`, `postgres://…[?schema=name]`, `redis://…[?prefix=p]`.
 * Drivers of the server back ends are loaded only when their scheme is used.
 */
export async function openStore(url: string = storeUrlFrom(), options: OpenStoreOptions = {}): Promise<Store> {
  // Bad rules and a bad key are refused before any file is created or connection made.
  if (options.retention !== undefined) retentionRules(options.retention);
  const sealer = sealerFrom(options.encryption);
  const store = await openBackEnd(url, options);
  if (sealer && store instanceof BaseStore) store.useEncryption(sealer);
  if (options.retention !== undefined) setStoreRetention(store, options.retention, url);
  return store;
}

async function openBackEnd(url: string, options: OpenStoreOptions): Promise<Store> {
  const readOnly = options.readOnly === true;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  registerUrlSecrets(url);
  const shown = redactUrl(url);
  const body = scheme ? url.slice(scheme.length + 1) : "";
  const needPath = () => {
    if (body.length === 0) {
      throw new CrewstateError("UNKNOWN_STORE", `store URL ${quote(shown)} names no file: write ${scheme}:<path>`, { store: shown });
    }
    // Reading a store that is not there must not create it (a typo would leave files behind).
    const file = body.replace(/\?.*$/, "");
    if ((options.mustExist || readOnly) && !existsSync(file) && !existsSync(`${file}.journal`)) {
      throw new CrewstateError("STORE_NOT_FOUND", `store ${quote(shown)} does not exist (nothing has run there yet)`, { store: shown, path: file });
    }
    return body;
  };
  switch (scheme) {
    case "memory":
      return new MemoryStore();
    case "sqlite": {
      const { SqliteStore } = await import("./sqlite/store.js");
      return SqliteStore.open(needPath(), { readOnly });
    }
    case "json": {
      const { JsonFileStore } = await import("./json/store.js");
      return JsonFileStore.open(needPath(), { readOnly });
    }
    case "postgres":
    case "postgresql": {
      const { PostgresStore } = await import("./postgres/store.js");
      return PostgresStore.open(url, { readOnly });
    }
    case "redis":
    case "rediss": {
      const { RedisStore } = await import("./redis/store.js");
      return RedisStore.open(url, { readOnly });
    }
    default:
      throw new CrewstateError(
        "UNKNOWN_STORE",
        `store URL ${quote(shown)} has ${scheme ? `unknown scheme "${scheme}:"` : "no scheme"}; use sqlite:<path>, json:<path>, postgres://…, redis://… or memory:`,
        { store: shown },
      );
  }
}
