import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SshWriter } from "./keys/wire";
import { createSftpObserver, type SftpFileEvent } from "./sftp-observer";

/** One SFTP packet: uint32 length, type, body. */
function packet(type: number, build: (w: SshWriter) => void): Buffer {
  const w = new SshWriter();
  build(w);
  const body = Buffer.concat([Buffer.from([type]), w.bytes()]);
  return Buffer.concat([new SshWriter().u32(body.length).bytes(), body]);
}

const open = (id: number, path: string, flags: number) =>
  packet(3, (w) => w.u32(id).string(path).u32(flags).u32(0));
const handle = (id: number, h: string) => packet(102, (w) => w.u32(id).string(h));
const write = (id: number, h: string, data: Buffer) =>
  packet(6, (w) => w.u32(id).string(h).u64(0n).string(data));
const read = (id: number, h: string, len: number) => packet(5, (w) => w.u32(id).string(h).u64(0n).u32(len));
const data = (id: number, bytes: Buffer) => packet(103, (w) => w.u32(id).string(bytes));
const close = (id: number, h: string) => packet(4, (w) => w.u32(id).string(h));
const status = (id: number, code: number) => packet(101, (w) => w.u32(id).u32(code).string("").string(""));
const rename = (id: number, from: string, to: string) => packet(18, (w) => w.u32(id).string(from).string(to));

/** A session: upload a.bin (70,000 bytes in 3 writes), download b.txt (2 reads), a failed open, a rename. */
function session() {
  const requests = [
    open(1, "/home/u/a.bin", 0x1a),
    write(2, "h1", Buffer.alloc(32_768, 1)),
    write(3, "h1", Buffer.alloc(32_768, 2)),
    write(4, "h1", Buffer.alloc(4_464, 3)),
    close(5, "h1"),
    open(6, "/etc/b.txt", 1),
    read(7, "h2", 32_768),
    read(8, "h2", 32_768),
    close(9, "h2"),
    open(10, "/nope", 1),
    rename(11, "/home/u/a.bin", "/home/u/c.bin"),
  ];
  const responses = [
    handle(1, "h1"),
    status(2, 0),
    status(3, 0),
    status(4, 0),
    status(5, 0),
    handle(6, "h2"),
    data(7, Buffer.from("hello ")),
    data(8, Buffer.from("world\n")),
    status(9, 0),
    status(10, 2),
    status(11, 0),
  ];
  return { requests, responses };
}

function observe(requests: Buffer[], responses: Buffer[], cuts: (total: number) => number[]) {
  const files: SftpFileEvent[] = [];
  const ops: string[] = [];
  const o = createSftpObserver({
    file: (f) => files.push(f),
    op: (op, paths) => ops.push(`${op} ${paths.join(" ")}`),
  });
  // Requests and responses interleave like a real session: each request, then its answer.
  for (let i = 0; i < requests.length; i++) {
    for (const [buf, feed] of [
      [requests[i] as Buffer, o.request],
      [responses[i] as Buffer, o.response],
    ] as const) {
      let at = 0;
      for (const cut of [...cuts(buf.length), buf.length]) {
        if (cut <= at) continue;
        feed(buf.subarray(at, cut));
        at = cut;
      }
    }
  }
  o.end();
  return { files, ops, following: o.following };
}

const expected = {
  files: [
    { path: "/home/u/a.bin", mode: "write", bytesRead: 0, bytesWritten: 70_000 },
    { path: "/etc/b.txt", mode: "read", bytesRead: 12, bytesWritten: 0 },
  ],
  ops: ["rename /home/u/a.bin /home/u/c.bin"],
  following: true,
};

describe("sftp observer", () => {
  it("reports each file with its path, mode and byte counts", () => {
    const { requests, responses } = session();
    expect(observe(requests, responses, () => [])).toEqual(expected);
  });

  it("gives the same report however the stream is split into chunks", () => {
    const { requests, responses } = session();
    fc.assert(
      fc.property(fc.array(fc.nat(70_000), { maxLength: 6 }), (cuts) => {
        const sorted = [...cuts].sort((a, b) => a - b);
        expect(observe(requests, responses, (n) => sorted.filter((c) => c < n))).toEqual(expected);
      }),
      { numRuns: 200 },
    );
    // Byte by byte through the headers of the first packets.
    expect(observe(requests, responses, (n) => Array.from({ length: Math.min(n, 64) }, (_, i) => i))).toEqual(
      expected,
    );
  });

  it("reports files left open when the stream ends", () => {
    const files: SftpFileEvent[] = [];
    const o = createSftpObserver({ file: (f) => files.push(f) });
    o.request(open(1, "/tmp/x", 0x1a));
    o.response(handle(1, "h"));
    o.request(write(2, "h", Buffer.alloc(10)));
    o.end();
    expect(files).toEqual([{ path: "/tmp/x", mode: "write", bytesRead: 0, bytesWritten: 10 }]);
  });

  it("stops following a stream with an impossible packet length, without throwing", () => {
    const files: SftpFileEvent[] = [];
    const o = createSftpObserver({ file: (f) => files.push(f) });
    o.request(Buffer.from([0xff, 0xff, 0xff, 0xff, 3, 0, 0]));
    o.request(open(1, "/tmp/x", 1));
    expect(o.following).toBe(false);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (noise) => {
        const p = createSftpObserver({ file: () => undefined });
        p.request(Buffer.from(noise));
        p.response(Buffer.from(noise));
        p.end();
      }),
    );
  });
});
