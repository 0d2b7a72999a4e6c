/**
 * Masking engine cost per DataRow, in-process (no network, no Postgres): how many
 * nanoseconds `RowMasker.maskRowInto` adds to each row the agent relays.
 *
 *   pnpm exec tsx bench/masking-bench.ts                 # 1,000,000 rows × 5 rounds per scenario
 *   pnpm exec tsx bench/masking-bench.ts --rows 200000 --rounds 3
 *
 * Rows are pre-built DataRow frames packed back to back in one buffer, as they arrive
 * from the server; each scenario walks all of them through one masker. "ns/row" is the
 * median over rounds of (CPU time of the scenario − CPU time of the same loop without
 * masking) / rows.
 */
import { parseArgs } from "node:util";
import {
  compileMasking,
  MaskTally,
  type ResultColumn,
  RowArena,
  type RowMasker,
} from "../packages/policy/src/masking/index";
import { catalog, dataRow, withLuhnDigit } from "../packages/policy/src/masking/masking.testing";
import type { MaskingRule } from "../packages/policy/src/rules";
import { fmt, median, range, table } from "./lib/stats";

const { values: args } = parseArgs({
  options: { rows: { type: "string", default: "1000000" }, rounds: { type: "string", default: "5" } },
});
const ROWS = Number(args.rows);
const ROUNDS = Number(args.rounds);
const DISTINCT = 20_000;

// ---------------------------------------------------------------- data

let seed = 42;
const rand = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 10)).join("");
const firstNames = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Donald", "Frances", "John", "Radia"];
const lastNames = [
  "Lovelace",
  "Hopper",
  "Turing",
  "Dijkstra",
  "Liskov",
  "Thompson",
  "Knuth",
  "Allen",
  "Backus",
];
const plainNotes = [
  "Customer asked about the delivery window for order #48213.",
  "Refund approved after review; see ticket 20931.",
  "Prefers contact in the afternoon. Net 30 terms.",
  "Upgraded to the annual plan, 12 seats.",
  "No issues reported.",
];
const card = () => withLuhnDigit(`4${digits(14)}`).replace(/(\d{4})(?=\d)/g, "$1 ");
const timestamp = (i: number) => `2024-05-${String((i % 28) + 1).padStart(2, "0")} 12:34:56.789+00`;

/** id, name, email, card, note, created_at — one row in ten has an email or phone in its note. */
function customerRow(i: number, binary: boolean): (Buffer | string | null)[] {
  const name = `${pick(firstNames)} ${pick(lastNames)}`;
  const email = `${name.toLowerCase().replace(" ", ".")}${i}@example.com`;
  const r = rand();
  const note =
    r < 0.05
      ? `Call back on +44 20 7946 ${digits(4)}.`
      : r < 0.1
        ? `CC ${email} on invoices.`
        : pick(plainNotes);
  if (!binary) return [String(i), name, email, card(), note, timestamp(i)];
  const id = Buffer.alloc(4);
  id.writeInt32BE(i);
  const ts = Buffer.alloc(8);
  ts.writeBigInt64BE(BigInt(i) * 1_000_000n);
  return [id, name, email, card(), note, ts];
}

/** The `big` table of bench/pg-bench.ts: (int, md5 text). */
function bigRow(i: number): string[] {
  return [String(i), Array.from({ length: 32 }, () => "0123456789abcdef"[Math.floor(rand() * 16)]).join("")];
}

interface Frames {
  buf: Buffer;
  offsets: Uint32Array;
}

function pack(rows: (Buffer | string | null)[][]): Frames {
  const frames = rows.map(dataRow);
  const offsets = new Uint32Array(frames.length + 1);
  frames.forEach((f, i) => {
    offsets[i + 1] = offsets[i]! + f.length;
  });
  return { buf: Buffer.concat(frames), offsets };
}

const customerColumns = (format: number): ResultColumn[] => [
  { name: "id", tableOid: 16400, typeOid: 23, format },
  { name: "name", tableOid: 16400, typeOid: 25, format },
  { name: "email", tableOid: 16400, typeOid: 25, format },
  { name: "card", tableOid: 16400, typeOid: 25, format },
  { name: "note", tableOid: 16400, typeOid: 25, format },
  { name: "created_at", tableOid: 16400, typeOid: 1184, format },
];
/** customers without the email and card columns: mostly values nothing matches. */
const peopleColumns = customerColumns(0).filter((c) => c.name !== "email" && c.name !== "card");
const bigColumns: ResultColumn[] = [
  { name: "id", tableOid: 16500, typeOid: 23, format: 0 },
  { name: "md5", tableOid: 16500, typeOid: 25, format: 0 },
];
const names = catalog({ 16400: "public.customers", 16500: "public.big" });

// ---------------------------------------------------------------- scenarios

const allDetectors: MaskingRule[] = (
  ["email", "credit_card", "iban", "phone", "us_ssn", "ip_address", "jwt", "api_key"] as const
).map((d) => ({ name: d, detector: d, action: "redact" }));
const columnRules: MaskingRule[] = [
  { name: "emails", columns: ["^email$"], action: "hash" },
  { name: "cards", columns: ["^card$"], action: "keep_last", keep: 4 },
];

