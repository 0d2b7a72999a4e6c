/**
 * Throughput of the streaming JSON body masker, in-process:
 *
 *   pnpm exec tsx packages/policy/src/masking/body/body-masker.bench.ts [--mb 200]
 *
 * Streams one generated document of customer records (about 300 bytes each, a few
 * masked fields) through `createBodyMasker`'s transform and reports MB/s per scenario:
 * input bytes / CPU time of the process (user + system, best of three), which a busy
 * machine disturbs less than wall time, and input bytes / wall time.
 */
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import type { MaskingRule } from "../../rules";
import { compileMasking } from "../compile";
import { TEST_HASH_KEY } from "../masking.testing";
import { createBodyMasker } from "./body-masker";
import { recordsDocument } from "./body-masker.testing";

const { values: args } = parseArgs({ options: { mb: { type: "string", default: "200" } } });
const SIZE = Number(args.mb) * 1024 * 1024;

const scenarios: [string, MaskingRule[]][] = [
  [
    "paths + key regex",
    [
      { name: "ssn", jsonPaths: ["$.customers[*].ssn"], action: "redact" },
      { name: "card", columns: ["^card"], action: "keep_last", keep: 4 },
    ],
  ],
  [
    "paths + key regex + email detector",
    [
      { name: "ssn", jsonPaths: ["$.customers[*].ssn"], action: "redact" },
      { name: "card", columns: ["^card"], action: "keep_last", keep: 4 },
      { name: "email", detector: "email", action: "redact" },
    ],
  ],
  [
    "$..email hash + credit_card detector",
    [
      { name: "email", jsonPaths: ["$..email"], action: "hash" },
      { name: "cards", detector: "credit_card", action: "redact" },
    ],
  ],
];

async function run(rules: MaskingRule[]): Promise<[cpu: number, wall: number]> {
  const plan = compileMasking(rules, { hashKey: TEST_HASH_KEY });
  const m = createBodyMasker(plan, { contentType: "application/json", otherContent: "refuse" });
  if (m.kind !== "mask") throw new Error(`expected a masker, got ${m.kind}`);
  let out = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.length;
      cb();
    },
  });
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await pipeline(Readable.from(recordsDocument(SIZE)), m.transform, sink);
  const c = process.cpuUsage(c0);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (out === 0) throw new Error("no output");
  const mb = SIZE / 1024 / 1024;
  return [mb / ((c.user + c.system) / 1e6), mb / wall];
}

for (const [name, rules] of scenarios) {
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let round = 0; round < 3; round++) {
    const [c, w] = await run(rules);
    cpu.push(c);
    wall.push(w);
  }
  const best = (xs: number[]) => Math.max(...xs).toFixed(0);
  console.log(`${name.padEnd(40)} ${best(cpu)} MB/s CPU, ${best(wall)} MB/s wall`);
}
