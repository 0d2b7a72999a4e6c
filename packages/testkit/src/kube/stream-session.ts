/**
 * The Kubernetes streaming protocol over WebSocket (`v4.channel.k8s.io`, `v5.channel.k8s.io`):
 * every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error
 * (a Status when the command ends), 4 resize (`{"Width":…,"Height":…}`), and in v5 255 closes
 * the channel named by the next byte, which is how kubectl says "stdin is done" (kubectl cp).
 */
import type { WebSocket } from "ws";
import type { ContainerProcess } from "./container-process";

export const STREAM_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;

/** Sent frames not yet on the wire before reading from the process pauses (backpressure). */
const MAX_PENDING_SENDS = 64;

/** How long a TTY session waits for kubectl's first window size before starting the command. */
const FIRST_SIZE_WAIT_MS = 300;

export interface SessionOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  onResize(width: number, height: number): void;
  /** Starts (or, for attach, joins) the process once the first window size is known. */
  start(cols: number | undefined, rows: number | undefined): ContainerProcess;
  /** The Status to send on the error channel for an exit code. */
  statusFor(code: number): unknown;
}

function frame(channel: number, data: Buffer | string): Buffer {
  const body = typeof data === "string" ? Buffer.from(data) : data;
  return Buffer.concat([Buffer.from([channel]), body]);
}

export function runStreamSession(ws: WebSocket, protocol: string, opts: SessionOptions) {
  let proc: ContainerProcess | undefined;
  let pendingStdin: Buffer[] = [];
  let stdinClosed = false;
  let size: { cols: number; rows: number } | undefined;
  let pending = 0;
  const paused = new Set<NodeJS.ReadableStream>();

  const send = (channel: number, data: Buffer | string) => {
    if (ws.readyState !== ws.OPEN) return;
    pending += 1;
    ws.send(frame(channel, data), () => {
      pending -= 1;
      if (pending < MAX_PENDING_SENDS / 2) {
        for (const stream of paused) stream.resume();
        paused.clear();
      }
    });
  };

  const pipeOut = (stream: NodeJS.ReadableStream | undefined, channel: number, wanted: boolean) => {
    stream?.on("data", (chunk: Buffer) => {
      if (!wanted) return;
      send(channel, chunk);
      if (pending >= MAX_PENDING_SENDS) {
        stream.pause();
        paused.add(stream);
      }
    });
  };

  const begin = () => {
    if (proc || ws.readyState !== ws.OPEN) return;
    const p = opts.start(size?.cols, size?.rows);
    proc = p;
    p.stdin.on("error", () => {});
    for (const chunk of pendingStdin) p.stdin.write(chunk);
    pendingStdin = [];
    if (stdinClosed || !opts.stdin) p.stdin.end();
    pipeOut(p.stdout, STDOUT, opts.stdout);
    pipeOut(p.stderr, STDERR, opts.stderr);
    void p.exited.then((code) => {
      if (ws.readyState !== ws.OPEN) return;
      send(ERROR, JSON.stringify(opts.statusFor(code)));
      ws.close(1000);
    });
  };

  ws.on("message", (raw: Buffer, isBinary: boolean) => {
    const data = isBinary ? raw : Buffer.from(raw);
    const channel = data[0];
    const body = data.subarray(1);
    if (channel === STDIN && opts.stdin) {
      if (proc) proc.stdin.write(body);
      else pendingStdin.push(Buffer.from(body));
    } else if (channel === RESIZE) {
      const parsed = safeJson(body.toString("utf8")) as { Width?: number; Height?: number } | undefined;
      if (parsed && typeof parsed.Width === "number" && typeof parsed.Height === "number") {
        opts.onResize(parsed.Width, parsed.Height);
        size = { cols: parsed.Width, rows: parsed.Height };
        if (proc) proc.resize(parsed.Width, parsed.Height);
        else begin();
      }
    } else if (channel === CLOSE && protocol.startsWith("v5") && body[0] === STDIN) {
      stdinClosed = true;
      proc?.stdin.end();
    }
  });

  ws.on("close", () => {
    // For exec this ends the command; an attach view only detaches, leaving the pod's process running.
    proc?.kill();
    for (const stream of paused) stream.resume();
  });
  ws.on("error", () => ws.terminate());

  if (opts.tty) {
    const timer = setTimeout(begin, FIRST_SIZE_WAIT_MS);
    ws.once("close", () => clearTimeout(timer));
  } else {
    begin();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
