import { describe, expect, it } from "vitest";
import { parseNotificationResponse } from "./backend-messages";
import { backend } from "./backend-serializer";
import { ProtocolError } from "./errors";

describe("NotificationResponse", () => {
  it("round-trips process id, channel and payload", () => {
    const frame = backend.notificationResponse(4242, "jobs", "payload ✓");
    expect(frame[0]).toBe(0x41);
    expect(frame.readInt32BE(1)).toBe(frame.length - 1);
    expect(parseNotificationResponse(frame.subarray(5))).toEqual({
      processId: 4242,
      channel: "jobs",
      payload: "payload ✓",
    });
  });

  it("rejects a body without its terminators or with trailing bytes", () => {
    const body = backend.notificationResponse(1, "c", "p").subarray(5);
    expect(() => parseNotificationResponse(body.subarray(0, body.length - 1))).toThrow(ProtocolError);
    expect(() => parseNotificationResponse(Buffer.concat([body, Buffer.from([1])]))).toThrow(ProtocolError);
  });
});
