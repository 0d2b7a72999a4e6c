import { once } from "node:events";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { coalesceWrites } from "./coalesce";

describe("coalesceWrites", () => {
  it("sends the writes of one turn in one vectored write, bytes and order intact", async () => {
    const received: Buffer[] = [];
    const server = createServer((s) => s.on("data", (d: Buffer) => received.push(d)));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const sock = connect((server.address() as AddressInfo).port, "127.0.0.1");
    await once(sock, "connect");
    coalesceWrites(sock);
    let vectored = 0;
    const writev = (sock as Socket & { _writev: (...a: unknown[]) => unknown })._writev;
    (sock as Socket & { _writev: (...a: unknown[]) => unknown })._writev = function (
      this: Socket,
      ...a: unknown[]
    ) {
      vectored += 1;
      return writev.apply(this, a);
    };
    const parts = [Buffer.alloc(32_768, 1), Buffer.alloc(32_768, 2), Buffer.from("tail")];
    for (const p of parts) sock.write(p);
    await new Promise((r) => setTimeout(r, 50));
    sock.write("next turn");
    sock.end();
    await once(sock, "close");
    await new Promise((r) => setTimeout(r, 50));
    server.close();
    expect(vectored).toBe(1);
    expect(Buffer.concat(received).equals(Buffer.concat([...parts, Buffer.from("next turn")]))).toBe(true);
  });
});
