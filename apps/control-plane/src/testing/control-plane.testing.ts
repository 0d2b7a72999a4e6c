import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { createLogger } from "@sluice/logger";
import { createTestDatabase, createTestPki, type TestDatabase, type TestPki } from "@sluice/testkit";
import { loadConfig } from "../config";
import { type RunningControlPlane, startControlPlane } from "../control-plane";

export interface TestControlPlane extends RunningControlPlane {
  db: TestDatabase;
  pki: TestPki;
  adminKey: string;
  grpcTarget: string;
  /** Every log line the control plane wrote. */
  logs(): string;
  api(
    path: string,
    init?: { method?: string; body?: unknown; key?: string | null; headers?: Record<string, string> },
  ): Promise<{
    status: number;
    body: any;
    text: string;
  }>;
  restart(): Promise<void>;
}

/** Starts a real control plane (own database, real Redis, TLS gRPC on loopback) in this process. */
export async function startTestControlPlane(
  overrides: Record<string, string> = {},
): Promise<TestControlPlane> {
  const db = await createTestDatabase("cp");
  const pki = await createTestPki();
  let logText = "";
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logText += String(chunk);
      cb();
    },
  });
  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: process.env.SLUICE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
    SLUICE_REDIS_PREFIX: `sluice-test-${randomBytes(4).toString("hex")}:`,
    SLUICE_API_PORT: "0",
    SLUICE_GRPC_PORT: "0",
    SLUICE_GRPC_TLS_CERT_FILE: pki.certFile,
    SLUICE_GRPC_TLS_KEY_FILE: pki.keyFile,
    SLUICE_CA_CERT_FILE: pki.caFile,
    SLUICE_CA_KEY_FILE: pki.caKeyFile,
    SLUICE_MASTER_KEY: randomBytes(32).toString("base64"),
    SLUICE_AGENT_OFFLINE_AFTER_SECONDS: "3",
    SLUICE_RATE_LIMIT_PER_MINUTE: "100000",
    LOG_LEVEL: "debug",
    ...overrides,
  };
  const logger = createLogger({ name: "control-plane", level: "debug", destination });
  let running = await startControlPlane(loadConfig(env), logger);
  const adminKey = running.bootstrapKey as string;
  let grpcPort = running.grpcPort;

  const tcp: TestControlPlane = {
    db,
    pki,
    adminKey,
    get apiUrl() {
      return running.apiUrl;
    },
    get grpcPort() {
      return grpcPort;
    },
    get grpcTarget() {
      return `localhost:${grpcPort}`;
    },
    bootstrapKey: adminKey,
    get routes() {
      return running.routes;
    },
    logs: () => logText,
    async api(path, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      const key = init.key === undefined ? adminKey : init.key;
      if (key !== null) headers.authorization = `Bearer ${key}`;
      if (init.body !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(`${running.apiUrl}${path}`, {
        method: init.method ?? "GET",
        headers,
        body:
          init.body === undefined
            ? undefined
            : typeof init.body === "string"
              ? init.body
              : JSON.stringify(init.body),
      });
      const text = await res.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        body = text;
      }
      return { status: res.status, body, text };
    },
    async restart() {
      await running.stop();
      running = await startControlPlane(loadConfig({ ...env, SLUICE_GRPC_PORT: String(grpcPort) }), logger);
      grpcPort = running.grpcPort;
    },
    async stop() {
      // A stop that drags prints what the control plane said while stopping, so a CI
      // log shows the step that held it.
      const from = logText.length;
      const report = setTimeout(() => {
        process.stderr.write(
          `control plane is slow to stop; its log since stop():\n${logText.slice(from)}\n`,
        );
      }, 20_000);
      try {
        await running.stop();
      } finally {
        clearTimeout(report);
      }
      await db.drop();
    },
  };
  return tcp;
}
