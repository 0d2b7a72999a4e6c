import { RELAYED_CAPABILITIES, type UpstreamSession } from "./client-handshake";
import { type ClientCommand, decodeCommand } from "./commands";
import { Capability, Command } from "./constants";
import { isProtocolError, ProtocolError } from "./errors";
import { type ErrPacket, serializeErr } from "./generic-packets";
import { encodePacket, fragmentCount, type Packet, PacketReader } from "./packet-reader";
import { type CommandRouter, createCommandRouter, type InFlight } from "./proxy-commands";
import type { MysqlProxyHooks, MysqlProxyLimits, ProxyEnd, ProxyEndReason, ProxyStats } from "./proxy-hooks";
import { FlowControl, Outbox, writeBatch } from "./proxy-session";
import { ResponseTracker } from "./response-tracker";
import { maskBinaryRow, maskTextRow } from "./row-masking";
import type { ClientSession } from "./server-handshake";

/** A running command phase between one client and its upstream connection. */
export interface MysqlProxy {
  /** Agent-chosen id the client sees. */
  readonly connectionId: number;
  /** The upstream server's thread id (what a mapped KILL targets). */
  readonly upstreamThreadId: number;
  readonly stats: Readonly<ProxyStats>;
  /** Settles when both connections are closed. */
  readonly done: Promise<ProxyEnd>;
  /** Ends the session: a command in flight gets an ERR with `message`, then both sockets close. */
  stop(message?: string): void;
}

const LOST_UPSTREAM: ErrPacket = {
  errorCode: 1053,
  sqlState: "08S01",
  message: "Lost connection to the upstream server",
};
const PACKET_TOO_LARGE: ErrPacket = {
  errorCode: 1153,
  sqlState: "08S01",
  message: "Got a packet bigger than the limit of the Sluice proxy",
};
const INFILE_REFUSED: ErrPacket = {
  errorCode: 1148,
  sqlState: "42000",
  message: "LOAD DATA LOCAL INFILE is not allowed through Sluice",
};

/**
 * Runs the command phase after both handshakes: reads each client command, asks the hooks
 * (allow, deny, hold), relays it, follows its response to the end (result sets, rows,
 * prepare responses, multi-results), masks row values and ERR messages, and reports a
 * summary per command. Both directions are bounded: a socket is paused while the other
 * side's write buffer is above its high-water mark.
 */
export function startMysqlProxy(
  client: ClientSession,
  upstream: UpstreamSession,
  hooks: MysqlProxyHooks = {},
  limits: MysqlProxyLimits = {},
): MysqlProxy {
  const relayedDiff =
    (client.capabilities ^ upstream.capabilities) & RELAYED_CAPABILITIES & ~Capability.INTERACTIVE;
  if (relayedDiff) {
    throw new ProtocolError(
      "unsupported",
      `client and upstream capabilities differ (0x${relayedDiff.toString(16)})`,
    );
  }
  return new Engine(client, upstream, hooks, limits).proxy;
}

class Engine {
  readonly stats: ProxyStats = {
    bytesFromClient: 0,
    bytesToClient: 0,
    bytesFromUpstream: 0,
    bytesToUpstream: 0,
    commands: 0,
    deniedCommands: 0,
  };
  readonly proxy: MysqlProxy;
  private readonly cReader: PacketReader;
  private readonly uReader: PacketReader;
  private readonly tracker: ResponseTracker;
  private readonly cFlow: FlowControl;
  private readonly uFlow: FlowControl;
  private readonly router: CommandRouter;
  private readonly clientHwm: number;
  private readonly upstreamHwm: number;
  private current: InFlight | undefined;
  private cSeq = 0;
  private uSeq = 0;
  private ended = false;
  private resolveDone!: (end: ProxyEnd) => void;
  private readonly out = new Outbox();

  constructor(
    private readonly client: ClientSession,
    private readonly upstream: UpstreamSession,
    private readonly hooks: MysqlProxyHooks,
    limits: MysqlProxyLimits,
  ) {
    const maxPayload = limits.maxPayload;
    this.cReader = new PacketReader(maxPayload ? { maxPayload } : {});
    this.uReader = new PacketReader(maxPayload ? { maxPayload } : {});
    this.tracker = new ResponseTracker(client.capabilities);
    this.cFlow = new FlowControl(client.socket);
    this.uFlow = new FlowControl(upstream.socket);
    this.clientHwm = limits.clientHighWaterMark ?? 1024 * 1024;
    this.upstreamHwm = limits.upstreamHighWaterMark ?? 1024 * 1024;
    this.router = createCommandRouter({
      hooks,
      limits,
      connectionId: client.connectionId,
      upstreamThreadId: upstream.threadId,
      sendUpstream: (payload, frame) => this.sendUpstream(payload, frame),
      denyToClient: (err) => this.errToClient(err),
      finish: () => this.finish(),
      end: (reason, detail) => this.end(reason, detail),
      isEnded: () => this.ended,
      stats: this.stats,
    });
    const done = new Promise<ProxyEnd>((resolve) => {
      this.resolveDone = resolve;
    });
    const engine = this;
    this.proxy = {
      connectionId: client.connectionId,
      upstreamThreadId: upstream.threadId,
      get stats() {
        return engine.stats;
      },
      done,
      stop: (message) => this.stop(message),
    };
    this.attach();
  }