interface Scenario {
  name: string;
  frames: Frames;
  masker: Pick<RowMasker, "maskRowInto"> | undefined;
}

/** Calibration: copying every frame once into the arena, about the cheapest per-row work a relay can do. */
const copyEveryFrame: Pick<RowMasker, "maskRowInto"> = {
  maskRowInto: (buf, start, end, arena) => {
    arena.reserve(end - start);
    const at = arena.pos;
    arena.pos += buf.copy(arena.bytes, at, start, end);
    return at;
  },
};

function scenario(name: string, frames: Frames, rules: MaskingRule[], columns: ResultColumn[]): Scenario {
  const plan = compileMasking(rules, { hashKey: Buffer.alloc(32, 9) });
  return { name, frames, masker: plan.forColumns(columns, names, new MaskTally()) };
}

const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};

/**
 * Walks ROWS rows through the masker; returns the CPU time used (this process only, so
 * other work on a shared machine disturbs it less than wall time) and how many rows changed.
 */
function walk(s: Scenario, mask: boolean): { ns: number; changed: number } {
  const { buf, offsets } = s.frames;
  const n = offsets.length - 1;
  const masker = mask ? s.masker : undefined;
  let changed = 0;
  let sink = 0;
  const arena = new RowArena();
  const t0 = cpuNs();
  for (let r = 0; r < ROWS; r++) {
    const i = r % n;
    const start = offsets[i]!;
    const end = offsets[i + 1]!;
    if (masker) {
      const at = masker.maskRowInto(buf, start, end, arena);
      if (at >= 0) {
        changed++;
        sink += arena.pos - at;
      } else sink += end - start;
    } else sink += end - start;
  }
  const ns = cpuNs() - t0;
  if (sink < 0) console.log(sink);
  return { ns, changed };
}

function main(): void {
  const customersText = pack(Array.from({ length: DISTINCT }, (_, i) => customerRow(i, false)));
  const customersBinary = pack(Array.from({ length: DISTINCT }, (_, i) => customerRow(i, true)));
  const big = pack(Array.from({ length: DISTINCT }, (_, i) => bigRow(i)));
  const people = pack(
    Array.from({ length: DISTINCT }, (_, i) => customerRow(i, false).filter((_, c) => c !== 2 && c !== 3)),
  );
  const scenarios: Scenario[] = [
    { name: "reference: copy every frame (no masking)", frames: customersText, masker: copyEveryFrame },
    scenario(
      "customers, masking off (no rule covers a column)",
      customersText,
      [{ name: "x", columns: ["^ssn$"], action: "redact" }],
      customerColumns(0),
    ),
    scenario(
      "customers, column rules (email redact, card keep_last 4)",
      customersText,
      [{ ...columnRules[0]!, action: "redact" }, columnRules[1]!],
      customerColumns(0),
    ),
    scenario(
      "customers, column rules (email hash, card keep_last 4)",
      customersText,
      columnRules,
      customerColumns(0),
    ),
    scenario("customers, 8 detectors on every column", customersText, allDetectors, customerColumns(0)),
    scenario(
      "customers, column rules + 8 detectors on note",
      customersText,
      [...columnRules, ...allDetectors.map((r) => ({ ...r, columns: ["^note$"] }))],
      customerColumns(0),
    ),
    scenario("customers binary, 8 detectors", customersBinary, allDetectors, customerColumns(1)),
    scenario("people (id, name, note, created_at), 8 detectors", people, allDetectors, peopleColumns),
    scenario("big (int, md5 text), 8 detectors, nothing matches", big, allDetectors, bigColumns),
    scenario(
      "big, pg-bench sluice-masked rules (id keep_last 4; email, card detectors)",
      big,
      [
        { name: "emails", detector: "email", action: "redact" },
        { name: "cards", detector: "credit_card", action: "keep_last", keep: 4 },
        { name: "account-ids", columns: ["^id$", "^filler$"], action: "keep_last", keep: 4 },
      ],
      bigColumns,
    ),
    scenario("big (int, md5 text), email + card detectors", big, allDetectors.slice(0, 2), bigColumns),
  ];
  const rows: string[][] = [];
  for (const s of scenarios) {
    const extra: number[] = [];
    let changed = 0;
    walk(s, true); // warm up
    walk(s, false);
    for (let round = 0; round < ROUNDS; round++) {
      const base = walk(s, false);
      const masked = walk(s, true);
      extra.push((masked.ns - base.ns) / ROWS);
      changed = masked.changed;
    }
    const bytes = s.frames.buf.length / (s.frames.offsets.length - 1);
    rows.push([
      s.name,
      s.masker === copyEveryFrame ? "–" : s.masker ? "yes" : "no",
      fmt(bytes, 0),
      `${fmt((100 * changed) / ROWS, 1)}%`,
      fmt(median(extra), 0),
      range(extra, 0),
    ]);
    process.stderr.write(`${s.name}: ${fmt(median(extra), 0)} ns/row\n`);
  }
  console.log(
    `Masking cost per DataRow: ${fmt(ROWS)} rows × ${ROUNDS} rounds, Node ${process.version}, ${DISTINCT} distinct rows cycled.\n`,
  );
  console.log(table(["scenario", "masker", "bytes/row", "rows changed", "ns/row (median)", "rounds"], rows));
}

main();
