import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { createLogger } from "@sluice/logger";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTunnelServer } from "./tunnel-listener";

function selfSigned(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "sluice-tunnel-tls-"));
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"].concat(
        ["-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem"), "-subj", "/CN=localhost"],
      ),
      { stdio: "ignore" },
    );
    return { key: readFileSync(join(dir, "k.pem"), "utf8"), cert: readFileSync(join(dir, "c.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let server: tls.Server;
let port: number;

beforeAll(async () => {
  server = createTunnelServer({
    tls: selfSigned(),
    authorizer: { authorize: () => Promise.reject(new Error("not reached")) },
    logger: createLogger({ name: "test", level: "silent" }),
    handlers: [],
    preambleTimeoutMs: 300,
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Milliseconds until the server closes the socket. */
function closedAfter(socket: net.Socket | tls.TLSSocket): Promise<number> {
  const started = Date.now();
  return new Promise((resolve) => {
    socket.on("error", () => undefined);
    socket.on("close", () => resolve(Date.now() - started));
  });
}

describe("tunnel listener", () => {
  it("closes a connection that never starts TLS", async () => {
    const s = net.connect(port, "127.0.0.1");
    expect(await closedAfter(s)).toBeLessThan(3000);
  });

  it("closes a TLS connection that never sends its grant", async () => {
    const s = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false });
    await new Promise((r) => s.once("secureConnect", r));
    expect(await closedAfter(s)).toBeLessThan(3000);
  });
});
