/**
 * A line-based unified diff of two texts (`diff -u` style), by longest common subsequence after
 * the common head and tail are set aside. Past `MAX_CELLS` the middle is shown replaced whole,
 * so two large outputs never take quadratic time.
 */
const MAX_CELLS = 4_000_000;

type Op = { kind: " " | "-" | "+"; line: string };

export function unifiedDiff(a: string, b: string, labels: [string, string], context = 3): string {
  if (a === b) return "";
  const ops = lineOps(linesOf(a), linesOf(b));
  const hunks: string[] = [];
  const changed = ops.flatMap((op, i) => (op.kind === " " ? [] : [i]));
  let start = 0;
  while (start < changed.length) {
    let end = start;
    while (end + 1 < changed.length && changed[end + 1]! - changed[end]! <= 2 * context) end++;
    hunks.push(hunk(ops, Math.max(0, changed[start]! - context), Math.min(ops.length, changed[end]! + context + 1)));
    start = end + 1;
  }
  return [`--- ${labels[0]}`, `+++ ${labels[1]}`, ...hunks].join("\n");
}

const linesOf = (text: string) => (text === "" ? [] : text.split("\n"));

function hunk(ops: Op[], from: number, to: number): string {
  const count = (kinds: string, end: number) => ops.slice(0, end).filter((op) => kinds.includes(op.kind)).length;
  const range = (kinds: string) => {
    const before = count(kinds, from);
    const length = count(kinds, to) - before;
    return `${length === 0 ? before : before + 1},${length}`;
  };
  const lines = ops.slice(from, to).map((op) => `${op.kind}${op.line}`);
  return [`@@ -${range(" -")} +${range(" +")} @@`, ...lines].join("\n");
}

function lineOps(a: string[], b: string[]): Op[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const same = (lines: string[]): Op[] => lines.map((line) => ({ kind: " ", line }));
  const middle = middleOps(a.slice(head, a.length - tail), b.slice(head, b.length - tail));
  return [...same(a.slice(0, head)), ...middle, ...same(a.slice(a.length - tail))];
}

function middleOps(a: string[], b: string[]): Op[] {
  const removed = (lines: string[]): Op[] => lines.map((line) => ({ kind: "-", line }));
  const added = (lines: string[]): Op[] => lines.map((line) => ({ kind: "+", line }));
  if (a.length * b.length > MAX_CELLS) return [...removed(a), ...added(b)];
  // lcs[i][j]: the longest common subsequence of a[i…] and b[j…].
  const width = b.length + 1;
  const lcs = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j] ? lcs[(i + 1) * width + j + 1]! + 1 : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      ops.push({ kind: " ", line: a[i++]! });
      j++;
    } else if (lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!) ops.push({ kind: "-", line: a[i++]! });
    else ops.push({ kind: "+", line: b[j++]! });
  }
  return [...ops, ...removed(a.slice(i)), ...added(b.slice(j))];
}
