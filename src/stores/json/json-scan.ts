/**
 * A byte-level JSON scanner for the JSON file store. It never builds values (JSON.parse does
 * that, natively and fast); it answers the questions JSON.parse cannot, without echoing content:
 * at which **byte** offset a document stops being JSON, whether an object repeats a key or nests
 * too deep, and at which byte offset the value at a path starts. It is iterative, so a hostile
 * file nested 10,000 levels deep cannot overflow the stack.
 */

import { isUtf8 } from "node:buffer";

export type JsonPath = ReadonlyArray<string | number>;

export interface ScanProblem {
  offset: number;
  problem: string;
}

interface Frame {
  object: boolean;
  /** The key or index of the value being read in this container. */
  key: string | number;
  keys: Set<string> | null;
}

interface WalkOptions {
  maxDepth: number;
  duplicates: boolean;
  target?: JsonPath;
}

type WalkResult = { kind: "ok" } | { kind: "problem"; problem: ScanProblem } | { kind: "found"; offset: number };

/** The first place `bytes` are not a single valid JSON document (or repeat a key, or nest too deep). */
export function findProblem(bytes: Buffer, options: { maxDepth: number; duplicates: boolean }): ScanProblem | null {
  if (!isUtf8(bytes)) return { offset: invalidUtf8Offset(bytes), problem: "invalid UTF-8" };
  const result = walk(bytes, options);
  return result.kind === "problem" ? result.problem : null;
}

/** The byte offset where the value at `path` starts, or null if the document has no such value. */
export function offsetOf(bytes: Buffer, path: JsonPath): number | null {
  const result = walk(bytes, { maxDepth: Number.MAX_SAFE_INTEGER, duplicates: false, target: path });
  return result.kind === "found" ? result.offset : null;
}

/** The offset of the first byte that is not well-formed UTF-8, or -1. */
export function invalidUtf8Offset(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else {
      return i;
    }
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += need + 1;
  }
  return -1;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function skipWs(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/** Scans a string starting at its opening quote; returns the offset after its closing quote, or a problem. */
function scanString(b: Uint8Array, start: number): number | ScanProblem {
  let i = start + 1;
  for (;;) {
    const c = b[i];
    if (c === undefined) return { offset: i, problem: "unterminated string" };
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      const e = b[i + 1];
      if (e === 0x75 /* u */) {
        if (!(isHex(b[i + 2]) && isHex(b[i + 3]) && isHex(b[i + 4]) && isHex(b[i + 5]))) {
          return { offset: i, problem: "bad \\u escape in a string" };
        }
        i += 6;
      } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 2;
      } else {
        return { offset: i, problem: "bad escape in a string" };
      }
    } else if (c < 0x20) {
      return { offset: i, problem: "control character in a string" };
    } else {
      i++;
    }
  }
}

function scanNumber(b: Uint8Array, start: number): number | ScanProblem {
  let i = start;
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return { offset: i, problem: "bad number" };
  if (b[i] === 0x2e) {
    i++;
    if (!isDigit(b[i])) return { offset: i, problem: "bad number" };
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!isDigit(b[i])) return { offset: i, problem: "bad number" };
    while (isDigit(b[i])) i++;
  }
  return i;
}

const LITERALS: ReadonlyArray<readonly [number, Uint8Array]> = [
  [0x74, Buffer.from("true")],
  [0x66, Buffer.from("false")],
  [0x6e, Buffer.from("null")],
];

function scanLiteral(b: Uint8Array, start: number): number | ScanProblem {
  const word = LITERALS.find(([first]) => first === b[start])?.[1];
  if (!word) return { offset: start, problem: "unexpected character" };
  for (let k = 0; k < word.length; k++) {
    if (b[start + k] !== word[k]) return { offset: start + k, problem: b[start + k] === undefined ? "unexpected end of input" : "unexpected character" };
  }
  return start + word.length;
}

function decodeKey(b: Buffer, start: number, end: number): string {
  const raw = b.subarray(start + 1, end - 1);
  return raw.includes(BACKSLASH) ? (JSON.parse(b.toString("utf8", start, end)) as string) : raw.toString("utf8");
}

function atTarget(stack: Frame[], target: JsonPath): boolean {
  if (stack.length !== target.length) return false;
  for (let d = 0; d < stack.length; d++) if (stack[d]!.key !== target[d]) return false;
  return true;
}

