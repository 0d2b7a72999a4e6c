import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import type { MaskingRule } from "../../rules";
import { compileMasking } from "../compile";
import { TEST_HASH_KEY } from "../masking.testing";
import { createBodyMasker } from "./body-masker";
import { recordsDocument } from "./body-masker.testing";

const SIZE = 200 * 1024 * 1024;
const rules: MaskingRule[] = [
  { name: "ssn", jsonPaths: ["$.customers[*].ssn"], action: "redact" },
  { name: "card", columns: ["^card"], action: "keep_last", keep: 4 },
  { name: "mail", detector: "email", action: "redact" },
];

function used(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Streams a generated 200 MB document through the masker; returns the peak memory growth and the output size. */
async function stream(contentEncoding?: string): Promise<{ growth: number; out: number; records: number }> {
  const masker = createBodyMasker(compileMasking(rules, { hashKey: TEST_HASH_KEY }), {
    contentType: "application/json",
    contentEncoding,
    otherContent: "refuse",
  });
  if (masker.kind !== "mask") throw new Error("expected a masker");
  const chunks = recordsDocument(SIZE);
  const first = chunks.next().value as Buffer;
  const base = used();
  let peak = 0;
  let out = 0;
  let n = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.length;
      if (++n % 64 === 0) peak = Math.max(peak, used() - base);
      cb();
    },
  });
  const source = Readable.from(
    (function* () {
      yield first;
      yield* chunks;
    })(),
  );
  const stages = contentEncoding
    ? [source, zlib.createGzip({ level: 1 }), masker.transform]
    : [source, masker.transform];
  await pipeline([...stages, sink]);
  return { growth: peak, out, records: masker.counts().email ?? 0 };
}

describe("body masking memory", () => {
  it("streams 200 MB of JSON records with bounded memory", { timeout: 300_000 }, async () => {
    const { growth, out, records } = await stream();
    expect(out).toBeGreaterThan(SIZE * 0.9);
    expect(records).toBeGreaterThan(600_000);
    expect(growth).toBeLessThan(64 * 1024 * 1024);
  });

  it("streams 200 MB of gzip-coded JSON with bounded memory", { timeout: 300_000 }, async () => {
    const { growth, out } = await stream("gzip");
    expect(out).toBeGreaterThan(SIZE * 0.9);
    expect(growth).toBeLessThan(64 * 1024 * 1024);
  });
});
