import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ProtocolError } from "./errors";
import { type Frame, FrameReader, readFrames } from "./frame-reader";
import { SliceBatch } from "./slice-batch";

// Hand-written frames: Query "select 1", Sync, DataRow with one NULL column, ReadyForQuery 'I'.
const query = Buffer.from([0x51, 0, 0, 0, 13, ...Buffer.from("select 1"), 0]);
const sync = Buffer.from([0x53, 0, 0, 0, 4]);
const dataRow = Buffer.from([0x44, 0, 0, 0, 10, 0, 1, 0xff, 0xff, 0xff, 0xff]);
const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
const stream = Buffer.concat([query, sync, dataRow, ready]);
const expected = [query, sync, dataRow, ready];
// StartupMessage 3.0 {user: "u"} and SSLRequest.
const startup = Buffer.from([0, 0, 0, 16, 0, 3, 0, 0, ...Buffer.from("user\0u\0"), 0]);
const sslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

function feed(reader: FrameReader, chunks: Buffer[]): Frame[] {
  const out: Frame[] = [];
  for (const c of chunks) {
    reader.push(c);
    out.push(...readFrames(reader));
  }
  return out;
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

describe("FrameReader", () => {
  it("returns every frame of one chunk as zero-copy views", () => {
    const frames = feed(new FrameReader(), [stream]);
    expect(frames.map((f) => f.raw)).toEqual(expected);
    expect(frames.map((f) => String.fromCharCode(f.type))).toEqual(["Q", "S", "D", "Z"]);
    expect(frames[0]!.body.toString()).toBe("select 1\0");
    expect(frames[0]!.raw.buffer).toBe(stream.buffer);
  });

  it("reassembles frames split at every offset, including inside the header", () => {
    for (let i = 1; i < stream.length; i++) {
      const frames = feed(new FrameReader(), splitAt(stream, [i]));
      expect(frames.map((f) => f.raw)).toEqual(expected);
    }
  });

  it("reassembles a stream fed one byte at a time", () => {
    const bytes = [...stream].map((b) => Buffer.from([b]));
    expect(feed(new FrameReader(), bytes).map((f) => f.raw)).toEqual(expected);
  });

  it("reads untyped startup frames and then switches to typed frames", () => {
    const reader = new FrameReader({ startup: true });
    reader.push(Buffer.concat([sslRequest, startup]));
    expect(reader.next()).toBe(true);
    expect(reader.type).toBe(0);
    expect(reader.body().readInt32BE(0)).toBe(80877103);
    expect(reader.next()).toBe(true);
    expect(reader.raw()).toEqual(startup);
    reader.setStartup(false);
    reader.push(query);
    expect(reader.next()).toBe(true);
    expect(reader.raw()).toEqual(query);
  });

  it("rejects an oversized length as soon as the header arrives", () => {
    const reader = new FrameReader({ maxFrameLength: 1024 });
    reader.push(Buffer.from([0x44, 0x7f, 0xff, 0xff]));
    expect(reader.next()).toBe(false);
    reader.push(Buffer.from([0xff]));
    expect(() => reader.next()).toThrow(
      new ProtocolError(
        "frame_too_large",
        "message of type 'D' length 2147483647 exceeds the limit of 1024 bytes",
      ),
    );
    expect(() => reader.next()).toThrow(ProtocolError);
    expect(reader.buffered).toBe(0);
  });

  it("rejects lengths below the minimum", () => {
    const typed = new FrameReader();
    typed.push(Buffer.from([0x51, 0, 0, 0, 3]));
    expect(() => typed.next()).toThrow(/message length 3 is invalid \(minimum 4\)/);
    const untyped = new FrameReader({ startup: true });
    untyped.push(Buffer.from([0, 0, 0, 4]));
    expect(() => untyped.next()).toThrow(/minimum 8/);
  });

  it("bounds startup frames by their own limit", () => {
    const reader = new FrameReader({ startup: true, maxStartupFrameLength: 10 * 1024 });
    reader.push(Buffer.from([0, 0x01, 0, 0, 0, 3, 0, 0]));
    expect(() => reader.next()).toThrow(/startup message length 65536 exceeds the limit of 10240 bytes/);
  });

  it("lets a caller forward a run of frames as one slice", () => {
    const reader = new FrameReader();
    reader.push(stream);
    const batch = new SliceBatch();
    while (reader.next()) batch.addRange(reader.buf, reader.start, reader.end);
    const slices = batch.take();
    expect(slices).toHaveLength(1);
    expect(slices[0]).toBe(stream);
  });

  it("splits the run where a frame is replaced", () => {
    const reader = new FrameReader();
    reader.push(stream);
    const batch = new SliceBatch();
    const replacement = Buffer.from([0x44, 0, 0, 0, 6, 0, 0]);
    while (reader.next()) {
      if (reader.type === 0x44) batch.add(replacement);
      else batch.addRange(reader.buf, reader.start, reader.end);
    }
    const slices = batch.take();
    expect(Buffer.concat(slices)).toEqual(Buffer.concat([query, sync, replacement, ready]));
    expect(slices).toHaveLength(3);
  });
});

const frameArb = fc
  .tuple(fc.integer({ min: 0x41, max: 0x7a }), fc.uint8Array({ maxLength: 300 }))
  .map(([type, body]) => {
    const b = Buffer.alloc(5 + body.length);
    b[0] = type;
    b.writeInt32BE(4 + body.length, 1);
    b.set(body, 5);
    return b;
  });

describe("FrameReader properties", () => {
  it("yields identical frames for any chunking of a valid stream", () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (frames, cuts) => {
          const all = Buffer.concat(frames);
          const got = feed(
            new FrameReader(),
            splitAt(
              all,
              cuts.map((c) => c % (all.length + 1)),
            ),
          );
          expect(got.map((f) => f.raw)).toEqual(frames);
        },
      ),
    );
  });

  it("throws nothing but ProtocolError on random input and buffers at most one frame", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }),
        fc.boolean(),
        (chunks, startup) => {
          const reader = new FrameReader({ startup, maxFrameLength: 256, maxStartupFrameLength: 256 });
          let steps = 0;
          try {
            for (const c of chunks) {
              reader.push(Buffer.from(c));
              while (reader.next()) steps++;
              expect(reader.buffered).toBeLessThanOrEqual(256 + 64);
            }
          } catch (err) {
            expect(err).toBeInstanceOf(ProtocolError);
          }
          expect(steps).toBeLessThanOrEqual(chunks.reduce((n, c) => n + c.length, 0));
        },
      ),
    );
  });
});
