import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSpool, type Spool, type SpoolOptions } from "./spool";
import { payloadOf, readAll, withTempDir } from "./spool.testing";

type Op =
  | { op: "append"; session: string; count: number; size: number }
  | { op: "flush" }
  | { op: "writeSync" }
  | { op: "reopen" }
  | { op: "crash" }
  | { op: "idle" }
  | { op: "ack"; session: string; fraction: number };

interface ModelSession {
  events: { seq: number; payload: unknown }[];
  durableSeq: number;
  /** Handed to the kernel: survives a crash of the process (not fsync'd, so not offered yet). */
  writtenSeq: number;
  ackedSeq: number;
  nextSeq: number;
}

const sessionArb = fc.constantFrom("a", "b", "c");
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("append" as const),
      session: sessionArb,
      count: fc.integer({ min: 1, max: 20 }),
      size: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 0, max: 600 }) },
        { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 120_000 }) },
      ),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ op: "flush" as const }) },
  { weight: 2, arbitrary: fc.constant({ op: "writeSync" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "reopen" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "crash" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "idle" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("ack" as const),
      session: sessionArb,
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
);

function modelFor(model: Map<string, ModelSession>, id: string): ModelSession {
  let s = model.get(id);
  if (!s) {
    s = { events: [], durableSeq: 0, writtenSeq: 0, ackedSeq: 0, nextSeq: 1 };
    model.set(id, s);
  }
  return s;
}

/** The spools' clock; "idle" moves it past the time after which a session's file is closed. */
const clock = { t: 1_000_000 };

async function apply(spool: Spool, open: () => Promise<Spool>, op: Op, model: Map<string, ModelSession>) {
  switch (op.op) {
    case "idle":
      clock.t += 10_000;
      return spool;
    case "append": {
      const s = modelFor(model, op.session);
      for (let i = 0; i < op.count; i++) {
        const payload = { n: s.nextSeq, pad: "p".repeat(op.size) };
        expect(spool.append(op.session, "test", payload)).toBe(s.nextSeq);
        s.events.push({ seq: s.nextSeq++, payload });
      }
      return spool;
    }
    case "flush":
      await spool.flush();
      for (const s of model.values()) s.durableSeq = s.writtenSeq = s.nextSeq - 1;
      return spool;
    case "writeSync":
      spool.writeSync();
      for (const s of model.values()) s.writtenSeq = s.nextSeq - 1;
      return spool;
    case "reopen":
      await spool.close();
      for (const s of model.values()) s.durableSeq = s.writtenSeq = s.nextSeq - 1;
      return open();
    case "crash":
      // The process dies: what it wrote with write(2) is in the page cache and is read back.
      for (const s of model.values()) {
        s.events = s.events.filter((e) => e.seq <= s.writtenSeq);
        s.nextSeq = s.writtenSeq + 1;
        s.durableSeq = s.writtenSeq;
      }
      return open();
    case "ack": {
      const s = modelFor(model, op.session);
      const seq = Math.floor(op.fraction * s.durableSeq);
      await spool.ack(op.session, seq);
      s.ackedSeq = Math.max(s.ackedSeq, seq);
      return spool;
    }
  }
}

async function check(spool: Spool, model: Map<string, ModelSession>) {
  for (const [id, s] of model) {
    const expected = s.events.filter((e) => e.seq > s.ackedSeq && e.seq <= s.durableSeq);
    const actual = await readAll(spool, id, 0, 2048);
    expect(actual.map((r) => r.seq)).toEqual(expected.map((e) => e.seq));
    expect(actual.map(payloadOf)).toEqual(expected.map((e) => e.payload));
  }
}

describe("spool (property)", () => {
  it("never loses a durable, unacknowledged event across appends, flushes, idle periods, reopens, crashes and acks", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) =>
        withTempDir(async (dir) => {
          const options: SpoolOptions = {
            dir,
            segmentBytes: 2048,
            flushIntervalMs: 1e9,
            flushBytes: 1e9,
            idleFileMs: 5000,
            now: () => clock.t,
          };
          const open = () => createSpool(options);
          const model = new Map<string, ModelSession>();
          let spool = await open();
          for (const op of ops) {
            spool = await apply(spool, open, op, model);
            await check(spool, model);
          }
          await spool.close();
        }),
      ),
      { numRuns: 60 },
    );
  });
});
