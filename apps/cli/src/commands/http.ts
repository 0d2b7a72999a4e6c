import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import {
  fetchAgentCa,
  HTTP_METHOD,
  RESERVED_HEADERS,
  requestThroughAgent,
  startSession,
} from "@sluice/client";
import type { Command } from "commander";
import { CliError, usageError } from "../cli-error";
import type { CliContext } from "../context";
import { readTextFile } from "../flags";

interface HttpFlags {
  data?: string;
  header: string[];
  include?: boolean;
  fail?: boolean;
  output?: string;
  reason?: string;
}

const HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}):[ \t]*([^\r\n]{0,8192})$/;
const MAX_BODY = 64 * 1024 * 1024;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Parses `-H "Name: value"` flags; framing and credential headers are refused. */
export function parseHeaders(lines: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const m = HEADER.exec(line);
    if (!m) throw usageError(`-H ${JSON.stringify(line)} is not a header (use -H "Name: value")`);
    const name = (m[1] as string).toLowerCase();
    if (RESERVED_HEADERS.has(name)) {
      throw usageError(
        `-H ${m[1]} cannot be set: Sluice sets it (the agent injects the upstream credential)`,
      );
    }
    out[name] = m[2] as string;
  }
  return out;
}

async function readBody(ctx: CliContext, data: string | undefined): Promise<Buffer | undefined> {
  if (data === undefined) return undefined;
  if (data === "@-") {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.io.stdin) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      size += b.length;
      if (size > MAX_BODY) throw usageError(`the request body is larger than ${MAX_BODY} bytes`);
      parts.push(b);
    }
    return Buffer.concat(parts);
  }
  if (data.startsWith("@")) return Buffer.from((await readTextFile(data.slice(1), "--data")) ?? "", "utf8");
  return Buffer.from(data, "utf8");
}

export function registerHttpCommand(program: Command, ctx: CliContext): void {
  program
    .command("http")
    .description("send one HTTP request to an http connection through its agent and print the response")
    .argument("<connection>", "connection name or id")
    .argument("<method>", "GET, POST, PUT, PATCH, DELETE, …")
    .argument("<path>", "path on the connection, e.g. /v1/refunds?limit=10")
    .option("-d, --data <body>", "request body; @file reads a file, @- reads stdin")
    .option("-H, --header <header>", 'request header "Name: value" (repeatable)', collect, [])
    .option("-i, --include", "print the status line and response headers before the body")
    .option("--fail", "exit with code 1 when the response status is 400 or higher")
    .option("-o, --output <file>", "write the response body to a file instead of stdout")
    .option("--reason <text>", "why you need access (recorded with the session)")
    .action(async (connection: string, method: string, path: string, flags: HttpFlags) => {
      const verb = method.toUpperCase();
      if (!HTTP_METHOD.test(verb)) throw usageError(`${method} is not an HTTP method`);
      if (!path.startsWith("/") || path.length > 8192)
        throw usageError("the path must start with / (at most 8 KiB)");
      const headers = parseHeaders(flags.header);
      const body = await readBody(ctx, flags.data);
      if (body && !headers["content-type"]) {
        headers["content-type"] = /^\s*[[{]/.test(body.toString("utf8", 0, 64))
          ? "application/json"
          : "text/plain";
      }
      const client = await ctx.client();
      const started = await startSession(client, connection, flags.reason);
      if (started.connection.type !== "http") {
        throw new CliError(
          `sluice http sends requests to http connections; ${started.connection.name} is a ${started.connection.type} connection`,
        );
      }
      const caPem = await fetchAgentCa(client);
      const res = await requestThroughAgent(started, caPem, { method: verb, path, headers, body });
      const status = res.statusCode ?? 0;
      if (flags.include) {
        const lines = [`HTTP/${res.httpVersion} ${status} ${res.statusMessage ?? ""}`.trimEnd()];
        for (let i = 0; i < res.rawHeaders.length; i += 2)
          lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        ctx.io.stdout(`${lines.join("\n")}\n\n`);
      }
      if (flags.output) {
        await pipeline(res, createWriteStream(flags.output));
      } else {
        const decoder = new TextDecoder();
        for await (const chunk of res) ctx.io.stdout(decoder.decode(chunk as Buffer, { stream: true }));
        ctx.io.stdout(decoder.decode());
      }
      if (flags.fail && status >= 400) {
        throw new CliError(`the request failed with HTTP ${status}`, { silent: true });
      }
    });
}
