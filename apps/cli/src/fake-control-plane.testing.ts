import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { CliIo } from "./context";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: unknown;
}

export interface CannedResponse {
  status: number;
  body?: unknown;
  /** Sent verbatim instead of JSON. */
  raw?: string;
  delayMs?: number;
}

export type Route = CannedResponse | ((req: RecordedRequest) => CannedResponse);

export interface FakeControlPlane {
  url: string;
  apiKey: string;
  requests: RecordedRequest[];
  /** Sets the answer for `"<METHOD> <path under /api/v1>"`, e.g. `"GET /connections"`. */
  route(key: string, route: Route): void;
  close(): Promise<void>;
}

/**
 * A loopback HTTP server answering with canned control-plane responses, so the CLI's
 * client is tested over a real socket. Requests without `Bearer <apiKey>` get a 401.
 */
export async function startFakeControlPlane(apiKey = "slk_test_0123456789abcdef"): Promise<FakeControlPlane> {
  const routes = new Map<string, Route>();
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const path = (req.url ?? "/").replace(/^\/api\/v1/, "");
    const recorded = {
      method: req.method ?? "GET",
      path,
      headers: req.headers,
      body: text ? JSON.parse(text) : undefined,
    };
    requests.push(recorded);
    const answer = answerFor(recorded);
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if (res.destroyed) return;
    if (answer.raw !== undefined) {
      res.writeHead(answer.status, { "content-type": "text/html" }).end(answer.raw);
    } else if (answer.body === undefined) {
      res.writeHead(answer.status).end();
    } else {
      res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
    }
  }

  function answerFor(req: RecordedRequest): CannedResponse {
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return errorResponse(401, "auth.invalid_credentials", "invalid or expired API key");
    }
    const route = routes.get(`${req.method} ${req.path}`);
    if (!route) return errorResponse(404, "request.not_found", `no route for ${req.method} ${req.path}`);
    return typeof route === "function" ? route(req) : route;
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    requests,
    route: (key, route) => void routes.set(key, route),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function errorResponse(
  status: number,
  code: string,
  message: string,
  details?: unknown,
): CannedResponse {
  return { status, body: { error: details === undefined ? { code, message } : { code, message, details } } };
}

export interface MemoryIo extends CliIo {
  out(): string;
  err(): string;
}

/** An in-memory CliIo for running the CLI in-process. */
export function createMemoryIo(env: Record<string, string | undefined>, stdinText = ""): MemoryIo {
  let out = "";
  let err = "";
  return {
    env,
    stdout: (text) => {
      out += text;
    },
    stderr: (text) => {
      err += text;
    },
    stdin: (async function* () {
      if (stdinText) yield Buffer.from(stdinText);
    })(),
    stdinIsTTY: false,
    out: () => out,
    err: () => err,
  };
}

export interface RunResult {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process against a fake control plane with env-only credentials. */
export async function runAgainst(cp: FakeControlPlane, argv: string[], stdin = ""): Promise<RunResult> {
  const { runCli } = await import("./run");
  const io = createMemoryIo(
    { SLUICE_CONFIG_DIR: "/nonexistent/sluice", SLUICE_URL: cp.url, SLUICE_API_KEY: cp.apiKey },
    stdin,
  );
  const code = await runCli(argv, io);
  return { code, out: io.out(), err: io.err() };
}
