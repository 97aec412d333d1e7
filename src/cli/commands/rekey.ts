import type { Command } from "commander";
import { CrewstateError } from "../../errors.js";
import { openStore, storeUrlFrom } from "../../stores/open.js";
import { rekeyRuns } from "../../stores/rekey.js";
import { encryptionFromEnv, Sealer } from "../../stores/seal.js";
import { BaseStore } from "../../stores/base-store.js";

/** `crewstate rekey`: re-seals every run with a new key, reading with the keys the environment gives. */
export function registerRekey(program: Command): void {
  program
    .command("rekey")
    .description("re-seal every run with a new encryption key (one atomic commit per run); run it while no worker writes")
    .requiredOption("--to-key <base64>", "the new key: 32 bytes in base64")
    .option("--to-key-id <id>", "the new key's ID (default: derived from the key)")
    .option("--store <url>", "where state lives")
    .action(async (options: { toKey: string; toKeyId?: string; store?: string }) => {
      // The keys that open today's values: CREWSTATE_ENCRYPTION_KEY and CREWSTATE_ENCRYPTION_KEYS (none: an unsealed store).
      const current = encryptionFromEnv();
      const old = current ? [{ key: current.key, ...(current.keyId === undefined ? {} : { keyId: current.keyId }) }, ...(current.previous ?? [])] : [];
      const names = { key: "--to-key", keyId: "--to-key-id", previous: (i: number) => (i === 0 ? "CREWSTATE_ENCRYPTION_KEY" : `CREWSTATE_ENCRYPTION_KEYS item ${i}`) };
      const sealer = new Sealer({ key: options.toKey, ...(options.toKeyId === undefined ? {} : { keyId: options.toKeyId }), previous: old }, names);
      const store = await openStore(storeUrlFrom(options.store), { mustExist: true });
      try {
        if (!(store instanceof BaseStore)) throw new CrewstateError("INVALID_INPUT", `store ${store.location} does not seal values (it is not built on crewstate's checked layer)`);
        store.useEncryption(sealer);
        const done = await rekeyRuns(store, (runId) => process.stdout.write(`re-sealed run ${runId} with key ${sealer.keyId}\n`));
        process.stdout.write(`re-sealed ${done.length} run(s) in ${store.location} with key ${sealer.keyId}; set CREWSTATE_ENCRYPTION_KEY to the new key (and CREWSTATE_ENCRYPTION_KEY_ID=${sealer.keyId}) and drop the old ones\n`);
      } finally {
        await store.close();
      }
    });
}
