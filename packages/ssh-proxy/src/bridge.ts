import type { Writable } from "node:stream";
import type { Client, ClientChannel, Connection, ServerChannel, Session } from "ssh2";

export interface PtyRequest {
  cols: number;
  rows: number;
  width: number;
  height: number;
  term: string;
  modes: Record<string, number>;
}

export type SessionKind = "shell" | "exec" | "subsystem";

export interface ExitInfo {
  code?: number;
  signal?: string;
}

/** Watches one session channel; every method is optional. */
export interface ChannelObserver {
  pty?(p: PtyRequest): void;
  env?(key: string, value: string): void;
  start?(kind: SessionKind, detail: string, pty: boolean): void;
  denied?(command: string, message: string): void;
  resize?(cols: number, rows: number): void;
  signal?(name: string): void;
  /** Client → target bytes. */
  input?(chunk: Buffer): void;
  /** Target → client bytes. */
  output?(chunk: Buffer, stderr: boolean): void;
  exit?(e: ExitInfo): void;
  close?(): void;
}

export interface BridgeHooks {
  allowPortForwarding: boolean;
  /** Runs before an exec reaches the target; a returned message blocks it (exit status 126). */
  checkExec?(command: string): string | undefined;
  channel?(): ChannelObserver;
  forward?(destination: string, allowed: boolean): void;
}

export interface BridgeStats {
  bytesIn: number;
  bytesOut: number;
}

export interface Bridge {
  stats: BridgeStats;
  /** Tells open shells why, then closes the connection on both sides. */
  terminate(reason: string): void;
}

/**
 * Resolves once everything written to `w` so far has gone out (or `w` closed). 'drain'
 * fires only after a write returned false, so it cannot be awaited for data that merely
 * waits for the peer's window: a zero-length write completes after every earlier one.
 */
export function flushed(w: Writable): Promise<void> {
  if (!w.writable || w.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      w.off("close", done);
      resolve();
    };
    w.on("close", done);
    w.write(Buffer.alloc(0), done);
  });
}

type UpstreamExit = ExitInfo & { dump?: boolean; desc?: string };

/** An upstream channel and how it exited; the exit is watched from the moment the channel opens. */
interface OpenedChannel {
  channel: ClientChannel;
  exit: UpstreamExit;
}

function openUpstream(
  conn: Client,
  kind: SessionKind,
  detail: string,
  pty: PtyRequest | undefined,
  env: Record<string, string>,
): Promise<OpenedChannel> {
  return new Promise((resolve, reject) => {
    const cb = (err: Error | undefined, ch: ClientChannel) => {
      if (err) return reject(err);
      // A fast command's exit status can arrive in the same read as the channel's
      // confirmation, before any code awaiting this promise runs: listen now.
      const opened: OpenedChannel = { channel: ch, exit: {} };
      ch.on("exit", (code: number | null, signal?: string, dump?: boolean, desc?: string) => {
        opened.exit =
          code === null || code === undefined
            ? { ...(signal ? { signal } : {}), ...(dump ? { dump } : {}), ...(desc ? { desc } : {}) }
            : { code };
      });
      resolve(opened);
    };
    const window = pty ? { ...pty } : false;
    const withEnv = Object.keys(env).length > 0 ? { env } : {};
    if (kind === "shell") conn.shell(window, withEnv, cb);
    else if (kind === "exec") conn.exec(detail, { ...withEnv, ...(window ? { pty: window } : {}) }, cb);
    else conn.subsys(detail, cb);
  });
}

/**
 * Bridges an authenticated server-side connection to the upstream client connection.
 * `onEnd` runs once, when the client connection is gone.
 */
