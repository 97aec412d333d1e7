/**
 * The browser the dashboard tests drive: Debian's `chromium` through `playwright-core`.
 *
 * Found at `CREWSTATE_CHROMIUM`, else `/usr/bin/chromium`, else `chromium` on the PATH. Without one,
 * the browser tests are skipped locally; with `CI` set they fail instead (CI must run them).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

export function findChromium(): string | null {
  const fromEnv = process.env.CREWSTATE_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  for (const candidate of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (existsSync(candidate)) return candidate;
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      const found = execFileSync("which", [name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
      if (found) return found;
    } catch {
      // not on the PATH
    }
  }
  return null;
}

export const CHROMIUM = findChromium();
/** Skip the browser tests: no browser, and not on CI. */
export const SKIP_BROWSER = CHROMIUM === null && !process.env.CI;
