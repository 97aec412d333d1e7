/**
 * Store URLs whose passwords are built to leak: `/ @ : # ? %` and unicode inside them, in the
 * userinfo or in `password=` / `sslpassword=` parameters, on PostgreSQL and Redis, some that
 * `new URL()` refuses. Each password is made of distinctive words (`Kq7a`…) so that a partly
 * masked password shows up too: `secretsOf` lists every word, the whole password and its
 * percent-decoded form, none of which may ever be printed.
 */

export interface HostileUrl {
  title: string;
  /** The URL, with `{schema}` / `{prefix}` standing for a fresh PostgreSQL schema / Redis key prefix. */
  url: string;
  /** The passwords as written in the URL. */
  passwords: string[];
  /** What redactUrl must turn the URL into (with the placeholders as they are). */
  redacted: string;
}

const PG = "127.0.0.1:5432/test";
const REDIS = "127.0.0.1:6379";

export const HOSTILE_URLS: HostileUrl[] = [
  {
    title: "postgres, plain password",
    url: `postgres://postgres:Pa1nPlainWord@${PG}?schema={schema}`,
    passwords: ["Pa1nPlainWord"],
    redacted: `postgres://postgres:***@${PG}?schema={schema}`,
  },
  {
    title: "postgres, '/' in the password (unparseable)",
    url: `postgres://postgres:Sl1a/Sl2b@${PG}?schema={schema}`,
    passwords: ["Sl1a/Sl2b"],
    redacted: `postgres://postgres:***@${PG}?schema={schema}`,
  },
  {
    title: "postgres, '@' in the password",
    url: `postgres://postgres:At1a@At2b@${PG}?schema={schema}`,
    passwords: ["At1a@At2b"],
    redacted: `postgres://postgres:***@${PG}?schema={schema}`,
  },
  {
    title: "postgres, ':' in the password",
    url: `postgres://postgres:Co1a:Co2b@${PG}?schema={schema}`,
    passwords: ["Co1a:Co2b"],
    redacted: `postgres://postgres:***@${PG}?schema={schema}`,
  },
  {
    title: "postgres, '#' in the password (unparseable)",
    url: `postgres://postgres:Ha1a#Ha2b@${PG}?schema={schema}`,
    passwords: ["Ha1a#Ha2b"],
    redacted: `postgres://postgres:***@${PG}?schema={schema}`,
  },
  {
    title: "postgres, '?' in the password (unparseable)",
    url: `postgres://postgres:Qu1a?Qu2b@${PG}?schema={schema}`,
    passwords: ["Qu1a?Qu2b"],
    redacted: `postgres://postgres:***@${PG}?schema={schema}`,
  },
  {
    title: "postgres, a bare '%' in the password (bad percent-encoding)",
    url: `postgres://postgres:Pc1a%Pc2b@${PG}?schema={schema}`,
    passwords: ["Pc1a%Pc2b"],
    redacted: `postgres://postgres:***@${PG}?schema={schema}`,
  },
  {
    title: "postgres, a percent-encoded password (/ and @ encoded)",
    url: `postgres://postgres:Pe1a%2FPe2b%40Pe3c@${PG}?schema={schema}`,
    passwords: ["Pe1a%2FPe2b%40Pe3c"],
    redacted: `postgres://postgres:***@${PG}?schema={schema}`,
  },
  {
    title: "postgres, a unicode password",
    url: `postgres://postgres:Üñï1a©ødé€Un2b@${PG}?schema={schema}`,
    passwords: ["Üñï1a©ødé€Un2b"],
    redacted: `postgres://postgres:***@${PG}?schema={schema}`,
  },
  {
    title: "postgres, every hostile character at once",
    url: `postgres://postgres:Mx1a/Mx2b@Mx3c:Mx4d#Mx5e?Mx6f%Mx7g@${PG}?schema={schema}`,
    passwords: ["Mx1a/Mx2b@Mx3c:Mx4d#Mx5e?Mx6f%Mx7g"],
    redacted: `postgres://postgres:***@${PG}?schema={schema}`,
  },
  {
    title: "postgresql, no user, '/' in the password",
    url: `postgresql://:Nu1a/Nu2b@${PG}?schema={schema}`,
    passwords: ["Nu1a/Nu2b"],
    redacted: `postgresql://:***@${PG}?schema={schema}`,
  },
  {
    title: "postgres, password= and sslpassword= parameters",
    url: `postgres://postgres@${PG}?sslpassword=Sp1a/Sp2b&schema={schema}&password=Qp1a#Qp2b`,
    passwords: ["Sp1a/Sp2b", "Qp1a#Qp2b"],
    redacted: `postgres://postgres@${PG}?sslpassword=***&schema={schema}&password=***`,
  },
  {
    title: "postgres, a server that refuses the connection",
    url: "postgres://postgres:Rf1a/Rf2b@127.0.0.1:1/test?schema={schema}",
    passwords: ["Rf1a/Rf2b"],
    redacted: "postgres://postgres:***@127.0.0.1:1/test?schema={schema}",
  },
  {
    title: "postgres without '//' (unparseable)",
    url: "postgres:postgres:Ns1a@Ns2b@127.0.0.1/test",
    passwords: ["Ns1a@Ns2b"],
    redacted: "postgres:***@127.0.0.1/test",
  },
  {
    title: "redis, no user, '/' and '@' in the password",
    url: `redis://:Rd1a/Rd2b@Rd3c@${REDIS}?prefix={prefix}`,
    passwords: ["Rd1a/Rd2b@Rd3c"],
    redacted: `redis://:***@${REDIS}?prefix={prefix}`,
  },
  {
    title: "redis, user and '#' in the password (unparseable)",
    url: `redis://default:Rh1a#Rh2b@${REDIS}/0?prefix={prefix}`,
    passwords: ["Rh1a#Rh2b"],
    redacted: `redis://default:***@${REDIS}/0?prefix={prefix}`,
  },
  {
    title: "rediss, a unicode password, a server that refuses the connection",
    url: "rediss://u:Ré1aΩ€Rs2b@127.0.0.1:1?prefix={prefix}",
    passwords: ["Ré1aΩ€Rs2b"],
    redacted: "rediss://u:***@127.0.0.1:1?prefix={prefix}",
  },
  {
    title: "redis, a password= parameter",
    url: `redis://${REDIS}?prefix={prefix}&password=Rq1a/Rq2b`,
    passwords: ["Rq1a/Rq2b"],
    redacted: `redis://${REDIS}?prefix={prefix}&password=***`,
  },
  {
    title: "no scheme at all",
    url: "dbhost:Nx1a/Nx2b@example",
    passwords: ["Nx1a/Nx2b"],
    redacted: "dbhost:***@example",
  },
];

/** Every text that would give away one of the passwords: each whole, percent-decoded, and each word of 4+ letters and digits. */
export function secretsOf(entry: Pick<HostileUrl, "passwords">): string[] {
  const secrets = new Set<string>();
  for (const password of entry.passwords) {
    secrets.add(password);
    try {
      secrets.add(decodeURIComponent(password));
    } catch {
      // not percent-encoded
    }
    for (const word of password.split(/%[0-9A-F]{2}|[^\p{L}\p{N}]+/u)) if (word.length >= 4) secrets.add(word);
  }
  return [...secrets];
}
