import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  be,
  exchange,
  expectHealthy,
  expectServing,
  type FuzzTarget,
  garbage,
  inParallel,
  late,
  mysqlSslRequest,
  PARALLEL,
  mysqlPacket as packet,
  prng,
  type Reply,
  RUNS,
  relength,
  runScript,
  SEED,
  startFuzzTarget,
  startup,
  TIMEOUT,
  usage,
  withLength,
} from "./fuzz-target";

/**
 * Bad input at every door of a real agent: generated garbage, malformed and oversized
 * frames at the Postgres, MySQL, SSH, tunnel and HTTP listeners. Each gets the answer the
 * real server would give (checked against the machine's PostgreSQL and MariaDB where they
 * speak the protocol) or a close, and afterwards the agent is up, serves psql and mariadb,
 * and holds the memory and descriptors it held before. The seed is SLUICE_FUZZ_SEED.
 */

let t: FuzzTarget;
let baseline: ReturnType<typeof usage>;

beforeAll(async () => {
  t = await startFuzzTarget("fuzz-doors");
  // Warm: the first sessions open pools and caches that stay.
  await expectServing(t);
  baseline = usage(t);
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

/**
 * What a Postgres server did with a client: "silent", "error <SQLSTATE>" (an ErrorResponse,
 * after the password request when the startup was valid), or what else it sent.
 */
function pgOutcome(r: Reply): string {
  if (r.end === "open") return "left open";
  const b = r.bytes;
  let error = "silent";
  for (let at = 0; at < b.length; ) {
    const type = String.fromCharCode(b[at]!);
    const end = at + 1 + (b.length >= at + 5 ? b.readUInt32BE(at + 1) : 0);
    if (!"RvE".includes(type) || end <= at + 4 || end > b.length) return `sent ${b.toString("latin1")}`;
    if (type === "E") error = `error ${/\0C([^\0]*)/.exec(b.toString("latin1", at, end))?.[1]}`;
    at = end;
  }
  return error;
}

describe("the Postgres door", () => {
  const user = { user: "postgres", database: "postgres" };
  const cases: [name: string, bytes: Buffer, fin: boolean][] = [
    // node-postgres's `client.connect(); client.end()`: Terminate before the StartupMessage
    [
      "Terminate before the startup message",
      Buffer.concat([Buffer.from("X\0\0\0\x04"), startup(user)]),
      true,
    ],
    ["length 3", be(3), false],
    ["length 7", withLength(7, Buffer.from([0, 3, 0])), false],
    ["length 2^31-1", be(0x7fffffff), false],
    ["negative length", be(-5), false],
    ["CancelRequest without its key", withLength(12, Buffer.concat([be(80877102), be(1)])), false],
    ["CancelRequest for no session", withLength(16, Buffer.concat([be(80877102), be(1), be(2)])), false],
    ["a TLS ClientHello without SSLRequest", Buffer.from("16030100a5010000a103", "hex"), false],
    ["an HTTP request", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false],
    ["half a length, then FIN", Buffer.from([0, 0]), true],
    ["a truncated startup message, then FIN", withLength(100, Buffer.alloc(10)), true],
    ["protocol 4660.22136", startup(user, 0x12345678), false],
    ["no terminator", relength(startup(user).subarray(0, -1)), false],
    ["a name without its value", relength(Buffer.concat([be(0), be(0x30000), Buffer.from("user\0")])), false],
  ];

  it("answers each malformed startup exactly as PostgreSQL does: a quiet close or the same FATAL", async () => {
    const agentSays = await inParallel(cases, 8, ([, bytes, fin]) =>
      exchange(t.agent.pgPort, bytes, { fin }),
    );
    const postgresSays = await inParallel(cases, 8, ([, bytes, fin]) => exchange(5432, bytes, { fin }));
    const differ = cases
      .map(([name], i) => [name, pgOutcome(agentSays[i]!), pgOutcome(postgresSays[i]!)])
      .filter(([, a, p]) => a !== p);
    expect(differ).toEqual([]);
    await expectHealthy(t, baseline);
  }, 30_000);

  it("lets node-postgres's connect(); end() finish without an error, as against PostgreSQL", async () => {
    const script = `import pg from "pg";
      const c = new pg.Client({ host: "127.0.0.1", port: Number(process.argv[1]), user: "me", database: "fz-pg" });
      c.connect();
      await c.end();`;
    for (const port of [5432, t.agent.pgPort]) {
      const r = await runScript(script, [String(port)]);
      expect({ port, ...r }).toEqual({ port, code: 0, stdout: "", stderr: "" });
    }
  }, 30_000);

  it(
    "closes, or answers with one ErrorResponse, every generated startup, within its deadline",
    async () => {
      const rnd = prng(SEED);
      const valid = startup({ user: "me", database: "fz-pg", application_name: "fuzz" });
      const inputs = Array.from({ length: RUNS }, () => garbage(rnd, valid));
      const replies = await inParallel(inputs, PARALLEL, (bytes) => exchange(t.agent.pgPort, bytes));
      const wrong = replies
        .filter((r) => !/^(silent|error (08P01|08006|0A000|28000))$/.test(pgOutcome(r)) || late([r]).length)
        .map((r) => ({
          outcome: pgOutcome(r),
          ms: r.ms,
          input: inputs[replies.indexOf(r)]!.toString("hex"),
        }));
      expect(wrong, `seed ${SEED}`).toEqual([]);
      await expectHealthy(t, baseline);
    },
    TIMEOUT,
  );
});

/** The packets after the greeting: [sequence id, first payload byte, error code] each. */
function mysqlReplies(r: Reply): number[][] {
  const out: number[][] = [];
  for (let at = 0; at + 4 <= r.bytes.length; ) {
    const len = r.bytes.readUIntLE(at, 3);
    const p = r.bytes.subarray(at + 4, at + 4 + len);
    out.push([r.bytes[at + 3]!, p[0]!, p[0] === 0xff ? p.readUInt16LE(1) : 0]);
    at += 4 + len;
  }
  return out.slice(1);
}

describe("the MySQL door", () => {
  it("answers a HandshakeResponse it cannot read with ERR 1043 Bad handshake, as MariaDB does", async () => {
    for (const payload of [
      Buffer.from("hello world, not a handshake"),
      Buffer.from([1, 2]),
      Buffer.alloc(0),
    ]) {
      const bytes = packet(1, payload);
      const [agent, mariadb] = await Promise.all(
        [t.agent.mysqlPort, 3306].map((port) => exchange(port, bytes, { afterGreeting: true })),
      );
      expect(mysqlReplies(agent!), payload.toString("hex")).toEqual([[2, 0xff, 1043]]);
      expect(mysqlReplies(mariadb!), payload.toString("hex")).toEqual([[2, 0xff, 1043]]);
    }
  });

  it(
    "answers generated garbage after its greeting with an ERR, an AuthSwitchRequest or a close, in time",
    async () => {
      const rnd = prng(SEED + 1);
      const caps = Buffer.alloc(32);
      caps.writeUInt32LE(0x000aa209, 0);
      caps.writeUInt32LE(1 << 24, 4);
      caps[8] = 45;
      const valid = packet(1, Buffer.concat([caps, Buffer.from("me\0\x00fz-my\0mysql_clear_password\0")]));
      const inputs = Array.from({ length: RUNS }, () => garbage(rnd, valid));
      const replies = await inParallel(inputs, PARALLEL, (bytes) =>
        exchange(t.agent.mysqlPort, bytes, { afterGreeting: true }),
      );
      const wrong = replies
        .map((r, i) => ({ r, replies: mysqlReplies(r), input: inputs[i]!.toString("hex").slice(0, 80) }))
        .filter(
          ({ r, replies }) =>
            late([r]).length > 0 || replies.some(([, first]) => first !== 0xff && first !== 0xfe),
        )
        .map(({ r, ...rest }) => ({ ...rest, end: r.end, ms: r.ms }));
      expect(wrong, `seed ${SEED + 1}`).toEqual([]);
      await expectHealthy(t, baseline);
    },
    TIMEOUT,
  );
});

describe("the TLS-speaking doors", () => {
  /** A ClientHello-shaped record of noise. */
  const hellos = () => {
    const rnd = prng(SEED + 2);
    return Array.from({ length: RUNS }, () => garbage(rnd, Buffer.from("160301002a0100002603030000", "hex")));
  };

  it(
    "close on a garbage ClientHello: HTTP, Kubernetes and tunnel directly, Postgres and MySQL after their SSLRequest",
    async () => {
      const sslRequest = withLength(8, be(80877103));
      const mysqlSsl = mysqlSslRequest();
      const targets: [string, (hello: Buffer) => Promise<Reply>][] = [
        ["http", (h) => exchange(t.agent.httpPort, h)],
        ["kubernetes", (h) => exchange(t.agent.kubePort, h)],
        ["tunnel", (h) => exchange(t.agent.tunnelPort, h)],
        ["postgres", (h) => exchange(t.agent.pgPort, Buffer.concat([sslRequest, h]))],
        ["mysql", (h) => exchange(t.agent.mysqlPort, Buffer.concat([mysqlSsl, h]), { afterGreeting: true })],
      ];
      const inputs = hellos();
      const all = await Promise.all(targets.map(([, send]) => inParallel(inputs, PARALLEL, send)));
      targets.forEach(([name], i) => {
        const replies = all[i]!;
        expect({ name, late: late(replies).length }).toEqual({ name, late: 0 });
        // Nothing but the protocol's TLS answer, a TLS alert, or the agent's greeting comes back.
        for (const r of replies) expect(r.bytes.length, name).toBeLessThan(400);
      });
      await expectHealthy(t, baseline);
    },
    TIMEOUT,
  );

  it(
    "answers a garbage tunnel preamble inside TLS with an ERR line, never OK",
    async () => {
      const rnd = prng(SEED + 3);
      const valid = Buffer.from("SLUICE/1 fz-pg not-a-grant\n");
      const inputs = Array.from({ length: RUNS }, () =>
        Buffer.concat([garbage(rnd, valid), Buffer.from("\n")]),
      );
      const replies = await inParallel(inputs, PARALLEL, (b) =>
        exchange(t.agent.tunnelPort, b, { tls: true }),
      );
      const lines = replies.map((r) => r.bytes.toString("latin1"));
      expect(
        lines.filter((l) => !/^ERR [a-z_.]+ [^\n]*\n$/.test(l)),
        `seed ${SEED + 3}`,
      ).toEqual([]);
      expect(late(replies)).toEqual([]);
      await expectHealthy(t, baseline);
    },
    TIMEOUT,
  );

  it(
    "answers garbage inside TLS on the HTTP and Kubernetes listeners with a 400, a 408 at its deadline, or a close",
    async () => {
      const rnd = prng(SEED + 4);
      const valid = Buffer.from(
        `GET /fz-pg/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k\r\n\r\n`,
      );
      const inputs = Array.from({ length: RUNS }, () => garbage(rnd, valid));
      for (const port of [t.agent.httpPort, t.agent.kubePort]) {
        const replies = await inParallel(inputs, PARALLEL, (b) => exchange(port, b, { tls: true }));
        const statuses = replies.map(
          (r) => /^HTTP\/1\.1 (\d{3})/.exec(r.bytes.toString("latin1"))?.[1] ?? "none",
        );
        expect(
          statuses.filter((s) => !["400", "401", "404", "408", "none"].includes(s)),
          `seed ${SEED + 4}, port ${port}`,
        ).toEqual([]);
        expect(late(replies)).toEqual([]);
      }
      await expectHealthy(t, baseline);
    },
    TIMEOUT,
  );
});

describe("the SSH door", () => {
  it(
    "identifies itself and closes within its deadline, whatever comes instead of a client",
    async () => {
      const rnd = prng(SEED + 5);
      const inputs = Array.from({ length: RUNS }, () => garbage(rnd, Buffer.from("SSH-2.0-OpenSSH_9.6\r\n")));
      const replies = await inParallel(inputs, PARALLEL, (b) => exchange(t.agent.sshPort, b));
      expect(late(replies)).toEqual([]);
      for (const r of replies)
        if (r.bytes.length) expect(r.bytes.subarray(0, 14).toString()).toBe("SSH-2.0-Sluice");
      await expectHealthy(t, baseline);
    },
    TIMEOUT,
  );
});
