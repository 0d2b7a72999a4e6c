import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  encodeReply,
  encodeRequest,
  MAX_PREAMBLE,
  type PreambleResult,
  parsePreamble,
  parseReply,
  TUNNEL_MAGIC,
} from "./tunnel-protocol";

/**
 * Bad input at the tunnel's door: the preamble read as the agent reads it (the bytes so far,
 * after every chunk) decides as the whole stream does, however it is cut; while undecided it
 * never holds more than MAX_PREAMBLE bytes; and replies stay one line whatever their message.
 * SLUICE_FUZZ_RUNS sets the runs.
 */

const RUNS = Number(process.env.SLUICE_FUZZ_RUNS) || 300;

const word = fc.string({ unit: fc.constantFrom(..."abcXYZ019._-/+=:"), minLength: 1, maxLength: 40 });

/** Preambles: well formed, with noise in them, over-long, or noise. */
const streamArb = fc
  .oneof(
    fc.tuple(word, word).map(([connection, grant]) => encodeRequest({ connection, grant })),
    fc.tuple(word, word, fc.uint8Array({ maxLength: 6 }), fc.nat()).map(([connection, grant, noise, at]) => {
      const b = encodeRequest({ connection, grant });
      const i = at % b.length;
      return Buffer.concat([b.subarray(0, i), Buffer.from(noise), b.subarray(i)]);
    }),
    fc.integer({ min: MAX_PREAMBLE - 4, max: MAX_PREAMBLE + 20 }).map((n) => Buffer.alloc(n, 0x41)),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  )
  .chain((head) =>
    fc
      .uint8Array({ maxLength: 60 })
      .map((tail) => Buffer.concat([head, Buffer.from([0x0a]), Buffer.from(tail)])),
  );

function cut(buf: Buffer, offsets: number[]): Buffer[] {
  const at = [...new Set(offsets.map((o) => o % (buf.length + 1)))]
    .filter((o) => o > 0)
    .sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, buf.length]) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  return out;
}

/** Reads chunks as the tunnel listener does; returns the decision and every byte after the line. */
function readAsAgent(chunks: Buffer[]): { decided: PreambleResult; after: Buffer } {
  let buf = Buffer.alloc(0);
  for (let i = 0; i < chunks.length; i++) {
    buf = Buffer.concat([buf, chunks[i]!]);
    const parsed = parsePreamble(buf);
    if (parsed === undefined) {
      expect(buf.length).toBeLessThanOrEqual(MAX_PREAMBLE);
      continue;
    }
    const later = Buffer.concat(chunks.slice(i + 1));
    return { decided: parsed, after: "rest" in parsed ? Buffer.concat([parsed.rest, later]) : later };
  }
  return { decided: undefined, after: Buffer.alloc(0) };
}

describe("tunnel preamble under arbitrary bytes", () => {
  it("decides as on the whole stream however it is cut, keeping every byte after the line", () => {
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 12 }), (stream, offsets) => {
        const whole = parsePreamble(stream);
        const { decided, after } = readAsAgent(cut(stream, offsets));
        if (whole === undefined || "error" in whole) {
          expect(decided).toEqual(whole);
          return;
        }
        expect(decided && "request" in decided ? decided.request : decided).toEqual(whole.request);
        expect(after).toEqual(whole.rest);
      }),
      { numRuns: RUNS },
    );
  });

  it("accepts only a line of the magic and two fields, and says which problem it saw", () => {
    fc.assert(
      fc.property(streamArb, (stream) => {
        const r = parsePreamble(stream);
        if (r === undefined) return;
        if ("error" in r) {
          expect(["tunnel preamble too long", "not a Sluice tunnel request"]).toContain(r.error);
          return;
        }
        const line = stream.subarray(0, stream.indexOf(0x0a)).toString("utf8").trim();
        expect(line).toBe(`${TUNNEL_MAGIC} ${r.request.connection} ${r.request.grant}`);
        expect(`${r.request.connection}${r.request.grant}`).not.toMatch(/[ \n]/);
      }),
      { numRuns: RUNS },
    );
  });

  it("writes every reply as one line that reads back, whatever the message holds", () => {
    fc.assert(
      fc.property(word, fc.string({ maxLength: 200 }), (code, message) => {
        const line = encodeReply({ ok: false, code, message }).toString();
        expect(line.indexOf("\n")).toBe(line.length - 1);
        expect(parseReply(line)).toMatchObject({ ok: false, code });
      }),
      { numRuns: RUNS },
    );
  });
});
