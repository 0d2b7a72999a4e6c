/**
 * A tiny Postgres wire client for the idle-session test: startup, cleartext / MD5 /
 * SCRAM-SHA-256 auth, wait for ReadyForQuery, optional simple query, terminate.
 * No dependencies, so the bench runs from the repo root without installing `pg`.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { connect, type Socket } from "node:net";
import type { ConnParams } from "./cluster";

export interface MiniConn {
  socket: Socket;
  query: (sql: string) => Promise<void>;
  close: () => void;
}

function msg(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}

function startup(user: string, database: string): Buffer {
  const body = Buffer.concat([
    Buffer.from([0, 3, 0, 0]),
    cstr("user"),
    cstr(user),
    cstr("database"),
    cstr(database),
    cstr("application_name"),
    cstr("sluice-bench-idle"),
    Buffer.from([0]),
  ]);
  const len = Buffer.alloc(4);
  len.writeInt32BE(body.length + 4);
  return Buffer.concat([len, body]);
}

function pbkdf2Async(pw: string, salt: Buffer, iter: number): Promise<Buffer> {
  return new Promise((res, rej) => pbkdf2(pw, salt, iter, 32, "sha256", (e, k) => (e ? rej(e) : res(k))));
}

/** Reads whole backend messages off a socket. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: ((m: { type: string; body: Buffer }) => void)[] = [];
  private queue: { type: string; body: Buffer }[] = [];
  private failure: Error | undefined;
  private failed: ((e: Error) => void)[] = [];

  constructor(socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      while (this.buf.length >= 5) {
        const len = this.buf.readInt32BE(1);
        if (len < 4 || len > 64 * 1024 * 1024) return this.fail(new Error(`bad message length ${len}`));
        if (this.buf.length < len + 1) break;
        const m = { type: String.fromCharCode(this.buf[0] ?? 0), body: this.buf.subarray(5, len + 1) };
        this.buf = this.buf.subarray(len + 1);
        const w = this.waiters.shift();
        if (w) {
          this.failed.shift();
          w(m);
        } else this.queue.push(m);
      }
    });
    socket.on("error", (e) => this.fail(e));
    socket.on("close", () => this.fail(new Error("connection closed")));
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const f of this.failed.splice(0)) f(e);
    this.waiters.length = 0;
  }

  next(): Promise<{ type: string; body: Buffer }> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((res, rej) => {
      this.waiters.push(res);
      this.failed.push(rej);
    });
  }
}

function errorText(body: Buffer): string {
  const parts = body.toString("utf8").split("\0");
  const m = parts.find((p) => p.startsWith("M"));
  const c = parts.find((p) => p.startsWith("C"));
  return `${m?.slice(1) ?? "error"}${c ? ` (${c.slice(1)})` : ""}`;
}

export async function miniConnect(p: ConnParams, timeoutMs = 15_000): Promise<MiniConn> {
  const socket = connect({ host: p.host, port: p.port, noDelay: true });
  const timer = setTimeout(
    () => socket.destroy(new Error(`connect timeout after ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    await new Promise<void>((res, rej) => {
      socket.once("connect", res);
      socket.once("error", rej);
    });
    const r = new Reader(socket);
    socket.write(startup(p.user, p.database));
    let scram: { nonce: string; firstBare: string; serverSig?: Buffer } | undefined;
    for (let i = 0; i < 200; i++) {
      const m = await r.next();
      if (m.type === "E") throw new Error(errorText(m.body));
      if (m.type === "Z") break;
      if (m.type !== "R") continue;
      const code = m.body.readInt32BE(0);
      if (code === 0) continue;
      if (code === 3) {
        socket.write(msg("p", cstr(p.password)));
      } else if (code === 5) {
        const salt = m.body.subarray(4, 8);
        const inner = createHash("md5")
          .update(p.password + p.user)
          .digest("hex");
        const outer = createHash("md5")
          .update(Buffer.concat([Buffer.from(inner), salt]))
          .digest("hex");
        socket.write(msg("p", cstr(`md5${outer}`)));
      } else if (code === 10) {
        const mechs = m.body.subarray(4).toString("utf8").split("\0");
        if (!mechs.includes("SCRAM-SHA-256"))
          throw new Error(`unsupported SASL mechanisms ${mechs.join(",")}`);
        const nonce = randomBytes(18).toString("base64");
        const firstBare = `n=*,r=${nonce}`;
        const data = Buffer.from(`n,,${firstBare}`);
        const len = Buffer.alloc(4);
        len.writeInt32BE(data.length);
        socket.write(msg("p", Buffer.concat([cstr("SCRAM-SHA-256"), len, data])));
        scram = { nonce, firstBare };
      } else if (code === 11) {
        if (!scram) throw new Error("SASLContinue before SASL");
        const serverFirst = m.body.subarray(4).toString("utf8");
        const attrs = new Map(serverFirst.split(",").map((kv) => [kv[0], kv.slice(2)] as const));
        const rnonce = attrs.get("r") ?? "";
        if (!rnonce.startsWith(scram.nonce)) throw new Error("SCRAM nonce mismatch");
        const salt = Buffer.from(attrs.get("s") ?? "", "base64");
        const iter = Number(attrs.get("i"));
        const salted = await pbkdf2Async(p.password, salt, iter);
        const clientKey = createHmac("sha256", salted).update("Client Key").digest();
        const storedKey = createHash("sha256").update(clientKey).digest();
        const finalNoProof = `c=biws,r=${rnonce}`;
        const authMessage = `${scram.firstBare},${serverFirst},${finalNoProof}`;
        const clientSig = createHmac("sha256", storedKey).update(authMessage).digest();
        const proof = Buffer.alloc(32);
        for (let j = 0; j < 32; j++) proof[j] = (clientKey[j] ?? 0) ^ (clientSig[j] ?? 0);
        const serverKey = createHmac("sha256", salted).update("Server Key").digest();
        scram.serverSig = createHmac("sha256", serverKey).update(authMessage).digest();
        socket.write(msg("p", Buffer.from(`${finalNoProof},p=${proof.toString("base64")}`)));
      } else if (code === 12) {
        const v = m.body.subarray(4).toString("utf8");
        const got = Buffer.from(v.startsWith("v=") ? v.slice(2) : "", "base64");
        if (!scram?.serverSig || got.length !== 32 || !timingSafeEqual(got, scram.serverSig)) {
          throw new Error("SCRAM server signature mismatch");
        }
      } else {
        throw new Error(`unsupported auth request ${code}`);
      }
    }
    clearTimeout(timer);
    return {
      socket,
      query: async (sql) => {
        socket.write(msg("Q", cstr(sql)));
        let err: string | undefined;
        for (let i = 0; i < 10_000; i++) {
          const m = await r.next();
          if (m.type === "E") err = errorText(m.body);
          if (m.type === "Z") break;
        }
        if (err) throw new Error(err);
      },
      close: () => {
        if (!socket.destroyed) socket.end(msg("X", Buffer.alloc(0)));
        setTimeout(() => socket.destroy(), 1000).unref();
      },
    };
  } catch (e) {
    clearTimeout(timer);
    socket.destroy();
    throw e;
  }
}
