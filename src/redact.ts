/**
 * Secrets out of everything crewstate stores, logs or prints: store URL passwords, API keys and
 * `Authorization` values. One module, so every message says `***` the same way.
 *
 * URLs are masked textually, never parsed: a password holding `/`, `@`, `#` or `?` makes a URL
 * that `new URL()` refuses or misreads, and such a URL must be masked as well as a good one.
 */

const MASK = "***";

/** Environment variables whose values are secrets: provider API keys, tokens, passwords. */
const SECRET_ENV = /(?:API_?KEY|_TOKEN|_SECRET|PASSWORD)$/i;
/** Shorter environment values are not taken for secrets (they would mask ordinary words). */
const MIN_ENV_SECRET = 8;
/** Shorter registered secrets (URL passwords, keys given in code) are masked only where they stand in a URL. */
const MIN_SECRET = 4;

const registered = new Set<string>();

/**
 * The password of a store URL, by text alone: everything between the first `:` after the
 * scheme's `//` (after the scheme, for a URL without `//`) and the last `@`. Null when it has none.
 */
export function passwordOf(url: string): { start: number; end: number } | null {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0];
  // A file store's body is a path (sqlite:/a:b@c.db is a file name); it holds no userinfo.
  if (scheme !== undefined && /^(?:sqlite|json|memory):$/i.test(scheme)) return null;
  const authority = url.startsWith("//", scheme?.length ?? 0) ? scheme!.length + 2 : 0;
  const at = url.lastIndexOf("@");
  const colon = url.indexOf(":", authority);
  if (at < authority || colon === -1 || colon > at) return null;
  return { start: colon + 1, end: at };
}

/**
 * A store URL with its passwords masked, fit for messages and logs: the userinfo password (see
 * `passwordOf`), and `password=` / `sslpassword=` parameters up to the next `&name=`.
 */
export function redactUrl(url: string): string {
  const password = passwordOf(url);
  const masked = password === null ? url : `${url.slice(0, password.start)}${MASK}${url.slice(password.end)}`;
  return masked.replace(/([?&](?:ssl)?password=)(?:(?!&[\w.-]+=)[^])*/gi, `$1${MASK}`);
}

/** Where a redacted URL is shown for the user to reuse it: how to give the password it hides. */
export const PASSWORD_HINT = "password hidden: give it in PGPASSWORD (PostgreSQL), or the whole URL in CREWSTATE_STORE";

/** A store URL for the user to type again: redacted, and saying how to give the password if one is hidden. */
export function shownUrl(url: string): string {
  const shown = redactUrl(url);
  return shown === url ? url : `${shown} (${PASSWORD_HINT})`;
}

/**
 * Remembers a secret to mask wherever it shows up in error text: an API key given in code, or the
 * password of a store URL the user named (also percent-decoded, as a driver may echo it).
 */
export function registerSecret(secret: string | null | undefined): void {
  if (!secret || secret.length < MIN_SECRET) return;
  registered.add(secret);
  try {
    const decoded = decodeURIComponent(secret);
    if (decoded.length >= MIN_SECRET) registered.add(decoded);
  } catch {
    // Not percent-encoded text: the secret as given is enough.
  }
}

/** Registers the password of a store URL (see `registerSecret`). */
export function registerUrlSecrets(url: string | undefined): void {
  if (url === undefined) return;
  const password = passwordOf(url);
  if (password !== null) registerSecret(url.slice(password.start, password.end));
  for (const match of url.matchAll(/[?&](?:ssl)?password=((?:(?!&[\w.-]+=)[^])*)/gi)) registerSecret(match[1]);
}

function knownSecrets(): string[] {
  const secrets = new Set(registered);
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && SECRET_ENV.test(name) && value.trim().length >= MIN_ENV_SECRET) secrets.add(value.trim());
  }
  // Longest first, so a secret containing another is masked whole.
  return [...secrets].sort((a, b) => b.length - a.length);
}

/**
 * Text with every known secret masked: the values of secret environment variables (OPENAI_API_KEY,
 * any *_API_KEY, *_TOKEN, *_SECRET, *PASSWORD), registered secrets, and whatever follows
 * `Bearer` or `Authorization:`. Apply it to error text before it is stored, logged or printed.
 */
export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of knownSecrets()) out = out.split(secret).join(MASK);
  return out
    .replace(/\b(Authorization\s*["']?\s*[:=]\s*["']?)[^"',;\r\n]+/gi, `$1${MASK}`)
    .replace(/\b(Bearer\s+)(?!\*\*\*)[^\s"',;]+/gi, `$1${MASK}`);
}