  private attach(): void {
    const c = this.client.socket;
    const u = this.upstream.socket;
    for (const b of this.client.leftover) this.cReader.push(b);
    for (const b of this.upstream.leftover) this.uReader.push(b);
    c.on("data", (chunk: Buffer) => {
      this.stats.bytesFromClient += chunk.length;
      this.cReader.push(chunk);
      this.drainClient();
    });
    u.on("data", (chunk: Buffer) => {
      this.stats.bytesFromUpstream += chunk.length;
      this.uReader.push(chunk);
      this.drainUpstream();
    });
    c.on("drain", () => this.uFlow.resume("client_full"));
    u.on("drain", () => this.cFlow.resume("upstream_full"));
    c.on("end", () => this.end("client_closed"));
    c.on("close", () => this.end("client_closed"));
    c.on("error", (err) => this.end("client_closed", err.message));
    u.on("end", () => this.upstreamLost());
    u.on("close", () => this.upstreamLost());
    u.on("error", (err) => this.upstreamLost(err.message));
    c.resume();
    u.resume();
    queueMicrotask(() => {
      this.drainClient();
      this.drainUpstream();
    });
  }

  private drainClient(): void {
    try {
      while (!this.ended) {
        const cur = this.current;
        if (cur && !cur.localInfile) break;
        const p = this.cReader.next();
        if (!p) break;
        if (cur?.localInfile) this.forwardInfile(p);
        else this.startCommand(p);
      }
    } catch (err) {
      if (isProtocolError(err) && err.code === "packet_too_large") {
        this.cSeq = 1;
        this.errToClient(PACKET_TOO_LARGE);
      }
      this.end("protocol_error", (err as Error).message);
      return;
    }
    // While a command is in flight the next one waits in the reader: bound that read-ahead.
    // When idle, the reader holds at most one partial packet (bounded by maxPayload).
    if (this.current && !this.current.localInfile && this.cReader.buffered > this.upstreamHwm) {
      this.cFlow.pause("read_ahead");
    } else this.cFlow.resume("read_ahead");
  }

  private startCommand(p: Packet): void {
    this.cSeq = (p.seq + p.fragments) & 0xff;
    this.uSeq = 0;
    let command: ClientCommand;
    try {
      command = decodeCommand(p.payload);
    } catch {
      command = { kind: "other", code: p.payload[0] ?? 0 };
    }
    this.current = this.router.begin(command, p.payload, p.frame);
    this.router.run(this.current, this.tracker);
  }

  private forwardInfile(p: Packet): void {
    this.cSeq = (p.seq + p.fragments) & 0xff;
    this.sendUpstream(p.payload, p.frame);
    if (p.payload.length === 0 && this.current) {
      this.current.localInfile = false;
      this.tracker.awaitInfileResult();
    }
  }

  /** `frame`: the packet as received, written as is when its sequence id is the one due. */
  private sendUpstream(payload: Buffer, frame?: Buffer): void {
    const n = fragmentCount(payload.length);
    const u = this.upstream.socket;
    const ok =
      frame !== undefined && frame[3] === this.uSeq
        ? u.write(frame)
        : writeBatch(u, encodePacket(this.uSeq, payload));
    this.uSeq = (this.uSeq + n) & 0xff;
    this.stats.bytesToUpstream += payload.length + 4 * n;
    if (!ok || u.writableLength > this.upstreamHwm) this.cFlow.pause("upstream_full");
  }

  /** Queues a packet for the client; `frame` as in {@link sendUpstream}. */
  private toClient(payload: Buffer, frame?: Buffer): void {
    const n = fragmentCount(payload.length);
    if (frame !== undefined && frame[3] === this.cSeq) this.out.frame(frame);
    else this.out.packets(encodePacket(this.cSeq, payload));
    this.cSeq = (this.cSeq + n) & 0xff;
    const bytes = payload.length + 4 * n;
    this.stats.bytesToClient += bytes;
    if (this.current) this.current.summary.bytesToClient += bytes;
  }

  private flushClient(): void {
    const bufs = this.out.take();
    // A session stopped while packets were queued (e.g. by a hook that could not record
    // the result) never delivers them.
    if (this.ended) return;
    if (!writeBatch(this.client.socket, bufs) || this.client.socket.writableLength > this.clientHwm) {
      this.uFlow.pause("client_full");
    }
  }

  private errToClient(err: ErrPacket): void {
    this.toClient(serializeErr(err));
    this.flushClient();
  }

