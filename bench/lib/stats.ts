export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

export function fmt(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return "–";
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratio(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : "–";
}

export function range(xs: number[], digits = 0): string {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return "–";
  if (v.length === 1) return fmt(v[0] as number, digits);
  return `${fmt(Math.min(...v), digits)}–${fmt(Math.max(...v), digits)}`;
}

/** A GitHub-flavoured markdown table; also readable as plain text on a terminal. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const sep = `| ${widths.map((w, i) => (i === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`;
  return [line(head), sep, ...rows.map(line)].join("\n");
}
