import type { Transform } from "node:stream";
import * as zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import type { MaskingRule } from "../../rules";
import { compileMasking } from "../compile";
import { MaskingError } from "../errors";
import { MaskTally } from "../mask-tally";
import { TEST_HASH_KEY, withLuhnDigit } from "../masking.testing";
import { type BodyMasker, type BodyMaskerOptions, createBodyMasker, maskBodyPreview } from "./body-masker";
import { through } from "./body-masker.testing";

const rule = (r: Partial<MaskingRule>): MaskingRule => ({ name: "r", action: "redact", ...r });
const plan = compileMasking(
  [rule({ name: "ssn", jsonPaths: ["$..ssn"] }), rule({ name: "mail", detector: "email" })],
  { hashKey: TEST_HASH_KEY },
);
const pathsOnly = compileMasking([rule({ jsonPaths: ["$.ssn"] })], { hashKey: TEST_HASH_KEY });

function create(opts: Partial<BodyMaskerOptions>, p = plan): BodyMasker {
  return createBodyMasker(p, { contentType: "application/json", otherContent: "refuse", ...opts });
}

function transformOf(m: BodyMasker): Transform {
  if (m.kind !== "mask") throw new Error(`expected a masker, got ${m.kind}`);
  return m.transform;
}

const json = '{"ssn":"123-45-6789","note":"mail ann@example.com","n":1}';
const masked = '{"ssn":"****","note":"mail [email]","n":1}';

describe("createBodyMasker: what it does with a content type", () => {
  it("passes everything when no rule applies to bodies", () => {
    const sqlOnly = compileMasking([rule({ tables: ["public.users"] })], { hashKey: TEST_HASH_KEY });
    expect(create({ contentType: "image/png" }, sqlOnly)).toEqual({ kind: "pass" });
    expect(create({ contentEncoding: "zstd" }, compileMasking([], { hashKey: TEST_HASH_KEY }))).toEqual({
      kind: "pass",
    });
  });

  for (const type of [
    "application/octet-stream",
    "image/png",
    "multipart/form-data; boundary=x",
    undefined,
  ]) {
    it(`refuses or passes ${type ?? "a body without a type"} as asked`, () => {
      const refused = create({ contentType: type });
      expect(refused.kind).toBe("refuse");
      expect(refused.kind === "refuse" && refused.reason).toMatch(/cannot be masked/);
      expect(create({ contentType: type, otherContent: "pass" })).toEqual({ kind: "pass" });
    });
  }

  it("refuses a charset other than UTF-8 and an unknown coding even when told to pass", () => {
    const latin1 = create({ contentType: "application/json; charset=ISO-8859-1", otherContent: "pass" });
    expect(latin1).toMatchObject({ kind: "refuse", reason: expect.stringMatching(/charset iso-8859-1/) });
    expect(create({ contentEncoding: "zstd", otherContent: "pass" })).toMatchObject({ kind: "refuse" });
    expect(create({ contentType: 'application/json; charset="UTF-8"' }).kind).toBe("mask");
  });

  it("passes text when no detector applies (key rules are for JSON)", () => {
    expect(create({ contentType: "text/plain" }, pathsOnly)).toEqual({ kind: "pass" });
    expect(create({ contentType: "application/problem+json" }, pathsOnly).kind).toBe("mask");
  });

  it("masks JSON types and counts into the masker and the totals", async () => {
    const totals = new MaskTally();
    for (const type of ["application/json", "application/vnd.api+json; charset=utf-8", "text/json"]) {
      const m = create({ contentType: type, totals });
      expect((await through(transformOf(m), [json])).toString()).toBe(masked);
      expect(m.kind === "mask" && m.counts()).toEqual({ column: 1, email: 1 });
      expect(m.kind === "mask" && m.decoded).toBe(false);
    }
    expect(totals.counts()).toEqual({ column: 3, email: 3 });
  });

  it("masks NDJSON and JSON lines document by document", async () => {
    for (const type of ["application/x-ndjson", "application/jsonl"]) {
      const out = await through(transformOf(create({ contentType: type })), [`${json}\n${json}\n`]);
      expect(out.toString()).toBe(`${masked}\n${masked}\n`);
    }
  });

  it("masks text bodies with the detectors", async () => {
    const out = await through(transformOf(create({ contentType: "text/plain" })), [
      "to: ann@exa",
      "mple.com\n",
    ]);
    expect(out.toString()).toBe("to: [email]\n");
  });

  it("fails the transform on malformed JSON", async () => {
    await expect(through(transformOf(create({})), ['{"ssn":"1" "x"}'])).rejects.toThrow(MaskingError);
    await expect(through(transformOf(create({})), ['{"ssn":'])).rejects.toThrow(/ends early/);
  });
});

