import net from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expectHealthy,
  expectServing,
  type FuzzTarget,
  HANDSHAKE_S,
  inParallel,
  RUNS,
  startFuzzTarget,
  TIMEOUT,
  usage,
} from "./fuzz-target";

/**
 * Slow, many and stubborn clients at every door of a real agent: clients that send one byte
 * a second are cut at the handshake deadline (SLUICE_HANDSHAKE_TIMEOUT_SECONDS) while others
 * are served; a thousand connections opened and closed at once per port; refused clients that
 * never close their side cost the agent no descriptor. Memory and descriptors stay bounded.
 */

let t: FuzzTarget;
let baseline: ReturnType<typeof usage>;

beforeAll(async () => {
  t = await startFuzzTarget("fuzz-flood");
  await expectServing(t);
  baseline = usage(t);
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

type Door = "postgres" | "mysql" | "ssh" | "http" | "tunnel";
const DOORS: Door[] = ["postgres", "mysql", "ssh", "http", "tunnel"];

const startupMessage = (() => {
  const b = Buffer.from("\0\0\0\0\0\x03\0\0user\0me\0database\0fz-pg\0\0", "latin1");
  b.writeUInt32BE(b.length);
  return b;
})();
const mysqlResponse = Buffer.from(
  "3a0000010da20a0000000001210000000000000000000000000000000000000000000000",
  "hex",
);
const clientHello = Buffer.from("16030100f4010000f00303", "hex");

/** How a slow client reaches the point where it drips: raw, after the greeting, or inside TLS. */
interface Drip {
  door: Door;
  tls?: boolean;
  /** Bytes sent at once before dripping (an SSLRequest). */
  first?: Buffer;
  drip: Buffer;
}

const drips: Drip[] = [
  { door: "postgres", drip: startupMessage },
  { door: "postgres", first: Buffer.from("0000000804d2162f", "hex"), tls: true, drip: startupMessage },
  { door: "mysql", drip: mysqlResponse },
  { door: "ssh", drip: Buffer.from("SSH-2.0-OpenSSH_9.6\r\n") },
  { door: "http", drip: clientHello },
  { door: "http", tls: true, drip: Buffer.from("GET /fz-pg/x HTTP/1.1\r\nHost: 127.0.0.1\r\n") },
  { door: "tunnel", drip: clientHello },
  { door: "tunnel", tls: true, drip: Buffer.from("SLUICE/1 fz-pg abc.def.ghi\n") },
];

/** Connects, then sends `d.drip` one byte a second; resolves with how long until the agent closed. */
function slowClient(d: Drip): Promise<{ name: string; ms: number; sent: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const name = `${d.door}${d.tls ? " in TLS" : ""}`;
    const dripOn = (s: net.Socket) => {
      timer = setInterval(() => {
        if (sent < d.drip.length && !s.destroyed) s.write(d.drip.subarray(sent, ++sent));
      }, 1_000);
    };
    const raw = net.connect(t.ports()[d.door], "127.0.0.1", () => {
      if (d.first) raw.write(d.first);
      if (!d.tls) {
        raw.on("data", () => undefined);
        return dripOn(raw);
      }
      if (d.first) return raw.once("data", () => upgrade());
      upgrade();
    });
    const upgrade = () => {
      const secure = tls.connect({ socket: raw, rejectUnauthorized: false }, () => dripOn(secure));
      secure.on("error", () => undefined);
      secure.on("data", () => undefined);
    };
    raw.on("error", () => undefined);
    raw.on("close", () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ name, ms: Date.now() - started, sent });
    });
    const giveUp = setTimeout(
      () => {
        clearInterval(timer);
        raw.destroy();
        resolve({ name, ms: Number.POSITIVE_INFINITY, sent });
      },
      (HANDSHAKE_S + 8) * 1000,
    );
  });
}

