import type { CommandGuard } from "@sluice/policy";
import {
  type BridgeStats,
  type ChannelObserver,
  createSftpObserver,
  type PtyRequest,
} from "@sluice/ssh-proxy";
import type { SessionContext } from "../../core/broker";
import { DataBatch, ESCAPES, SECRET_PROMPT } from "../../core/terminal-batch";
import { parseScp } from "./ssh-options";

/** Where an SSH connection's events go: the session's recording, through the broker. */
export type SshRecorderSession = Pick<SessionContext, "record" | "started" | "end">;

export interface SshRecorderOptions {
  target: string;
  user: string;
  /** Rules checked against typed shell lines (advisory only: a shell line is not a command the agent can refuse). */
  rules: Pick<CommandGuard, "active" | "match">;
  /** Largest `ssh.data` payload; bigger writes are split. */
  maxEventBytes?: number;
  /** Small writes within this window are merged into one event. */
  batchMs?: number;
}

/**
 * Writes one SSH connection's events to the spool. Terminal channels (a pty, or a
 * shell) are recorded as `ssh.data` for asciicast replay; other channels (exec, scp,
 * sftp) as metadata and byte counts.
 */
export function createSshRecorder(session: SshRecorderSession, ctx: SshRecorderOptions) {
  const append = (kind: string, payload: Record<string, unknown>) => session.record(kind, payload);
  const maxChars = ctx.maxEventBytes ?? 16_384;
  const batchMs = ctx.batchMs ?? 20;

  function channel(): ChannelObserver {
    let pty: PtyRequest | undefined;
    const env: Record<string, string> = {};
    let terminal = false;
    let kind = "";
    let detail = "";
    let bytesIn = 0;
    let bytesOut = 0;
    let line = "";
    // Input typed right after a password-style prompt (sudo, ssh, su …) is not recorded.
    let outputTail = "";
    let hidden = false;
    const output = new DataBatch((data) => append("ssh.data", { stream: "o", data }), maxChars, batchMs);
    const input = new DataBatch((data) => append("ssh.data", { stream: "i", data }), maxChars, batchMs);
    let sftp: ReturnType<typeof createSftpObserver> | undefined;

    function typed(chunk: Buffer): void {
      for (const ch of chunk.toString("utf8").replace(ESCAPES, "")) {
        if (ch === "\r" || ch === "\n") {
          const rule = line.trim() ? ctx.rules.match(line.trim()) : undefined;
          if (rule) append("ssh.advisory", { rule: rule.name, line: line.trim() });
          line = "";
        } else if (ch === "\x7f" || ch === "\b") line = line.slice(0, -1);
        else if (ch === "\x03" || ch === "\x15") line = "";
        else if (ch >= " " && line.length < 4096) line += ch;
      }
    }

    return {
      pty(p) {
        pty = { ...p };
      },
      env(key, value) {
        env[key] = value;
      },
      start(k, d, hasPty) {
        kind = k;
        detail = d;
        terminal = hasPty || k === "shell";
        if (pty)
          append("ssh.pty", {
            width: pty.cols,
            height: pty.rows,
            term: pty.term,
            env: { TERM: pty.term, ...env },
          });
        if (k === "shell") append("ssh.shell", { pty: hasPty });
        else if (k === "exec") {
          append("ssh.exec", { command: d, pty: hasPty });
          const scp = parseScp(d);
          if (scp) append("ssh.scp", { event: "start", ...scp });
        } else if (d === "sftp") {
          append("ssh.sftp", { event: "start" });
          sftp = createSftpObserver({
            file: (f) => append("ssh.sftp", { event: "file", ...f }),
            op: (op, paths) => append("ssh.sftp", { event: op, paths }),
          });
        } else append("ssh.subsystem", { name: d });
      },
      denied(command, message) {
        append("ssh.denied", { command, message });
      },
      resize(cols, rows) {
        if (pty) append("ssh.resize", { width: cols, height: rows });
      },
      signal(name) {
        append("ssh.signal", { name });
      },
      input(chunk) {
        bytesIn += chunk.length;
        sftp?.request(chunk);
        if (!terminal) return;
        let visible = chunk;
        if (hidden) {
          const end = chunk.findIndex((b) => b === 0x0d || b === 0x0a);
          if (end < 0) return;
          hidden = false;
          input.add(Buffer.from("[input after a password prompt not recorded]\r"));
          visible = chunk.subarray(end + 1);
          if (visible.length === 0) return;
        }
        input.add(visible);
        if (ctx.rules.active) typed(visible);
      },
      output(chunk, stderr) {
        bytesOut += chunk.length;
        if (!stderr) sftp?.response(chunk);
        if (!terminal) return;
        output.add(chunk);
        outputTail = (outputTail + chunk.toString("utf8")).slice(-200);
        if (SECRET_PROMPT.test(outputTail)) {
          hidden = true;
          outputTail = "";
        }
      },
      exit(e) {
        output.flush();
        input.flush();
        if (e.code !== undefined || e.signal) append("ssh.exit", { ...e });
      },
      close() {
        output.flush();
        input.flush();
        if (kind === "exec") {
          const scp = parseScp(detail);
          if (scp)
            append("ssh.scp", {
              event: "end",
              ...scp,
              bytes: scp.direction === "upload" ? bytesIn : bytesOut,
            });
        } else if (kind === "subsystem" && detail === "sftp") {
          sftp?.end();
          append("ssh.sftp", {
            event: "end",
            bytesIn,
            bytesOut,
            ...(sftp?.following === false ? { fileTrackingStopped: true } : {}),
          });
        }
      },
    };
  }

  return {
    start() {
      session.started({ target: ctx.target, user: ctx.user });
    },
    channel,
    forward(destination: string, allowed: boolean) {
      append("ssh.forward", { destination, allowed });
    },
    end(stats: BridgeStats, reason: string, error?: string) {
      void session.end({
        reason,
        bytesIn: stats.bytesIn,
        bytesOut: stats.bytesOut,
        ...(error ? { error } : {}),
      });
    },
  };
}
