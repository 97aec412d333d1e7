import { openStore, storeUrlFrom } from "../stores/open.js";
import type { Store } from "../stores/store.js";

/** Opens the store a command names (or the default), runs `work`, and always closes it. */
export async function withStore<T>(url: string | undefined, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(storeUrlFrom(url));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}
