import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import { DataBatch, SECRET_PROMPT } from "../../core/terminal-batch";
import type { KubeSession } from "./kube-session";

/** Largest WebSocket message relayed either way; a bigger one closes the socket (1009). */
const MAX_MESSAGE = 16 * 1024 * 1024;
/** Output bytes of a non-terminal stream kept in the recording (a `kubectl cp` tar is counted, not kept). */
const RECORD_STREAM_BYTES = 64 * 1024;

/** The streaming subprotocols whose framing the agent reads (channel byte first); others are refused. */
export const CHANNEL_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"];
/** Port forwarding tunnels SPDY frames through the WebSocket: relayed as bytes and counted. */
export const PORT_FORWARD_PROTOCOLS = ["SPDY/3.1+portforward.k8s.io", "portforward.k8s.io"];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const RESIZE = 4;
const CLOSE = 255;

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** The exit code in the status the kubelet sends on channel 3 (0 for Success). */
export function exitCodeOf(status: string): number | undefined {
  try {
    const s = JSON.parse(status) as {
      status?: string;
      details?: { causes?: { reason?: string; message?: string }[] };
    };
    if (s.status === "Success") return 0;
    const cause = s.details?.causes?.find((c) => c.reason === "ExitCode");
    const code = Number(cause?.message);
    return Number.isInteger(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

export interface StreamRequest {
  /** exec, attach or portforward. */
  subresource: string;
  namespace: string;
  pod: string;
  container?: string;
  command: string[];
  tty: boolean;
}

/**
 * Relays an exec, attach or port-forward stream once policy allowed it. Exec and attach
 * frames are read by channel: a terminal (tty) is recorded as `kube.data` for replay —
 * typed input after a password prompt is not kept — resizes as `kube.resize`, and the
 * exit status as `kube.exit`; a non-terminal stream keeps its first bytes and counts the
 * rest. Port forwarding is counted, not kept.
 */
export function createStreamRelay() {
  const chosen = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE,
    perMessageDeflate: false,
    handleProtocols: (_offered, req) => chosen.get(req) || false,
  });

  function recorder(s: KubeSession, r: StreamRequest) {
    const { ctx } = s;
    const portForward = r.subresource === "portforward";
    const keep = (stream: "i" | "o" | "e") => (data: string) => ctx.record("kube.data", { stream, data });
    const out = new DataBatch(keep("o"), 16_384, 20);
    const err = new DataBatch(keep("e"), 16_384, 20);
    const input = new DataBatch(keep("i"), 16_384, 20);
    let kept = 0;
    let tail = "";
    let bytesIn = 0;
    let bytesOut = 0;
    let exit: number | undefined;
    const record = (batch: DataBatch, data: Buffer) => {
      if (r.tty) return batch.add(data);
      if (kept >= RECORD_STREAM_BYTES) return;
      const part = data.subarray(0, RECORD_STREAM_BYTES - kept);
      kept += part.length;
      batch.add(part);
    };
    return {
      fromClient(data: Buffer) {
        bytesIn += data.length;
        if (portForward || data.length === 0) return;
        const channel = data[0];
        const body = data.subarray(1);
        if (channel === STDIN) {
          // Input right after a password-style prompt is a secret: only its size is kept.
          if (r.tty && SECRET_PROMPT.test(tail))
            ctx.record("kube.data", { stream: "i", hidden: body.length });
          else record(input, body);
        } else if (channel === RESIZE) {
          try {
            const size = JSON.parse(body.toString("utf8")) as { Width?: number; Height?: number };
            ctx.record("kube.resize", { width: Number(size.Width) || 0, height: Number(size.Height) || 0 });
          } catch {
            // A malformed resize is the kubelet's to refuse; it is relayed and not recorded.
          }
        }
      },
      fromServer(data: Buffer) {
        bytesOut += data.length;
        if (portForward || data.length === 0) return;
        const channel = data[0];
        const body = data.subarray(1);
        if (channel === STDOUT || channel === STDERR) {
          if (r.tty) tail = (tail + body.toString("utf8")).slice(-200);
          record(channel === STDOUT ? out : err, body);
        } else if (channel === STATUS) {
          exit = exitCodeOf(body.toString("utf8"));
        } else if (channel === CLOSE) {
          // v5: the server closed a stream; nothing to record.
        }
      },
      end() {
        for (const b of [input, out, err]) b.flush();
        if (!portForward) ctx.record("kube.exit", { code: exit ?? null });
        ctx.record("kube.stream.end", { subresource: r.subresource, bytesIn, bytesOut });
        s.bytesIn += bytesIn;
        s.bytesOut += bytesOut;
        try {
          ctx.commit();
        } catch {
          // The session ends with the stream; the spool reports its own failure.
        }
      },
    };
  }

  function relay(s: KubeSession, r: StreamRequest, client: WebSocket, upstream: WebSocket) {
    const rec = recorder(s, r);
    const forward = (to: WebSocket, observe: (b: Buffer) => void) => (raw: RawData, binary: boolean) => {
      const data = toBuffer(raw);
      observe(data);
      try {
        s.ctx.commit();
      } catch {
        client.terminate();
        upstream.terminate();
        return;
      }
      if (to.readyState === WebSocket.OPEN) to.send(data, { binary });
    };
    client.on("message", forward(upstream, rec.fromClient));
    upstream.on("message", forward(client, rec.fromServer));
    let ended = false;
    const closeOther = (other: WebSocket) => (code: number, reason: Buffer) => {
      const usable = code >= 1000 && code < 5000 && code !== 1005 && code !== 1006;
      if (other.readyState === WebSocket.OPEN) other.close(usable ? code : 1000, reason.subarray(0, 123));
      else other.terminate();
      if (!ended) {
        ended = true;
        rec.end();
      }
    };
    client.on("close", closeOther(upstream));
    upstream.on("close", closeOther(client));
    client.on("error", () => upstream.terminate());
    upstream.on("error", () => client.terminate());
  }

  return {
    /**
     * Opens the upstream stream with the agent's credential and the identity's
     * impersonation, then completes the client's upgrade with the subprotocol the API
     * server chose. `fail` answers the client when the upstream refuses.
     */
    open(opts: {
      s: KubeSession;
      req: IncomingMessage;
      socket: Duplex;
      head: Buffer;
      url: string;
      headers: Record<string, string | string[]>;
      protocols: string[];
      stream: StreamRequest;
      onOpen: () => void;
      fail: (status: number, why: string) => void;
    }) {
      const { s, req, socket } = opts;
      const upstream = new WebSocket(opts.url, opts.protocols, {
        headers: opts.headers as Record<string, string>,
        ...s.upstreamTls,
        perMessageDeflate: false,
        maxPayload: MAX_MESSAGE,
        handshakeTimeout: 15_000,
      });
      upstream.once("unexpected-response", (_r, res) => {
        upstream.terminate();
        opts.fail(
          res.statusCode === 403 || res.statusCode === 404 ? res.statusCode : 502,
          `status ${res.statusCode}`,
        );
      });
      upstream.once("error", (err: NodeJS.ErrnoException) => {
        if (upstream.readyState !== WebSocket.OPEN) opts.fail(502, err.code ?? "error");
      });
      upstream.once("open", () => {
        if (socket.destroyed) return upstream.terminate();
        opts.onOpen();
        if (upstream.protocol) chosen.set(req, upstream.protocol);
        wss.handleUpgrade(req, socket, opts.head, (client) => relay(s, opts.stream, client, upstream));
      });
      socket.once("close", () => {
        if (upstream.readyState === WebSocket.CONNECTING) upstream.terminate();
      });
    },
  };
}

/** Largest response head read from the API server for a relayed upgrade. */
const MAX_UPGRADE_HEAD = 16 * 1024;

/**
 * Port forwarding: kubectl tunnels SPDY frames through a WebSocket whose subprotocol
 * (`SPDY/3.1+portforward.k8s.io`) WebSocket libraries refuse to offer, so the upgrade is
 * relayed as bytes — the client's own handshake (key, version, subprotocol) with the
 * agent's credential and the identity's impersonation — and the stream is counted.
 */
export function relayPortForward(opts: {
  s: KubeSession;
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  path: string;
  headers: Record<string, string | string[]>;
  protocols: string[];
  onOpen: () => void;
  fail: (status: number, why: string) => void;
}): void {
  const { s, req, socket } = opts;
  const origin = new URL(s.target.origin);
  const lines = [`GET ${opts.path} HTTP/1.1`];
  const add = (name: string, value: string | string[]) => {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  };
  for (const [name, value] of Object.entries(opts.headers)) add(name, value);
  add("connection", "Upgrade");
  add("upgrade", "websocket");
  add("sec-websocket-key", String(req.headers["sec-websocket-key"] ?? ""));
  add("sec-websocket-version", String(req.headers["sec-websocket-version"] ?? "13"));
  add("sec-websocket-protocol", opts.protocols.join(", "));
  const upstream = tls.connect({
    host: origin.hostname.replace(/^\[|\]$/g, ""),
    port: Number(origin.port || 443),
    ...s.upstreamTls,
    ...(s.upstreamTls.servername ? {} : { servername: origin.hostname }),
    ALPNProtocols: ["http/1.1"],
  });
  let response = Buffer.alloc(0);
  let open = false;
  let bytesIn = 0;
  let bytesOut = 0;
  const timer = setTimeout(() => upstream.destroy(new Error("timeout")), 15_000);
  upstream.once("secureConnect", () => upstream.write(`${lines.join("\r\n")}\r\n\r\n`));
  upstream.on("error", (err: NodeJS.ErrnoException) => {
    if (!open) opts.fail(502, err.code ?? err.message);
    socket.destroy();
  });
  socket.on("error", () => upstream.destroy());
  const onHead = (chunk: Buffer) => {
    response = Buffer.concat([response, chunk]);
    const end = response.indexOf("\r\n\r\n");
    if (end < 0) {
      if (response.length > MAX_UPGRADE_HEAD) upstream.destroy(new Error("response head too large"));
      return;
    }
    upstream.off("data", onHead);
    clearTimeout(timer);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response.subarray(0, end).toString("latin1"))?.[1]);
    if (status !== 101) {
      upstream.destroy();
      return opts.fail(status === 403 || status === 404 ? status : 502, `status ${status || "unreadable"}`);
    }
    open = true;
    opts.onOpen();
    socket.write(response);
    if (opts.head.length > 0) upstream.write(opts.head);
    upstream.on("data", (c: Buffer) => {
      bytesOut += c.length;
    });
    socket.on("data", (c: Buffer) => {
      bytesIn += c.length;
    });
    upstream.pipe(socket);
    socket.pipe(upstream);
    let ended = false;
    const end2 = () => {
      if (ended) return;
      ended = true;
      upstream.destroy();
      socket.destroy();
      s.ctx.record("kube.stream.end", { subresource: "portforward", bytesIn, bytesOut });
      s.bytesIn += bytesIn;
      s.bytesOut += bytesOut;
      try {
        s.ctx.commit();
      } catch {
        // The session ends with the stream; the spool reports its own failure.
      }
    };
    upstream.once("close", end2);
    socket.once("close", end2);
  };
  upstream.on("data", onHead);
}
