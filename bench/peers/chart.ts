/**
 * docs/overhead.svg: overhead per step against N for every system that persists, on log–log
 * axes. Hand-written SVG — no browser, no network, no chart library.
 *
 * crewstate's points are its time inside store calls per task minus the memory store's — what
 * a store adds over the memory store, measured without subtracting two noisy runs of its
 * engine, as the targets are judged; every other system's are its paired wall-clock overhead
 * over its own baseline (a floor's: its time per operation). A value ≤ 0 cannot sit on a log
 * axis: it is drawn as a hollow marker on the bottom edge, labelled "≤ noise".
 */
import type { Family } from "./system.js";
import type { Measured } from "./report.js";

const WIDTH = 1080;
const HEIGHT = 560;
const PLOT = { left: 70, right: 600, top: 40, bottom: 500 };

const STYLE: Record<Family, { dash: string; width: number }> = {
  crewstate: { dash: "", width: 2.5 },
  "LangGraph.js": { dash: "8 4", width: 2 },
  DBOS: { dash: "10 3 2 3", width: 2 },
  tutorial: { dash: "3 3", width: 2 },
  floor: { dash: "1 3", width: 1.5 },
};

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#843c39", "#5254a3", "#6b6ecf", "#b5cf6b"];

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function superscript(exponent: number): string {
  const digits: Record<string, string> = { "-": "⁻", "0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹" };
  return String(exponent)
    .split("")
    .map((c) => digits[c] ?? c)
    .join("");
}

export function overheadChart(measured: Measured[]): string {
  const series = new Map<string, Measured[]>();
  for (const m of measured) if (m.overhead) series.set(m.id, [...(series.get(m.id) ?? []), m]);
  const value = (m: Measured) => {
    const base = measured.find((b) => b.id === m.baseline && b.n === m.n);
    return m.family === "crewstate" && m.inside && base?.inside ? m.inside.median - base.inside.median : m.overhead!.median;
  };
  const sizes = [...new Set(measured.map((m) => m.n))].sort((a, b) => a - b);
  const positive = [...series.values()].flat().map(value).filter((v) => v > 0);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...positive, 1)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...positive, 1)));
  const xMin = Math.log10(Math.min(...sizes));
  const xMax = Math.max(Math.log10(Math.max(...sizes)), xMin + 1);
  const x = (n: number) => PLOT.left + ((Math.log10(n) - xMin) / (xMax - xMin)) * (PLOT.right - PLOT.left);
  const y = (v: number) => PLOT.bottom - ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (PLOT.bottom - PLOT.top);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${PLOT.left}" y="22" font-size="15" font-weight="bold">What persistence adds per step (ms, median) against chain length N</text>`,
  ];
  for (let e = Math.log10(yMin); e <= Math.log10(yMax); e++) {
    const v = 10 ** e;
    out.push(
      `<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${PLOT.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">10${superscript(e)}</text>`,
    );
  }
  for (const n of sizes) {
    out.push(
      `<line x1="${x(n).toFixed(1)}" x2="${x(n).toFixed(1)}" y1="${PLOT.top}" y2="${PLOT.bottom}" stroke="#ddd"/>`,
      `<text x="${x(n).toFixed(1)}" y="${PLOT.bottom + 18}" text-anchor="middle">${n}</text>`,
    );
  }
  out.push(
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#333"/>`,
    `<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 40}" text-anchor="middle">N (tasks in the chain, log scale)</text>`,
    `<text transform="translate(18 ${(PLOT.top + PLOT.bottom) / 2}) rotate(-90)" text-anchor="middle">overhead per step over no persistence, ms (log scale)</text>`,
  );

  let index = 0;
  let legendY = PLOT.top + 4;
  for (const points of series.values()) {
    const colour = PALETTE[index++ % PALETTE.length]!;
    const family = points[0]!.family;
    const style = STYLE[family];
    const coords = points
      .sort((a, b) => a.n - b.n)
      .map((m) => ({ m, px: x(m.n), py: value(m) > 0 ? y(value(m)) : PLOT.bottom, noise: value(m) <= 0 }));
    if (coords.length > 1) {
      out.push(
        `<polyline fill="none" stroke="${colour}" stroke-width="${style.width}"${style.dash ? ` stroke-dasharray="${style.dash}"` : ""} points="${coords.map((c) => `${c.px.toFixed(1)},${c.py.toFixed(1)}`).join(" ")}"/>`,
      );
    }
    for (const c of coords) {
      out.push(`<circle cx="${c.px.toFixed(1)}" cy="${c.py.toFixed(1)}" r="3.5" fill="${c.noise ? "white" : colour}" stroke="${colour}" stroke-width="1.5"><title>${escape(`${points[0]!.label}, N = ${c.m.n}: ${value(c.m).toFixed(4)} ms`)}</title></circle>`);
      if (c.noise) out.push(`<text x="${(c.px + 6).toFixed(1)}" y="${(c.py - 5).toFixed(1)}" fill="${colour}" font-size="10">≤ noise</text>`);
    }
    const legendX = PLOT.right + 20;
    out.push(
      `<line x1="${legendX}" x2="${legendX + 34}" y1="${legendY}" y2="${legendY}" stroke="${colour}" stroke-width="${style.width}"${style.dash ? ` stroke-dasharray="${style.dash}"` : ""}/>`,
      `<circle cx="${legendX + 17}" cy="${legendY}" r="3" fill="${colour}"/>`,
      `<text x="${legendX + 42}" y="${legendY + 4}">${escape(points[0]!.label)}</text>`,
    );
    legendY += 20;
  }
  out.push(
    `<text x="${PLOT.right + 20}" y="${legendY + 14}" fill="#555" font-size="11">solid: crewstate, time in its store calls per task minus the memory store's</text>`,
    `<text x="${PLOT.right + 20}" y="${legendY + 30}" fill="#555" font-size="11">dashed: LangGraph.js · dash-dot: DBOS · dotted: tutorial pattern,</text>`,
    `<text x="${PLOT.right + 20}" y="${legendY + 46}" fill="#555" font-size="11">each its wall-clock overhead over its own baseline</text>`,
    `<text x="${PLOT.right + 20}" y="${legendY + 62}" fill="#555" font-size="11">fine dots: physical floor, time per operation</text>`,
    "</svg>",
    "",
  );
  return out.join("\n");
}
