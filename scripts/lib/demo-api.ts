import { createHash, timingSafeEqual } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { generatePassword, secretFile } from "./secret-file";

/**
 * The quickstart's demo HTTP API: a small customers-and-refunds service with personal data
 * in its answers (names, emails, card numbers) and a bearer token of its own. It serves
 * plain HTTP on loopback, which is enough for a demo next to the agent; a real upstream
 * would be https (the connection's `tls.mode` then verifies it).
 */
export interface DemoApi {
  host: string;
  port: number;
  /** The API's bearer token (mode 0600), for a `file:` credential reference: only the agent reads it. */
  tokenFile: string;
  close(): Promise<void>;
}

export interface DemoApiOptions {
  /** Sluice's state directory (`.sluice/`), where the token file is kept. */
  home: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

interface Customer {
  id: number;
  name: string;
  email: string;
  card: string;
  plan: string;
}

const CUSTOMERS: readonly Customer[] = [
  { id: 1, name: "Ada Lovelace", email: "ada@example.com", card: "4111111111111111", plan: "pro" },
  { id: 2, name: "Grace Hopper", email: "grace@example.com", card: "5555555555554444", plan: "team" },
  { id: 3, name: "Alan Turing", email: "alan@example.com", card: "378282246310005", plan: "free" },
  { id: 4, name: "Edsger Dijkstra", email: "edsger@example.com", card: "6011111111111117", plan: "pro" },
];

const MAX_BODY = 64 * 1024;
const CUSTOMER_PATH = /^\/v1\/customers\/(\d{1,9})$/;

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function fail(res: ServerResponse, status: number, message: string, headers?: Record<string, string>): void {
  send(res, status, { error: message }, headers);
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error("the body is too large"));
        req.destroy();
      } else parts.push(chunk);
    });
    req.once("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString("utf8")));
      } catch {
        reject(new Error("the body is not JSON"));
      }
    });
    req.once("error", reject);
  });
}

/** The request handler, on its own so tests can serve it on any port. */
export function createDemoApiHandler(token: string): (req: IncomingMessage, res: ServerResponse) => void {
  const expected = digest(`Bearer ${token}`);
  const customers = new Map(CUSTOMERS.map((c) => [c.id, { ...c }]));
  let refunds = 0;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const method = req.method ?? "GET";
    if (path === "/v1/customers") {
      if (method !== "GET") return fail(res, 405, "use GET", { allow: "GET" });
      return send(res, 200, { customers: [...customers.values()] });
    }
    const one = CUSTOMER_PATH.exec(path);
    if (one) {
      const id = Number(one[1]);
      const customer = customers.get(id);
      if (!customer) return fail(res, 404, `no customer ${id}`);
      if (method === "GET") return send(res, 200, customer);
      if (method === "DELETE") {
        customers.delete(id);
        return send(res, 200, { deleted: id });
      }
      return fail(res, 405, "use GET or DELETE", { allow: "GET, DELETE" });
    }
    if (path === "/v1/refunds") {
      if (method !== "POST") return fail(res, 405, "use POST", { allow: "POST" });
      const body = (await readJson(req).catch((err: Error) => err)) as Record<string, unknown> | Error;
      if (body instanceof Error) return fail(res, 400, body.message);
      const amount = body?.amount;
      const customerId = body?.customerId;
      if (typeof amount !== "number" || !(amount > 0) || typeof customerId !== "number") {
        return fail(res, 400, 'send {"customerId": <id>, "amount": <positive number>}');
      }
      if (!customers.has(customerId)) return fail(res, 404, `no customer ${customerId}`);
      refunds += 1;
      return send(res, 201, { id: `rf_${refunds}`, customerId, amount, status: "pending" });
    }
    return fail(res, 404, `no route ${method} ${path}`);
  }

  return (req, res) => {
    const given = digest(req.headers.authorization ?? "");
    if (!timingSafeEqual(given, expected)) {
      req.resume();
      return fail(res, 401, "a valid bearer token is required", {
        "www-authenticate": 'Bearer realm="demo-api"',
      });
    }
    route(req, res).catch(() => fail(res, 500, "internal error"));
  };
}

/** Starts the demo API with the token kept in `<home>/demo-api.token` (created on first use). */
export async function startDemoApi(opts: DemoApiOptions): Promise<DemoApi> {
  const host = opts.host ?? "127.0.0.1";
  const tokenFile = join(opts.home, "demo-api.token");
  const token = secretFile(tokenFile, generatePassword);
  const server = http.createServer(createDemoApiHandler(token));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8090, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    host,
    port,
    tokenFile,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
