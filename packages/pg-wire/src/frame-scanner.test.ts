import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ProtocolError } from "./errors";
import { FrameScanner, type FrameSink, frameTypes } from "./frame-scanner";

// Hand-written frames: Query "select 1", Sync, DataRow with one NULL column, ReadyForQuery 'I',
// and a CopyData of 300 bytes that no test asks for.
const query = Buffer.from([0x51, 0, 0, 0, 13, ...Buffer.from("select 1"), 0]);
const sync = Buffer.from([0x53, 0, 0, 0, 4]);
const dataRow = Buffer.from([0x44, 0, 0, 0, 10, 0, 1, 0xff, 0xff, 0xff, 0xff]);
const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
const copyData = Buffer.concat([Buffer.from([0x64, 0, 0, 0x01, 0x30]), Buffer.alloc(300, 7)]);
const stream = Buffer.concat([query, sync, copyData, dataRow, ready]);

interface Run {
  forwarded: Buffer;
  frames: Buffer[];
  passed: number[];
}

function sinkInto(run: Run, collect: (type: number) => boolean): FrameSink {
  return {
    onFrame: (_type, buf, start, end) => run.frames.push(Buffer.from(buf.subarray(start, end))),
    collect: (type) => collect(type),
    onPassed: (type) => run.passed.push(type),
  };
}

function scanAll(chunks: Buffer[], types: Uint8Array, collect = (_t: number) => true, max?: number): Run {
  const run: Run = { forwarded: Buffer.alloc(0), frames: [], passed: [] };
  const scanner = new FrameScanner(types, sinkInto(run, collect), max);
  const out: Buffer[] = [];
  for (const c of chunks) {
    const n = scanner.scan(c);
    if (scanner.released) out.push(scanner.released);
    out.push(c.subarray(0, n));
    scanner.deliver();
  }
  run.forwarded = Buffer.concat(out);
  return run;
}

function splitAt(buf: Buffer, offsets: number[]): Buffer[] {
  const cuts = [...new Set(offsets)].filter((o) => o > 0 && o < buf.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, buf.length]) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  return out;
}

const wanted = frameTypes(0x51, 0x53, 0x44, 0x5a);