export function bridge(
  client: Connection,
  upstream: Promise<Client>,
  hooks: BridgeHooks,
  onEnd: (stats: BridgeStats, error?: string) => void,
): Bridge {
  const stats: BridgeStats = { bytesIn: 0, bytesOut: 0 };
  const shells = new Set<{ channel: ServerChannel; pty: boolean }>();
  let upstreamError: string | undefined;
  let ended = false;
  upstream.then(
    (conn) => {
      conn.on("close", () => client.end());
      conn.on("error", () => client.end());
    },
    (err: unknown) => {
      upstreamError = (err as Error).message;
    },
  );

  function end(): void {
    if (ended) return;
    ended = true;
    void upstream.then((c) => c.end()).catch(() => undefined);
    onEnd(stats, upstreamError);
  }
  client.on("close", end);
  client.on("error", () => client.end());

  client.on("session", (accept) => serveSession(accept()));
  client.on("tcpip", (accept, reject, info) => {
    const dest = `${info.destIP}:${info.destPort}`;
    hooks.forward?.(dest, hooks.allowPortForwarding);
    if (!hooks.allowPortForwarding) return reject();
    upstream.then(
      (conn) =>
        conn.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
          if (err) return reject();
          const ch = accept();
          ch.on("data", (c: Buffer) => {
            stats.bytesIn += c.length;
          });
          up.on("data", (c: Buffer) => {
            stats.bytesOut += c.length;
          });
          ch.pipe(up).pipe(ch);
          ch.on("close", () => up.close());
          up.on("close", () => ch.close());
        }),
      () => reject(),
    );
  });
  client.on("request", (_accept, reject) => reject?.());

  function serveSession(session: Session): void {
    const obs = hooks.channel?.() ?? {};
    const env: Record<string, string> = {};
    let pty: PtyRequest | undefined;
    let up: ClientChannel | undefined;
    let opened: OpenedChannel | undefined;
    let started = false;
    session.on("pty", (accept, _reject, info) => {
      pty = {
        cols: info.cols,
        rows: info.rows,
        width: info.width,
        height: info.height,
        term: info.term,
        modes: (info.modes ?? {}) as Record<string, number>,
      };
      obs.pty?.(pty);
      accept?.();
    });
    session.on("env", (accept, _reject, info) => {
      env[info.key] = info.val;
      obs.env?.(info.key, info.val);
      accept?.();
    });
    session.on("window-change", (accept, _reject, info) => {
      if (pty) Object.assign(pty, { cols: info.cols, rows: info.rows });
      up?.setWindow(info.rows, info.cols, info.height, info.width);
      obs.resize?.(info.cols, info.rows);
      accept?.();
    });
    session.on("signal", (accept, _reject, info) => {
      up?.signal(info.name);
      obs.signal?.(info.name);
      accept?.();
    });
    session.on("auth-agent", (_accept, reject) => reject?.());
    session.on("x11", (_accept, reject) => reject?.());
    session.on("shell", (accept, reject) => void start("shell", "", accept, reject));
    session.on("exec", (accept, reject, info) => void start("exec", info.command, accept, reject));
    session.on("subsystem", (accept, reject, info) => void start("subsystem", info.name, accept, reject));
    session.on("close", () => {
      if (!started) obs.close?.();
    });

    /**
     * Accepts at once: a client that sends EOF right after its request (stdin at end)
     * would otherwise find no channel. Failures after this point reach the client as a
     * message on stderr and an exit status.
     */
    async function start(
      kind: SessionKind,
      detail: string,
      accept: () => ServerChannel | undefined,
      reject: (() => void) | undefined,
    ): Promise<void> {
      if (started) return reject?.();
      started = true;
      const ch = accept();
      if (!ch) return;
      const nl = pty ? "\r\n" : "\n";
      let conn: Client;
      try {
        conn = await upstream;
      } catch (err) {
        refuse(ch, `sluice: ${(err as Error).message}${nl}`, 255);
        return;
      }
      obs.start?.(kind, detail, pty !== undefined);
      const denial = kind === "exec" ? hooks.checkExec?.(detail) : undefined;
      if (denial) {
        obs.denied?.(detail, denial);
        refuse(ch, `${denial}${nl}`, 126);
        return;
      }
      try {
        opened = await openUpstream(conn, kind, detail, pty, env);
        up = opened.channel;
      } catch {
        refuse(ch, `sluice: the target refused the ${kind} request${nl}`, 255);
        return;
      }
      wire(ch, opened);
    }

    function refuse(ch: ServerChannel, message: string, code: number): void {
      ch.resume();
      ch.stderr.write(message);
      ch.exit(code);
      ch.end();
      obs.exit?.({ code });
      obs.close?.();
    }

    function wire(ch: ServerChannel, upstreamChannel: OpenedChannel): void {
      const upCh = upstreamChannel.channel;
      const entry = { channel: ch, pty: pty !== undefined };
      shells.add(entry);
      ch.on("data", (c: Buffer) => {
        stats.bytesIn += c.length;
        obs.input?.(c);
      });
      upCh.on("data", (c: Buffer) => {
        stats.bytesOut += c.length;
        obs.output?.(c, false);
      });
      upCh.stderr.on("data", (c: Buffer) => {
        stats.bytesOut += c.length;
        obs.output?.(c, true);
      });
      ch.pipe(upCh);
      upCh.pipe(ch, { end: false });
      upCh.stderr.pipe(ch.stderr, { end: false });
      let closed = false;
      upCh.on("close", () => {
        void (async () => {
          await flushed(ch);
          await flushed(ch.stderr);
          const exit = upstreamChannel.exit;
          try {
            if (exit.signal) ch.exit(exit.signal, exit.dump ?? false, exit.desc ?? "");
            else if (exit.code !== undefined) ch.exit(exit.code);
          } catch {
            // A signal name the protocol does not know: the client sees only the close.
          }
          ch.end();
          if (!closed) {
            closed = true;
            obs.exit?.({
              ...(exit.code !== undefined ? { code: exit.code } : {}),
              ...(exit.signal ? { signal: exit.signal } : {}),
            });
            obs.close?.();
          }
          shells.delete(entry);
        })();
      });
      ch.on("close", () => {
        upCh.close();
        shells.delete(entry);
        if (!closed) {
          closed = true;
          obs.exit?.({});
          obs.close?.();
        }
      });
    }
  }

  return {
    stats,
    terminate(reason) {
      for (const s of shells) {
        try {
          s.channel.stderr.write(`sluice: session terminated: ${reason}${s.pty ? "\r\n" : "\n"}`);
        } catch {
          // The channel is already gone.
        }
      }
      setTimeout(() => client.end(), 100).unref();
    },
  };
}
