/**
 * SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00), the transport kubectl uses for exec before
 * 1.30 and for port-forward (directly, or tunnelled through a WebSocket since 1.31).
 * Frames: control frames carry version 3 and a type; data frames a stream id; both have 8 bits
 * of flags and a 24-bit length. Header blocks are zlib-compressed with the spec's dictionary,
 * one compression context per direction for the whole connection.
 */

export const FLAG_FIN = 0x01;

export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

export interface ControlFrame {
  control: true;
  type: number;
  flags: number;
  data: Buffer;
}

export interface DataFrame {
  control: false;
  streamId: number;
  flags: number;
  data: Buffer;
}

export type Frame = ControlFrame | DataFrame;

/** Largest frame accepted from a peer; kubectl's are far smaller (data frames are ≤ 32 KiB). */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** The SPDY/3 header compression dictionary (spec section 2.6.10.1), 1423 bytes. */
export const HEADER_DICTIONARY = Buffer.from(
  [
    "AAAAB29wdGlvbnMAAAAEaGVhZAAAAARwb3N0AAAAA3B1dAAAAAZkZWxldGUAAAAFdHJhY2UAAAAGYWNjZXB0AAAADmFjY2VwdC1j",
    "aGFyc2V0AAAAD2FjY2VwdC1lbmNvZGluZwAAAA9hY2NlcHQtbGFuZ3VhZ2UAAAANYWNjZXB0LXJhbmdlcwAAAANhZ2UAAAAFYWxs",
    "b3cAAAANYXV0aG9yaXphdGlvbgAAAA1jYWNoZS1jb250cm9sAAAACmNvbm5lY3Rpb24AAAAMY29udGVudC1iYXNlAAAAEGNvbnRl",
    "bnQtZW5jb2RpbmcAAAAQY29udGVudC1sYW5ndWFnZQAAAA5jb250ZW50LWxlbmd0aAAAABBjb250ZW50LWxvY2F0aW9uAAAAC2Nv",
    "bnRlbnQtbWQ1AAAADWNvbnRlbnQtcmFuZ2UAAAAMY29udGVudC10eXBlAAAABGRhdGUAAAAEZXRhZwAAAAZleHBlY3QAAAAHZXhw",
    "aXJlcwAAAARmcm9tAAAABGhvc3QAAAAIaWYtbWF0Y2gAAAARaWYtbW9kaWZpZWQtc2luY2UAAAANaWYtbm9uZS1tYXRjaAAAAAhp",
    "Zi1yYW5nZQAAABNpZi11bm1vZGlmaWVkLXNpbmNlAAAADWxhc3QtbW9kaWZpZWQAAAAIbG9jYXRpb24AAAAMbWF4LWZvcndhcmRz",
    "AAAABnByYWdtYQAAABJwcm94eS1hdXRoZW50aWNhdGUAAAATcHJveHktYXV0aG9yaXphdGlvbgAAAAVyYW5nZQAAAAdyZWZlcmVy",
    "AAAAC3JldHJ5LWFmdGVyAAAABnNlcnZlcgAAAAJ0ZQAAAAd0cmFpbGVyAAAAEXRyYW5zZmVyLWVuY29kaW5nAAAAB3VwZ3JhZGUA",
    "AAAKdXNlci1hZ2VudAAAAAR2YXJ5AAAAA3ZpYQAAAAd3YXJuaW5nAAAAEHd3dy1hdXRoZW50aWNhdGUAAAAGbWV0aG9kAAAAA2dl",
    "dAAAAAZzdGF0dXMAAAAGMjAwIE9LAAAAB3ZlcnNpb24AAAAISFRUUC8xLjEAAAADdXJsAAAABnB1YmxpYwAAAApzZXQtY29va2ll",
    "AAAACmtlZXAtYWxpdmUAAAAGb3JpZ2luMTAwMTAxMjAxMjAyMjA1MjA2MzAwMzAyMzAzMzA0MzA1MzA2MzA3NDAyNDA1NDA2NDA3",
    "NDA4NDA5NDEwNDExNDEyNDEzNDE0NDE1NDE2NDE3NTAyNTA0NTA1MjAzIE5vbi1BdXRob3JpdGF0aXZlIEluZm9ybWF0aW9uMjA0",
    "IE5vIENvbnRlbnQzMDEgTW92ZWQgUGVybWFuZW50bHk0MDAgQmFkIFJlcXVlc3Q0MDEgVW5hdXRob3JpemVkNDAzIEZvcmJpZGRl",
    "bjQwNCBOb3QgRm91bmQ1MDAgSW50ZXJuYWwgU2VydmVyIEVycm9yNTAxIE5vdCBJbXBsZW1lbnRlZDUwMyBTZXJ2aWNlIFVuYXZh",
    "aWxhYmxlSmFuIEZlYiBNYXIgQXByIE1heSBKdW4gSnVsIEF1ZyBTZXB0IE9jdCBOb3YgRGVjIDAwOjAwOjAwIE1vbiwgVHVlLCBX",
    "ZWQsIFRodSwgRnJpLCBTYXQsIFN1biwgR01UY2h1bmtlZCx0ZXh0L2h0bWwsaW1hZ2UvcG5nLGltYWdlL2pwZyxpbWFnZS9naWYs",
    "YXBwbGljYXRpb24veG1sLGFwcGxpY2F0aW9uL3hodG1sK3htbCx0ZXh0L3BsYWluLHRleHQvamF2YXNjcmlwdCxwdWJsaWNwcml2",
    "YXRlbWF4LWFnZT1nemlwLGRlZmxhdGUsc2RjaGNoYXJzZXQ9dXRmLThjaGFyc2V0PWlzby04ODU5LTEsdXRmLSwqLGVucT0wLg==",
  ].join(""),
  "base64",
);

