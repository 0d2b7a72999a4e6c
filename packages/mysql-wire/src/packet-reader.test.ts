import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ProtocolError } from "./errors";
import { encodePacket, fragmentCount, type Packet, PacketReader, packet } from "./packet-reader";

// Hand-built frames: COM_QUERY "select 1" (seq 0), an OK packet (seq 1), COM_PING (seq 0).
const query = Buffer.from([9, 0, 0, 0, 0x03, ...Buffer.from("select 1")]);
const ok = Buffer.from([7, 0, 0, 1, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]);
const ping = Buffer.from([1, 0, 0, 0, 0x0e]);
const stream = Buffer.concat([query, ok, ping]);

function readAll(reader: PacketReader, chunks: Buffer[]): Packet[] {
  const out: Packet[] = [];
  for (const c of chunks) {
    reader.push(c);
    for (let p = reader.next(); p; p = reader.next()) out.push({ ...p, payload: Buffer.from(p.payload) });
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

describe("PacketReader", () => {
  it("gives a packet lying in one chunk with its frame, header included, and no frame to one split across chunks", () => {
    const reader = new PacketReader();
    reader.push(Buffer.concat([query, ok.subarray(0, 5)]));
    const first = reader.next()!;
    expect(first.frame).toEqual(query);
    expect(first.frame?.buffer).toBe(first.payload.buffer);
    expect(reader.next()).toBeUndefined();
    reader.push(ok.subarray(5));
    const second = reader.next()!;
    expect(second.payload).toEqual(ok.subarray(4));
    expect(second.frame).toBeUndefined();
  });

  it("reads hand-built packets with their sequence ids, as views of the chunk", () => {
    const reader = new PacketReader();
    reader.push(stream);
    const first = reader.next()!;
    expect(first.seq).toBe(0);
    expect(first.payload.toString("latin1")).toBe("\x03select 1");
    expect(first.payload.buffer).toBe(stream.buffer);
    const second = reader.next()!;
    expect(second.seq).toBe(1);
    expect([...second.payload]).toEqual([0, 0, 0, 2, 0, 0, 0]);
    expect(reader.next()!.payload[0]).toBe(0x0e);
    expect(reader.next()).toBeUndefined();
  });

  it("reassembles packets split at every offset, including inside headers", () => {
    for (let i = 1; i < stream.length; i++) {
      const got = readAll(new PacketReader(), splitAt(stream, [i]));
      expect(got.map((p) => p.payload[0])).toEqual([0x03, 0x00, 0x0e]);
    }
  });

  it("joins a payload of 0xFFFFFF bytes or more from its physical packets, and encodePacket splits it", () => {
    const big = Buffer.alloc(0xffffff * 2 + 10, 0x61);
    big[0] = 1;
    big[big.length - 1] = 2;
    const framed = Buffer.concat(encodePacket(3, big));
    expect(framed.length).toBe(big.length + 12);
    expect([framed[0xffffff + 4 + 3]]).toEqual([4]);
    const got = readAll(new PacketReader(), splitAt(framed, [2, 0xffffff, 0xffffff + 6, 40_000_000]));
    expect(got).toHaveLength(1);
    expect(got[0]!.seq).toBe(3);
    expect(got[0]!.fragments).toBe(3);
    expect(got[0]!.payload.equals(big)).toBe(true);
  });

  it("ends a payload of exactly 0xFFFFFF bytes with an empty packet", () => {
    const exact = Buffer.alloc(0xffffff, 7);
    const framed = encodePacket(0, exact);
    expect(framed.map((b) => b.length)).toEqual([4, 0xffffff, 4]);
    expect(fragmentCount(exact.length)).toBe(2);
    const got = readAll(new PacketReader(), [Buffer.concat(framed)]);
    expect(got[0]!.payload.length).toBe(0xffffff);
    expect(got[0]!.fragments).toBe(2);
  });

  it("refuses a declared length above the limit as soon as the header arrives", () => {
    const reader = new PacketReader({ maxPayload: 100 });
    reader.push(Buffer.from([101, 0, 0, 0]));
    expect(() => reader.next()).toThrowError(ProtocolError);
    expect(() => reader.next()).toThrowError(/exceeds the limit of 100 bytes/);
  });

  it("refuses continuation packets with a wrong sequence id", () => {
    const big = Buffer.concat(encodePacket(0, Buffer.alloc(0xffffff + 1)));
    big[0xffffff + 4 + 3] = 9;
    const reader = new PacketReader();
    reader.push(big);
    expect(() => reader.next()).toThrowError(/out of order/);
  });

  it("rejects a maxPayload outside [1, 1 GiB]", () => {
    expect(() => new PacketReader({ maxPayload: 0 })).toThrowError(RangeError);
    expect(() => new PacketReader({ maxPayload: 2 ** 31 })).toThrowError(RangeError);
  });

  it("drain returns unread bytes exactly", () => {
    const reader = new PacketReader();
    reader.push(stream.subarray(0, 20));
    expect(reader.next()!.payload[0]).toBe(0x03);
    expect(Buffer.concat(reader.drain()).equals(stream.subarray(13, 20))).toBe(true);
    expect(reader.buffered).toBe(0);
  });

  it("property: any payloads, split anywhere, come back identical with their sequence ids", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 255 })), {
          maxLength: 12,
        }),
        fc.array(fc.nat(4000), { maxLength: 20 }),
        (items, cuts) => {
          const bytes = Buffer.concat(items.map(([p, s]) => packet(s, Buffer.from(p))));
          const got = readAll(new PacketReader(), splitAt(bytes, cuts));
          expect(got.map((p) => [[...p.payload], p.seq])).toEqual(items.map(([p, s]) => [[...p], s]));
        },
      ),
    );
  });
});
