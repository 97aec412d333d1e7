import pc from "picocolors";

export type Colors = ReturnType<typeof pc.createColors>;

/** Colors for a stream: only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function colorsFor(out: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Colors {
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== "";
  return pc.createColors(out.isTTY === true && !noColor);
}