describe("FrameScanner", () => {
  it("delivers the frames it is asked for as views of the chunk and forwards every byte", () => {
    const seen: Buffer[] = [];
    const scanner = new FrameScanner(wanted, {
      onFrame: (_t, buf, start, end) => seen.push(buf.subarray(start, end)),
      collect: () => true,
      onPassed: () => undefined,
    });
    expect(scanner.scan(stream)).toBe(stream.length);
    expect(scanner.released).toBeUndefined();
    expect(seen).toEqual([]);
    scanner.deliver();
    expect(seen).toEqual([query, sync, dataRow, ready]);
    expect(seen[0]!.buffer).toBe(stream.buffer);
    expect(scanner.atBoundary).toBe(true);
  });

  it("reassembles delivered frames split at every offset and forwards exactly the input", () => {
    for (let i = 1; i < stream.length; i++) {
      const run = scanAll(splitAt(stream, [i]), wanted);
      expect(run.frames).toEqual([query, sync, dataRow, ready]);
      expect(run.forwarded).toEqual(stream);
    }
  });

  it("handles a stream fed one byte at a time", () => {
    const run = scanAll(
      [...stream].map((b) => Buffer.from([b])),
      wanted,
    );
    expect(run.frames).toEqual([query, sync, dataRow, ready]);
    expect(run.forwarded).toEqual(stream);
  });

  it("lets a split frame through uncopied when the sink declines it, and says so", () => {
    const cut = query.length + sync.length + copyData.length + 3; // inside the DataRow
    const run = scanAll(splitAt(stream, [cut]), wanted, (type) => type !== 0x44);
    expect(run.frames).toEqual([query, sync, ready]);
    expect(run.passed).toEqual([0x44]);
    expect(run.forwarded).toEqual(stream);
  });

  it("has the sink see every earlier frame before it decides on a frame spanning chunks", () => {
    const seen: number[] = [];
    const askedAfter: number[] = [];
    const scanner = new FrameScanner(wanted, {
      onFrame: (type) => seen.push(type),
      collect: () => {
        askedAfter.push(seen.length);
        return false;
      },
      onPassed: (type) => seen.push(-type),
    });
    const cut = query.length + sync.length + copyData.length + 7; // inside the DataRow's body
    scanner.scan(stream.subarray(0, cut));
    expect(askedAfter).toEqual([2]);
    scanner.deliver();
    scanner.scan(stream.subarray(cut));
    scanner.deliver();
    expect(seen).toEqual([0x51, 0x53, -0x44, 0x5a]);
  });

  it("holds back a header cut by the chunk's end until its length is known", () => {
    const scanner = new FrameScanner(
      wanted,
      sinkInto({ forwarded: Buffer.alloc(0), frames: [], passed: [] }, () => true),
    );
    const first = Buffer.concat([query, sync.subarray(0, 3)]);
    expect(scanner.scan(first)).toBe(query.length);
    expect(scanner.atBoundary).toBe(true);
    expect(scanner.scan(sync.subarray(3))).toBe(2);
    expect(scanner.released).toEqual(sync.subarray(0, 3));
  });

  it("refuses an oversized frame before releasing any of it", () => {
    const huge = Buffer.from([0x51, 0x7f, 0, 0, 0]);
    const scanner = new FrameScanner(
      wanted,
      sinkInto({ forwarded: Buffer.alloc(0), frames: [], passed: [] }, () => true),
      1024,
    );
    expect(scanner.scan(Buffer.concat([query, huge.subarray(0, 2)]))).toBe(query.length);
    expect(() => scanner.scan(huge.subarray(2))).toThrow(ProtocolError);
    expect(() =>
      new FrameScanner(
        wanted,
        sinkInto({ forwarded: Buffer.alloc(0), frames: [], passed: [] }, () => true),
        1024,
      ).scan(huge),
    ).toThrow(/message of type 'Q' length 2130706432 exceeds the limit of 1024 bytes/);
    const short = Buffer.from([0x51, 0, 0, 0, 3]);
    expect(() => scanAll([short], wanted)).toThrow(/message length 3 is invalid/);
  });

  it("is mid-frame while a frame's body is still arriving", () => {
    const scanner = new FrameScanner(
      frameTypes(),
      sinkInto({ forwarded: Buffer.alloc(0), frames: [], passed: [] }, () => true),
    );
    scanner.scan(copyData.subarray(0, 100));
    expect(scanner.atBoundary).toBe(false);
    scanner.scan(copyData.subarray(100));
    expect(scanner.atBoundary).toBe(true);
  });

  it("(property) forwards every byte and delivers exactly the wanted frames, however the stream is cut", () => {
    const frameArb = fc
      .record({
        type: fc.constantFrom(0x44, 0x51, 0x53, 0x5a, 0x64, 0x43),
        body: fc.uint8Array({ maxLength: 200 }),
      })
      .map(({ type, body }) => {
        const f = Buffer.alloc(5 + body.length);
        f[0] = type;
        f.writeUInt32BE(4 + body.length, 1);
        Buffer.from(body).copy(f, 5);
        return f;
      });
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.boolean(),
        (frames, cuts, collectRows) => {
          const input = Buffer.concat(frames);
          const run = scanAll(
            splitAt(
              input,
              cuts.map((c) => (input.length ? c % input.length : 0)),
            ),
            wanted,
            (type) => type !== 0x44 || collectRows,
          );
          expect(run.forwarded).toEqual(input);
          const expected = frames.filter((f) => wanted[f[0]!] !== 0);
          const delivered = [...run.frames, ...run.passed.map((t) => Buffer.from([t]))];
          expect(delivered.length).toBe(expected.length);
          if (collectRows) expect(run.frames).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
