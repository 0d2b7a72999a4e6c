import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthClient } from "./auth-client";
import { parseAuthentication, parseNoticeFields } from "./backend-messages";
import { FrameReader } from "./frame-reader";
import { frontend } from "./frontend-serializer";
import { BackendCode } from "./message-codes";
import { type PrivateCluster, startPrivateCluster } from "./testing/private-cluster";

const PASSWORD = "canary-Pa55word-7f3e";
let cluster: PrivateCluster;

beforeAll(async () => {
  cluster = await startPrivateCluster([
    { name: "scram_user", password: PASSWORD, method: "scram-sha-256" },
    { name: "md5_user", password: PASSWORD, method: "md5" },
    { name: "plain_user", password: PASSWORD, method: "password" },
  ]);
});

afterAll(async () => {
  await cluster?.stop();
});

/** Connects, authenticates with the pg-wire auth client and resolves with the method or the server's error. */
function login(user: string, password: string): Promise<{ method?: string; error?: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(cluster.port, cluster.host);
    const reader = new FrameReader();
    const auth = createAuthClient({ user, password: () => password });
    socket.on("error", reject);
    socket.on("connect", () => socket.write(frontend.startup({ user, database: "postgres" })));
    socket.on("data", async (chunk: Buffer) => {
      reader.push(chunk);
      try {
        while (reader.next()) {
          if (reader.type === BackendCode.ErrorResponse) {
            socket.destroy();
            return resolve({ error: parseNoticeFields(reader.body()) });
          }
          if (reader.type === BackendCode.ReadyForQuery) {
            socket.end(frontend.terminate());
            return resolve({ method: auth.method });
          }
          if (reader.type !== BackendCode.Authentication) continue;
          const reply = await auth.handle(parseAuthentication(Buffer.from(reader.body())));
          if (reply) socket.write(reply);
        }
      } catch (err) {
        socket.destroy();
        reject(err);
      }
    });
  });
}

describe("client authentication against a real PostgreSQL", () => {
  it.each([
    ["scram_user", "scram-sha-256"],
    ["md5_user", "md5"],
    ["plain_user", "password"],
  ])("logs in as %s with %s", async (user, method) => {
    expect(await login(user, PASSWORD)).toEqual({ method });
  });

  it("surfaces the server's rejection of a wrong password", async () => {
    const res = await login("scram_user", "wrong");
    expect(res.error?.C).toBe("28P01");
    expect(JSON.stringify(res)).not.toContain(PASSWORD);
  });
});
