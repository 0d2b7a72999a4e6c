import { describe, expect, it } from "vitest";
import { encodePacket } from "./packet-reader";
import { Outbox } from "./proxy-session";

describe("Outbox", () => {
  const received = Buffer.from([1, 0, 0, 1, 0xaa, 2, 0, 0, 2, 0xbb, 0xcc, 1, 0, 0, 3, 0xdd]);
  const frames = [received.subarray(0, 5), received.subarray(5, 11), received.subarray(11)];

  it("sends adjacent received packets as one view of the bytes that arrived", () => {
    const out = new Outbox();
    for (const f of frames) out.frame(f);
    const bufs = out.take();
    expect(bufs).toHaveLength(1);
    expect(bufs[0]).toEqual(received);
    expect(bufs[0]?.buffer).toBe(received.buffer);
    expect(out.take()).toEqual([]);
  });

  it("keeps the order of received and re-encoded packets", () => {
    const out = new Outbox();
    out.frame(frames[0]!);
    out.packets(encodePacket(2, Buffer.from([0xee])));
    out.frame(frames[2]!);
    out.frame(Buffer.from(frames[0]!));
    expect(Buffer.concat(out.take())).toEqual(
      Buffer.concat([frames[0]!, Buffer.from([1, 0, 0, 2, 0xee]), frames[2]!, frames[0]!]),
    );
  });

  it("does not join packets that are not next to each other in memory", () => {
    const out = new Outbox();
    out.frame(frames[0]!);
    out.frame(frames[2]!);
    expect(out.take()).toHaveLength(2);
  });
});
