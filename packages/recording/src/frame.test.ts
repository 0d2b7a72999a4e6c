import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32Of, encodeFrame, encodeFrameInto, maxFrameBytes, parseFrames } from "./frame";

describe("record frames", () => {
  it("computes the same CRC-32 as zlib for any bytes and range", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const buf = Buffer.from(bytes);
        const start = buf.length ? a % buf.length : 0;
        const end = start + (buf.length - start ? b % (buf.length - start + 1) : 0);
        expect(crc32Of(buf, start, end)).toBe(crc32(buf.subarray(start, end)));
      }),
      { numRuns: 500 },
    );
  });

  it("encodes records back to back that parse as they were written", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ kind: fc.constantFrom("pg.statement", "pg.result", "gap"), text: fc.string() }),
          {
            maxLength: 20,
          },
        ),
        (records) => {
          const stored = records.map((r, i) => ({
            seq: i + 1,
            atUnixMs: 1_700_000_000_000 + i,
            kind: r.kind,
            payloadJson: JSON.stringify({ text: r.text }),
          }));
          const room = stored.reduce((n, r) => n + maxFrameBytes(r.kind, r.payloadJson), 0);
          const buf = Buffer.alloc(room);
          let at = 0;
          for (const r of stored) at += encodeFrameInto(buf, at, r.seq, r.atUnixMs, r.kind, r.payloadJson);
          const parsed = parseFrames(buf.subarray(0, at), 1 << 20);
          expect(parsed.stop).toBe("end");
          expect(parsed.frames.map((f) => (f.ok ? f.record : undefined))).toEqual(stored);
          expect(Buffer.concat(stored.map(encodeFrame))).toEqual(buf.subarray(0, at));
        },
      ),
      { numRuns: 200 },
    );
  });
});