function walk(b: Buffer, options: WalkOptions): WalkResult {
  const stack: Frame[] = [];
  const needKeys = options.duplicates || options.target !== undefined;
  const problem = (offset: number, why: string): WalkResult => ({ kind: "problem", problem: { offset, problem: why } });
  let i = skipWs(b, 0);
  let expectValue = true;

  // Reads `"key" :` into the top frame; returns the offset after the colon or a problem.
  const readKey = (top: Frame): number | WalkResult => {
    i = skipWs(b, i);
    if (b[i] !== QUOTE) return problem(i, b[i] === undefined ? "unexpected end of input" : "expected a string key");
    const end = scanString(b, i);
    if (typeof end !== "number") return { kind: "problem", problem: end };
    if (needKeys) {
      const key = decodeKey(b, i, end);
      if (top.keys) {
        if (top.keys.has(key)) return problem(i, "duplicate key in an object");
        top.keys.add(key);
      }
      top.key = key;
    }
    i = skipWs(b, end);
    if (b[i] !== COLON) return problem(i, b[i] === undefined ? "unexpected end of input" : "expected ':' after a key");
    return i + 1;
  };

  for (;;) {
    if (expectValue) {
      i = skipWs(b, i);
      if (options.target && atTarget(stack, options.target)) return { kind: "found", offset: i };
      const c = b[i];
      if (c === undefined) return problem(i, "unexpected end of input");
      if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (stack.length >= options.maxDepth) return problem(i, `nested deeper than ${options.maxDepth} levels`);
        const object = c === OPEN_BRACE;
        i = skipWs(b, i + 1);
        if (b[i] === (object ? CLOSE_BRACE : CLOSE_BRACKET)) {
          i++;
          expectValue = false;
          continue;
        }
        const frame: Frame = { object, key: 0, keys: object && options.duplicates ? new Set() : null };
        stack.push(frame);
        if (object) {
          const next = readKey(frame);
          if (typeof next !== "number") return next;
          i = next;
        }
        continue;
      }
      const end = c === QUOTE ? scanString(b, i) : c === 0x2d || isDigit(c) ? scanNumber(b, i) : scanLiteral(b, i);
      if (typeof end !== "number") return { kind: "problem", problem: end };
      i = end;
      expectValue = false;
      continue;
    }
    i = skipWs(b, i);
    const top = stack[stack.length - 1];
    if (!top) {
      return i === b.length ? { kind: "ok" } : problem(i, "unexpected data after the end of the document");
    }
    const c = b[i];
    if (c === COMMA) {
      i++;
      if (top.object) {
        const next = readKey(top);
        if (typeof next !== "number") return next;
        i = next;
      } else {
        top.key = (top.key as number) + 1;
      }
      expectValue = true;
    } else if (c === (top.object ? CLOSE_BRACE : CLOSE_BRACKET)) {
      i++;
      stack.pop();
    } else {
      return problem(i, c === undefined ? "unexpected end of input" : top.object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
}

/**
 * The first repeated key in any object of `bytes`, or the first array/object nested deeper than
 * `maxDepth`; null when there is neither. Assumes `bytes` is valid JSON (it already parsed),
 * which lets it jump from quote to quote natively instead of checking every byte: fast enough to
 * run on every load of a state file.
 */
export function structureProblem(b: Buffer, maxDepth: number): ScanProblem | null {
  const stack: Array<KeySet | null> = [];
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c === QUOTE) {
      let end = b.indexOf(QUOTE, i + 1);
      for (;;) {
        if (end < 0) return null; // not valid JSON after all: nothing more to say here
        let k = end - 1;
        while (b[k] === BACKSLASH) k--;
        if ((end - 1 - k) % 2 === 0) break; // an even run of backslashes: a real closing quote
        end = b.indexOf(QUOTE, end + 1);
      }
      const keys = stack[stack.length - 1];
      if (keys) {
        const after = skipWs(b, end + 1);
        if (b[after] === COLON && keys.add(decodeKey(b, i, end + 1))) return { offset: i, problem: "duplicate key in an object" };
      }
      i = end + 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (stack.length >= maxDepth) return { offset: i, problem: `nested deeper than ${maxDepth} levels` };
      stack.push(c === OPEN_BRACE ? new KeySet() : null);
      i++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      stack.pop();
      i++;
    } else {
      i++;
    }
  }
  return null;
}

/** The keys of one object: a list while small (most are), a Set once large. */
class KeySet {
  private list: string[] | null = [];
  private set: Set<string> | null = null;

  /** Adds `key`; true if it was there already. */
  add(key: string): boolean {
    if (this.list) {
      if (this.list.includes(key)) return true;
      this.list.push(key);
      if (this.list.length > 16) {
        this.set = new Set(this.list);
        this.list = null;
      }
      return false;
    }
    if (this.set!.has(key)) return true;
    this.set!.add(key);
    return false;
  }
}
