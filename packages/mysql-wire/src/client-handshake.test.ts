import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ed25519PublicKey } from "./auth-plugins";
import { connectUpstream } from "./client-handshake";
import { Capability } from "./constants";
import { ServerError } from "./errors";
import { AGENT_CAPABILITIES } from "./server-handshake";
import { createTestDatabase, ensureEd25519Plugin, MARIADB, type TestDatabase } from "./testing/test-db";
import { ping } from "./testing/wire-client";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const caps = AGENT_CAPABILITIES;

describe("connectUpstream against the local MariaDB", () => {
  it("logs in with mysql_native_password and reports the server's thread id", async () => {
    const up = await connectUpstream({
      ...MARIADB,
      user: db.user,
      password: db.password,
      database: db.database,
      capabilities: caps,
      tls: "prefer",
    });
    expect(up.serverVersion).toMatch(/MariaDB/);
    expect(up.authPlugin).toBe("mysql_native_password");
    expect(up.capabilities & Capability.DEPRECATE_EOF).toBeTruthy();
    const [rows] = await db.root.query("SELECT user FROM information_schema.processlist WHERE id = ?", [
      up.threadId,
    ]);
    expect((rows as { user: string }[])[0]?.user).toBe(db.user);
    expect(await ping(up)).toBe(0x00);
    up.socket.destroy();
  });

  it("rejects a wrong password with the server's access-denied error, without echoing the password", async () => {
    const err = await connectUpstream({
      ...MARIADB,
      user: db.user,
      password: "wrong-secret",
      capabilities: caps,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err.errorCode).toBe(1045);
    expect(String(err.message)).not.toContain("wrong-secret");
  });

  it("refuses require mode when the server has no TLS", async () => {
    await expect(
      connectUpstream({
        ...MARIADB,
        user: db.user,
        password: db.password,
        capabilities: caps,
        tls: "require",
      }),
    ).rejects.toThrow(/does not support TLS/);
  });

  it("logs in to a MariaDB ed25519 account (client_ed25519 after an auth switch)", async () => {
    await ensureEd25519Plugin(db.root);
    const password = "ed-secret-Ω";
    const user = await db.createUser(`VIA ed25519 USING PASSWORD('${password}')`);
    const [rows] = await db.root.query(`SELECT authentication_string AS a FROM mysql.user WHERE user = ?`, [
      user,
    ]);
    expect((rows as { a: string }[])[0]?.a).toBe(ed25519PublicKey(password));
    const up = await connectUpstream({
      ...MARIADB,
      user,
      password,
      database: db.database,
      capabilities: caps,
    });
    expect(up.authPlugin).toBe("client_ed25519");
    expect(await ping(up)).toBe(0x00);
    up.socket.destroy();
    const bad = await connectUpstream({ ...MARIADB, user, password: "nope", capabilities: caps }).catch(
      (e) => e,
    );
    expect(bad).toBeInstanceOf(ServerError);
    expect(bad.errorCode).toBe(1045);
  });
});
