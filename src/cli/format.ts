/** A plain-text table: a header row, then rows, columns padded to fit. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function shortHash(hash: string | null): string {
  return hash ? hash.slice(0, 8) : "-";
}

export function when(iso: string | null): string {
  return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "-";
}

/** One line of at most `max` characters. */
export function oneLine(text: string | null, max = 60): string {
  if (!text) return "-";
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The terminal's width in columns; 100 when stdout is not a terminal. */
export function terminalWidth(): number {
  return process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : 100;
}

/** A cost for a summary line: ` ($0.0123)`, or nothing when no price is known. */
export function money(usd: number | null): string {
  return usd === null ? "" : ` ($${usd.toFixed(4)})`;
}