  private drainUpstream(): void {
    try {
      for (let p = this.uReader.next(); p && !this.ended; p = this.uReader.next()) this.onUpstreamPacket(p);
    } catch (err) {
      this.flushClient();
      if (this.current)
        this.errToClient({ ...LOST_UPSTREAM, message: "Malformed response from the upstream server" });
      this.end("protocol_error", (err as Error).message);
      return;
    }
    this.flushClient();
  }

  private onUpstreamPacket(p: Packet): void {
    this.uSeq = (p.seq + p.fragments) & 0xff;
    const cur = this.current;
    if (!cur || cur.holding || this.tracker.done) return;
    if (cur.swallowInfile) {
      this.swallowAfterRefusedInfile(cur, p.payload);
      return;
    }
    if (this.tracker.inRows && !cur.rowsReady) this.router.rowsStart(cur, this.tracker.columns);
    const r = this.tracker.classify(p.payload);
    const s = cur.summary;
    let payload = p.payload;
    switch (r.kind) {
      case "ok":
        s.resultSets++;
        s.affectedRows += r.ok.affectedRows;
        s.lastInsertId = r.ok.lastInsertId;
        s.warnings += r.ok.warnings;
        break;
      case "err": {
        const err = this.router.maskError(r.err);
        s.outcome = "error";
        s.error = err;
        if (err !== r.err) payload = serializeErr(err);
        break;
      }
      case "local_infile":
        if (!this.router.allowInfile(r.fileName)) {
          this.sendUpstream(Buffer.alloc(0));
          cur.swallowInfile = true;
          return;
        }
        cur.localInfile = true;
        queueMicrotask(() => this.drainClient());
        break;
      case "column_count":
        s.resultSets++;
        break;
      case "prepare_ok":
        this.router.prepared(cur, r.prepare);
        break;
      case "row":
        s.rows++;
        payload = this.maskRow(cur, payload);
        this.observeRow(cur, payload);
        break;
      case "result_end":
        cur.masker = undefined;
        cur.rowsReady = false;
        cur.resultIndex++;
        break;
      default:
        break;
    }
    if (this.tracker.inRows && !cur.rowsReady) this.router.rowsStart(cur, this.tracker.columns);
    this.toClient(payload, payload === p.payload ? p.frame : undefined);
    if (this.tracker.done && !cur.localInfile) this.finish();
  }

  /** Follows the server's answer to the empty file to its end without relaying it; the client gets one ERR. */
  private swallowAfterRefusedInfile(cur: InFlight, payload: Buffer): void {
    const r = this.tracker.classify(payload);
    if (r.kind === "local_infile") this.sendUpstream(Buffer.alloc(0));
    if (!this.tracker.done) return;
    cur.summary.outcome = "error";
    cur.summary.error = INFILE_REFUSED;
    cur.swallowInfile = false;
    this.toClient(serializeErr(INFILE_REFUSED));
    this.finish();
  }

  private observeRow(cur: InFlight, payload: Buffer): void {
    const onRow = this.hooks.onRow;
    if (!onRow) return;
    try {
      onRow(payload, this.tracker.columns, cur.binary);
    } catch {
      // An observer must not break the session; the row still reaches the client.
    }
  }

  private maskRow(cur: InFlight, payload: Buffer): Buffer {
    if (!cur.masker || cur.masker.size === 0) return payload;
    const columns = this.tracker.columns;
    const masked = cur.binary
      ? maskBinaryRow(payload, columns, cur.masker)
      : maskTextRow(payload, columns, cur.masker);
    cur.summary.maskedCells += masked.maskedCells;
    return masked.payload;
  }

  private finish(): void {
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    this.router.complete(cur);
    if (cur.command.kind === "quit") return;
    queueMicrotask(() => this.drainClient());
  }

  private upstreamLost(detail?: string): void {
    if (this.ended) return;
    this.flushClient();
    if (this.current && !this.current.noResponse) this.errToClient(LOST_UPSTREAM);
    this.end("upstream_closed", detail);
  }

  private stop(message?: string): void {
    if (this.ended) return;
    if (this.current && message) this.errToClient({ errorCode: 1927, sqlState: "70100", message });
    this.end("stopped");
  }

  private end(reason: ProxyEndReason, detail?: string): void {
    if (this.ended) return;
    this.ended = true;
    const c = this.client.socket;
    const u = this.upstream.socket;
    if (reason === "client_quit") {
      u.end();
    } else if (reason === "client_closed" && !this.current && !u.destroyed) {
      u.end(Buffer.from([1, 0, 0, 0, Command.QUIT]));
    } else {
      u.destroy();
    }
    if (!c.destroyed) c.end();
    setTimeout(() => {
      c.destroy();
      u.destroy();
    }, 2000).unref();
    this.resolveDone({ reason, ...(detail ? { detail } : {}), stats: { ...this.stats } });
  }
}