describe("slow clients", () => {
  it("are cut at the handshake deadline at every door, TLS or not, while others are served", async () => {
    const slow = Promise.all(drips.map(slowClient));
    await expectServing(t);
    const cut = await slow;
    const deadline = HANDSHAKE_S * 1000;
    const late = cut.filter((c) => c.ms < deadline - 100 || c.ms > deadline + 2_500);
    expect(late, JSON.stringify(cut)).toEqual([]);
    // Each sent only a few of its bytes: the deadline, not the end of its message, cut it.
    for (const c of cut) expect(c.sent, c.name).toBeLessThan(startupMessage.length / 4);
    await expectHealthy(t, baseline);
  }, 30_000);
});

describe("a thousand connections at once", () => {
  it(
    "opened and dropped against every port leave the agent serving, in bounded memory",
    async () => {
      const n = Math.max(1_000, RUNS);
      for (const door of DOORS) {
        const port = t.ports()[door];
        const refused = await inParallel(Array.from({ length: n }), 64, (_, i) => {
          return new Promise<number>((resolve) => {
            const s = net.connect(port, "127.0.0.1", () => {
              // Most leave at once; some say one byte first, or close politely.
              if (i % 3 === 1) s.write(Buffer.from([i & 0xff]));
              if (i % 3 === 2) s.end();
              else s.destroy();
            });
            // Greetings are read, so the agent's close is seen.
            s.resume();
            s.on("error", () => resolve(1));
            s.on("close", () => resolve(0));
          });
        });
        expect({ door, refused: refused.reduce((a, b) => a + b, 0) }).toEqual({ door, refused: 0 });
        expect(usage(t).rssMiB, door).toBeLessThan(baseline.rssMiB + 200);
      }
      await expectHealthy(t, baseline);
    },
    TIMEOUT,
  );
});

/** A client that is refused and never closes its side: the agent must still let go of the socket. */
interface Stubborn {
  door: Door;
  tls?: boolean;
  afterGreeting?: boolean;
  bytes: Buffer;
}

const stubborn: Stubborn[] = [
  { door: "postgres", bytes: Buffer.from("00000003", "hex") },
  { door: "postgres", bytes: Buffer.from("0000000c1234567800000000", "hex") },
  { door: "mysql", afterGreeting: true, bytes: Buffer.from("020000010102", "hex") },
  { door: "ssh", bytes: Buffer.from("NOT-SSH\r\n") },
  { door: "http", tls: true, bytes: Buffer.from("BREW / HTCPCP/1.0\r\n\r\n") },
  // a request head that never completes: answered 408 at the deadline
  { door: "http", tls: true, bytes: Buffer.from("GET /fz-pg/x HTTP/1.1\r\nHost: a\r\n") },
  { door: "tunnel", tls: true, bytes: Buffer.from("SLUICE/2 x y\n") },
  { door: "tunnel", tls: true, bytes: Buffer.from("SLUICE/1 fz-pg not-a-grant\n") },
];

function halfOpen(c: Stubborn): Promise<net.Socket> {
  return new Promise((resolve) => {
    const port = t.ports()[c.door];
    const o = { host: "127.0.0.1", port, allowHalfOpen: true };
    let sent = false;
    const send = () => {
      if (!sent) s.write(c.bytes);
      sent = true;
    };
    const s: net.Socket = c.tls
      ? tls.connect({ ...o, rejectUnauthorized: false }, send)
      : net.connect(o, () => !c.afterGreeting && send());
    s.on("error", () => resolve(s));
    s.on("data", () => c.afterGreeting && send());
    // The agent's answer is complete when it ends its side; this client keeps its own open.
    s.on("end", () => resolve(s));
    s.on("close", () => resolve(s));
  });
}

describe("refused clients that never close their side", () => {
  it("cost the agent no descriptor once it answered them", async () => {
    const clients = stubborn.flatMap((c) => Array.from({ length: 30 }, () => c));
    const sockets = await inParallel(clients, 32, halfOpen);
    try {
      const held = sockets.filter((s) => !s.destroyed).length;
      expect(held).toBeGreaterThan(clients.length / 2);
      await expect
        .poll(() => usage(t).fds, { timeout: 5_000, interval: 250 })
        .toBeLessThan(baseline.fds + 15);
    } finally {
      for (const s of sockets) s.destroy();
    }
    await expectHealthy(t, baseline);
  }, 30_000);
});