describe("createBodyMasker: content codings", () => {
  const body = Buffer.from(json);
  const cases: [string, Buffer][] = [
    ["gzip", zlib.gzipSync(body)],
    ["x-gzip", zlib.gzipSync(body)],
    ["deflate", zlib.deflateSync(body)],
    ["deflate", zlib.deflateRawSync(body)],
    ["br", zlib.brotliCompressSync(body)],
    ["deflate, gzip", zlib.gzipSync(zlib.deflateSync(body))],
    ["identity", body],
  ];
  for (const [coding, bytes] of cases) {
    it(`decodes ${coding} before masking, whatever the chunk size`, async () => {
      for (const size of [1, 3, bytes.length]) {
        const m = create({ contentEncoding: coding });
        expect(m.kind === "mask" && m.decoded).toBe(coding !== "identity");
        const chunks = Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
          bytes.subarray(i * size, (i + 1) * size),
        );
        expect((await through(transformOf(m), chunks)).toString()).toBe(masked);
      }
    });
  }

  it("fails on a corrupt coding", async () => {
    const bad = Buffer.from(zlib.gzipSync(body));
    bad.fill(0x41, 10, 20);
    await expect(through(transformOf(create({ contentEncoding: "gzip" })), [bad])).rejects.toThrow();
  });

  it("reads the decoder only as fast as its reader takes output", async () => {
    const big = zlib.gzipSync(Buffer.from(`["${"0".repeat(64 * 1024 * 1024)}"]`));
    const t = transformOf(create({ contentEncoding: "gzip" }, pathsOnly));
    t.end(big);
    await new Promise((r) => setTimeout(r, 200));
    expect(t.readableLength).toBeLessThan(4 * 1024 * 1024);
    let n = 0;
    for await (const c of t) n += (c as Buffer).length;
    expect(n).toBe(64 * 1024 * 1024 + 4);
  });
});

describe("createBodyMasker: event streams", () => {
  /** Collects a stream's output; `next()` resolves with what arrived since the last call, once something did. */
  function reader(t: Transform): { next(): Promise<string> } {
    let got = "";
    let wake: (() => void) | undefined;
    t.on("data", (c: Buffer) => {
      got += c.toString();
      wake?.();
    });
    return {
      async next() {
        while (got === "") await new Promise<void>((r) => (wake = r));
        const out = got;
        got = "";
        return out;
      },
    };
  }

  it("sends each event on as soon as its lines are complete", async () => {
    const t = transformOf(create({ contentType: "text/event-stream" }));
    const r = reader(t);
    t.write('event: update\ndata: {"ssn":"1","m":"ann@example.com"}\n\n');
    expect(await r.next()).toBe('event: update\ndata: {"ssn":"****","m":"[email]"}\n\n');
    t.write("data: [DONE] mail bob@example.org\r\n");
    expect(await r.next()).toBe("data: [DONE] mail [email]\r\n");
    t.write("data: partial");
    t.end(' {"ssn":2}\n');
    expect(await r.next()).toBe('data: partial {"ssn":2}\n');
  });

  it("flushes events through gzip as the server flushes them", async () => {
    const t = transformOf(create({ contentType: "text/event-stream", contentEncoding: "gzip" }));
    const r = reader(t);
    const gzip = zlib.createGzip();
    gzip.on("data", (c: Buffer) => t.write(c));
    gzip.write('data: {"ssn":"secret"}\n\n');
    gzip.flush();
    expect(await r.next()).toBe('data: {"ssn":"****"}\n\n');
    gzip.end();
  });

  it("masks a data line that is not JSON with the detectors", async () => {
    const out = await through(transformOf(create({ contentType: "text/event-stream" })), [
      ': ping ann@example.com\ndata: {"m": "ann@example.com",\ndata: "n": 2}\n\n',
    ]);
    expect(out.toString()).toBe(': ping [email]\ndata: {"m": "[email]",\ndata: "n": 2}\n\n');
  });
});

describe("maskBodyPreview", () => {
  it("masks JSON, NDJSON and text like a streamed body", () => {
    expect(maskBodyPreview(plan, Buffer.from(json), "application/json")).toBe(masked);
    expect(maskBodyPreview(plan, Buffer.from(`${json}\n`), "application/x-ndjson")).toBe(`${masked}\n`);
    expect(maskBodyPreview(plan, Buffer.from("a ann@example.com"), "text/plain")).toBe("a [email]");
    const card = withLuhnDigit("411111111111111");
    const cards = compileMasking([rule({ detector: "credit_card" })], { hashKey: TEST_HASH_KEY });
    expect(maskBodyPreview(cards, Buffer.from(`card=${card}`), "application/x-www-form-urlencoded")).toBe(
      "card=[credit_card]",
    );
  });

  it("shows a placeholder for bodies it cannot mask", () => {
    expect(maskBodyPreview(plan, Buffer.alloc(10), "application/octet-stream")).toBe(
      "[10 bytes of application/octet-stream]",
    );
    expect(maskBodyPreview(plan, Buffer.from('{"ssn":'), "application/json")).toBe(
      "[7 bytes of malformed application/json not shown]",
    );
    expect(maskBodyPreview(plan, Buffer.from("{}"), "application/json; charset=utf-16")).toMatch(
      /charset utf-16/,
    );
  });

  it("falls back to the detectors for malformed JSON when no rule masks whole values", () => {
    const mail = compileMasking([rule({ detector: "email" })], { hashKey: TEST_HASH_KEY });
    expect(maskBodyPreview(mail, Buffer.from('{"a":"ann@example.com"'), "application/json")).toBe(
      '{"a":"[email]"',
    );
  });
});
