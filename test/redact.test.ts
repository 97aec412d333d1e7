import { afterEach, describe, expect, it, vi } from "vitest";
import { shownUrl, PASSWORD_HINT, redactSecrets, redactUrl, registerSecret, registerUrlSecrets } from "../src/redact.js";
import { HOSTILE_URLS, secretsOf } from "./cli/hostile-urls.js";

describe("redactUrl", () => {
  for (const entry of HOSTILE_URLS) {
    it(`masks the password of ${entry.title}`, () => {
      const shown = redactUrl(entry.url);
      expect(shown).toBe(entry.redacted);
      for (const secret of secretsOf(entry)) expect(shown).not.toContain(secret);
      expect(shownUrl(entry.url)).toBe(`${entry.redacted} (${PASSWORD_HINT})`);
    });
  }

  it("leaves URLs without a password, and file store paths, as they are", () => {
    for (const url of [
      "postgres://postgres@127.0.0.1:5432/test?schema=s",
      "redis://127.0.0.1:6379?prefix=a:b",
      "sqlite:/tmp/a:b@c.db",
      "json:state.json",
      "memory:",
      "postgres://crew@db/x?schema=password",
    ]) {
      expect(redactUrl(url)).toBe(url);
      expect(shownUrl(url)).toBe(url);
    }
  });
});

describe("redactSecrets", () => {
  afterEach(() => vi.unstubAllEnvs());

  it("masks the values of secret environment variables, Bearer tokens and Authorization values", () => {
    vi.stubEnv("OPENAI_API_KEY", "sk-CANARY-env-1234567890");
    vi.stubEnv("ANTHROPIC_API_KEY", "sk-ant-CANARY-0987654321");
    const text = redactSecrets(
      'Incorrect API key provided: sk-CANARY-env-1234567890; also sk-ant-CANARY-0987654321; "Authorization: Bearer tok-CANARY-x"; authorization=Basic dXNlcjpwYXNz',
    );
    expect(text).not.toMatch(/CANARY|dXNlcjpwYXNz/);
    expect(text).toContain("Incorrect API key provided: ***");
  });

  it("masks registered secrets and the passwords of registered URLs, percent-decoded too", () => {
    registerSecret("key-in-code-CANARY-42");
    registerUrlSecrets("postgres://u:Reg1a%2FReg2b@db/x");
    const text = redactSecrets("failed with key-in-code-CANARY-42 for password Reg1a/Reg2b (Reg1a%2FReg2b)");
    expect(text).toBe("failed with *** for password *** (***)");
  });

  it("leaves short environment values and ordinary text alone", () => {
    vi.stubEnv("OPENAI_API_KEY", "test");
    expect(redactSecrets("model openai:gpt-test failed")).toBe("model openai:gpt-test failed");
  });
});
