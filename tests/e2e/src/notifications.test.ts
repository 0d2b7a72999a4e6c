import { spawnSync } from "node:child_process";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { eventually } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot, type Stack, startStack } from "./stack";

let stack: Stack;
let receiver: Server;
let receiverUrl: string;
let status = 200;
const received: { headers: IncomingHttpHeaders; body: string }[] = [];

function sluice(args: string[]) {
  const res = spawnSync(process.execPath, [join(repoRoot, "apps/cli/bin/sluice.js"), ...args], {
    env: {
      ...process.env,
      SLUICE_CONFIG_DIR: "/nonexistent",
      SLUICE_URL: stack.cp.apiUrl,
      SLUICE_API_KEY: stack.adminKey,
    },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** What a receiver written from the docs does with the raw body and the Sluice-Signature header. */
function verify(secret: string, header: string, body: string): boolean {
  const t = /(?:^|,)t=(\d+)/.exec(header)?.[1];
  const v1 = /(?:^|,)v1=([0-9a-f]{64})/.exec(header)?.[1];
  if (!t || !v1 || Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const mac = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(mac, Buffer.from(v1, "hex"));
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/sluice`;
  stack = await startStack();
}, 90_000);
afterAll(async () => {
  await stack?.stop();
  receiver?.closeAllConnections();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe("notifications through the real control plane and the sluice CLI", () => {
  it("a webhook channel receives a signed test notification; a refused delivery is listed and retried", async () => {
    const created = sluice([
      "notifications",
      "channels",
      "create",
      "ops",
      "--url",
      receiverUrl,
      "-o",
      "json",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const { channel, secret } = JSON.parse(created.stdout);
    expect(channel).toMatchObject({ name: "ops", kind: "webhook", enabled: true, events: [] });

    expect(sluice(["notifications", "channels", "test", "ops"]).code).toBe(0);
    await eventually(() => received.length === 1, 15_000);
    const [got] = received;
    expect(got?.headers["sluice-event"]).toBe("notification.test");
    expect(verify(secret, String(got?.headers["sluice-signature"]), got?.body ?? "")).toBe(true);

    status = 410; // a 4xx other than 408/429 fails at once
    expect(sluice(["notifications", "channels", "test", "ops"]).code).toBe(0);
    const failed = await eventually(
      async () => (await stack.api("/api/v1/notification-deliveries?status=failed")).body.items[0],
      15_000,
    );
    expect(failed).toMatchObject({
      status: "failed",
      attempts: 1,
      lastStatusCode: 410,
      lastError: "HTTP 410",
    });
    const table = sluice(["notifications", "deliveries", "--failed"]).stdout;
    expect(table).toMatch(
      new RegExp(`${failed.id}\\s+failed\\s+notification\\.test\\s+ops\\s+1\\s+410\\s+HTTP 410`),
    );

    status = 200;
    const retried = sluice(["notifications", "deliveries", "retry", failed.id]);
    expect(retried.stdout).toBe(`queued delivery ${failed.id} again\n`);
    await eventually(
      async () =>
        (await stack.api(`/api/v1/notification-deliveries/${failed.id}`)).body.status === "delivered",
      15_000,
    );
    const shown = JSON.parse(sluice(["notifications", "deliveries", "get", failed.id, "-o", "json"]).stdout);
    expect(shown).toMatchObject({ status: "delivered", attempts: 2, lastStatusCode: 200 });
    expect(received).toHaveLength(3);

    const list = sluice(["notifications", "channels", "list", "-o", "json"]).stdout;
    expect(list).not.toContain(secret);
    expect(stack.cp.proc.output()).not.toContain(secret);
    // Seven CLI processes run in turn; on a loaded 2-core runner each takes a few seconds.
  }, 90_000);

  it("the control plane stops promptly with its notification worker running", async () => {
    const code = await Promise.race([
      stack.cp.proc.stop("SIGTERM"),
      new Promise((resolve) => setTimeout(() => resolve("still running"), 10_000)),
    ]);
    expect(code).toBe(0);
  });
});
