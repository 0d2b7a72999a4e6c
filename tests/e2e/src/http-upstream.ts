import { randomBytes } from "node:crypto";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { createTestPki, type TestPki } from "@sluice/testkit";
import { WebSocketServer } from "ws";

/** What the upstream saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface TestApi {
  pki: TestPki;
  port: number;
  token: string;
  seen: SeenRequest[];
  /** Lets the event stream send its second event. */
  releaseSecondEvent(): void;
  close(): Promise<void>;
}

export const CUSTOMERS = {
  customers: [
    { id: 1, name: "Ann", email: "ann@example.com", card: "4111111111111111" },
    { id: 2, name: "Bob", email: "bob@example.net", card: "5500000000000004" },
  ],
};

/**
 * A small internal API over real TLS, the kind Sluice puts behind an agent: it answers
 * only with the right bearer token and remembers every request it served.
 */
export async function startTestApi(): Promise<TestApi> {
  const pki = await createTestPki(["localhost", "127.0.0.1"]);
  const { readFileSync } = await import("node:fs");
  const token = `api-${randomBytes(12).toString("hex")}`;
  const seen: SeenRequest[] = [];
  let release: () => void = () => {};
  const second = new Promise<void>((r) => {
    release = r;
  });
  const server = https.createServer(
    { cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) },
    (req, res) => {
      const parts: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (parts.length < 64) parts.push(c);
      });
      req.on("end", () => {
        seen.push({
          method: req.method ?? "",
          url: req.url ?? "",
          headers: req.headers,
          body: req.url?.startsWith("/v1/upload") ? String(size) : Buffer.concat(parts).toString("utf8"),
        });
        if (req.headers.authorization !== `Bearer ${token}`) {
          res.writeHead(401, { "content-type": "application/json" });
          return res.end(JSON.stringify({ error: "bad token" }));
        }
        const url = new URL(req.url ?? "/", "https://api.test");
        if (url.pathname === "/v1/customers") {
          res.writeHead(200, { "content-type": "application/json" });
          return res.end(JSON.stringify(CUSTOMERS));
        }
        if (url.pathname === "/v1/customers.gz") {
          res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
          return res.end(gzipSync(JSON.stringify(CUSTOMERS)));
        }
        if (url.pathname === "/v1/echo-token") {
          res.writeHead(200, { "content-type": "text/plain", "x-debug": `token=${token}` });
          return res.end(`you sent ${req.headers.authorization}`);
        }
        if (url.pathname === "/v1/refunds" && req.method === "POST") {
          res.writeHead(201, { "content-type": "application/json" });
          return res.end(JSON.stringify({ refunded: true }));
        }
        if (url.pathname === "/v1/events") {
          res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
          res.write(`data: {"n":1,"email":"first@example.com"}\n\n`);
          void second.then(() => res.end(`data: {"n":2}\n\n`));
          return;
        }
        if (url.pathname === "/v1/download") {
          const total = Number(url.searchParams.get("bytes") ?? "0");
          res.writeHead(200, { "content-type": "application/octet-stream", "content-length": total });
          const chunk = Buffer.alloc(256 * 1024, 7);
          let sent = 0;
          const pump = () => {
            while (sent < total) {
              const n = Math.min(chunk.length, total - sent);
              sent += n;
              if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n)))
                return res.once("drain", pump);
            }
            res.end();
          };
          return pump();
        }
        if (url.pathname === "/v1/upload") {
          res.writeHead(200, { "content-type": "application/json" });
          return res.end(JSON.stringify({ received: size }));
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ method: req.method, path: url.pathname }));
      });
    },
  );
  const wss = new WebSocketServer({ server, path: "/v1/ws" });
  wss.on("connection", (ws, req) => {
    if (req.headers.authorization !== `Bearer ${token}`) return ws.close(4001, "bad token");
    ws.on("message", (data, binary) => {
      if (binary) return ws.send(data, { binary: true });
      ws.send(JSON.stringify({ echo: data.toString(), email: "ws@example.org" }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    pki,
    port: (server.address() as AddressInfo).port,
    token,
    seen,
    releaseSecondEvent: () => release(),
    close: () =>
      new Promise((r) => {
        wss.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