/** Splits a byte stream into frames; call push() with each chunk, it returns the complete frames. */
export function createFrameReader() {
  let buffered: Buffer = Buffer.alloc(0);
  return {
    push(chunk: Buffer): Frame[] {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      const frames: Frame[] = [];
      while (buffered.length >= 8) {
        const length = buffered.readUIntBE(5, 3);
        if (length > MAX_FRAME_BYTES) throw new Error(`SPDY frame of ${length} bytes exceeds the limit`);
        if (buffered.length < 8 + length) break;
        const first = buffered.readUInt32BE(0);
        const flags = buffered[4] ?? 0;
        const data = Buffer.from(buffered.subarray(8, 8 + length));
        if (first & 0x80000000) {
          const version = (first >>> 16) & 0x7fff;
          if (version !== 3) throw new Error(`unsupported SPDY version ${version}`);
          frames.push({ control: true, type: first & 0xffff, flags, data });
        } else {
          frames.push({ control: false, streamId: first & 0x7fffffff, flags, data });
        }
        buffered = buffered.subarray(8 + length);
      }
      return frames;
    },
  };
}

function header(first: number, flags: number, length: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt32BE(first >>> 0, 0);
  out[4] = flags;
  out.writeUIntBE(length, 5, 3);
  return out;
}

export function controlFrame(type: number, flags: number, data: Buffer): Buffer {
  return Buffer.concat([header((0x8000 | 3) * 0x10000 + type, flags, data.length), data]);
}

export function dataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  return Buffer.concat([header(streamId & 0x7fffffff, flags, data.length), data]);
}

export function uint32s(...values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    out.writeUInt32BE(v >>> 0, i * 4);
  });
  return out;
}

/** Serializes an uncompressed header block: count, then length-prefixed names and values. */
export function encodeHeaderBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [uint32s(Object.keys(headers).length)];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name.toLowerCase());
    const v = Buffer.from(value);
    parts.push(uint32s(n.length), n, uint32s(v.length), v);
  }
  return Buffer.concat(parts);
}

/** Parses an uncompressed header block; repeated values (NUL-separated) keep the first. */
export function decodeHeaderBlock(block: Buffer): Record<string, string> {
  const headers: Record<string, string> = {};
  const count = block.readUInt32BE(0);
  let pos = 4;
  const take = () => {
    const length = block.readUInt32BE(pos);
    const value = block.subarray(pos + 4, pos + 4 + length).toString("utf8");
    pos += 4 + length;
    return value;
  };
  for (let i = 0; i < count && pos < block.length; i++) {
    const name = take().toLowerCase();
    headers[name] = take().split("\0")[0] ?? "";
  }
  return headers;
}
