/**
 * exec and attach over SPDY/3.1 (`v4.channel.k8s.io`), as kubectl before 1.30 speaks them: the
 * client opens one stream per channel (error, stdin, stdout, stderr, resize); the command
 * starts once the requested ones are all open; on exit stdout/stderr get FIN and the error
 * stream carries the same v4 Status JSON the WebSocket protocol sends on channel 3.
 */
import type { Duplex } from "node:stream";
import type { ContainerProcess } from "./container-process";
import { type SpdyStream, serveSpdy } from "./spdy-session";
import type { SessionOptions } from "./stream-session";

/** How long to wait for the client's streams before starting with what has arrived. */
const STREAMS_WAIT_MS = 2000;

export function runSpdyExec(socket: Duplex, opts: SessionOptions) {
  const wanted = new Set(["error"]);
  if (opts.stdin) wanted.add("stdin");
  if (opts.stdout) wanted.add("stdout");
  if (opts.stderr && !opts.tty) wanted.add("stderr");
  if (opts.tty) wanted.add("resize");
  const streams: Record<string, SpdyStream> = {};
  let proc: ContainerProcess | undefined;
  let size: { cols: number; rows: number } | undefined;
  let stdinBuffered: Buffer[] = [];
  let stdinEnded = false;
  let resizeText = "";
  let finished = false;

  const server = serveSpdy(socket, (stream) => {
    const type = stream.headers.streamtype ?? "";
    streams[type] = stream;
    if (type === "stdin") {
      stream.on("data", (chunk: Buffer) => {
        if (proc) proc.stdin.write(chunk);
        else stdinBuffered.push(chunk);
      });
      stream.on("end", () => {
        stdinEnded = true;
        proc?.stdin.end();
      });
    }
    if (type === "resize") {
      stream.on("data", (chunk: Buffer) => {
        resizeText += chunk.toString("utf8");
        const lines = resizeText.split("\n");
        resizeText = lines.pop() ?? "";
        for (const line of lines) applyResize(line);
      });
    }
    if ([...wanted].every((t) => streams[t])) {
      // The first window size follows the resize stream's opening; give it a moment to arrive.
      if (opts.tty) setTimeout(begin, 200);
      else begin();
    }
  });
  const fallback = setTimeout(begin, STREAMS_WAIT_MS);

  function applyResize(line: string) {
    let parsed: { Width?: number; Height?: number };
    try {
      parsed = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof parsed.Width !== "number" || typeof parsed.Height !== "number") return;
    opts.onResize(parsed.Width, parsed.Height);
    size = { cols: parsed.Width, rows: parsed.Height };
    proc?.resize(parsed.Width, parsed.Height);
  }

  function begin() {
    clearTimeout(fallback);
    if (proc || finished) return;
    const p = opts.start(size?.cols, size?.rows);
    proc = p;
    p.stdin.on("error", () => {});
    for (const chunk of stdinBuffered) p.stdin.write(chunk);
    stdinBuffered = [];
    if (stdinEnded || !opts.stdin) p.stdin.end();
    p.stdout.on("data", (chunk: Buffer) => {
      if (opts.stdout) streams.stdout?.write(chunk);
    });
    p.stderr?.on("data", (chunk: Buffer) => {
      if (opts.stderr) streams.stderr?.write(chunk);
    });
    void p.exited.then((code) => {
      finished = true;
      streams.stdout?.end();
      streams.stderr?.end();
      streams.error?.write(JSON.stringify(opts.statusFor(code)));
      streams.error?.end();
      server.goAway();
    });
  }

  server.onClose(() => {
    clearTimeout(fallback);
    finished = true;
    proc?.kill();
  });
  return server;
}
