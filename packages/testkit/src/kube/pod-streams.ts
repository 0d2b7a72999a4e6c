/**
 * exec and attach: WebSocket upgrades on `…/pods/{name}/exec|attach`. exec starts a process per
 * request; attach joins the pod's main process, a long-running `sh` started on first attach
 * (under a TTY when the container asks for one) that outlives the clients attached to it.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { PassThrough } from "node:stream";
import { createWebSocketStream, type WebSocket, WebSocketServer } from "ws";
import { type ContainerProcess, resolveExecutable, startContainerProcess } from "./container-process";
import { podContainerNames } from "./defaults";
import { runPortForward } from "./port-forward";
import { runSpdyExec } from "./spdy-exec";
import type { SpdyServer } from "./spdy-session";
import { badRequest, nonZeroExit, SUCCESS_EXIT, statusError } from "./status";
import type { KubeObject } from "./store";
import { runStreamSession, type SessionOptions, STREAM_PROTOCOLS } from "./stream-session";

export interface Resize {
  namespace: string;
  pod: string;
  width: number;
  height: number;
}

export interface StreamRequest {
  pod: KubeObject;
  subresource: "exec" | "attach" | "portforward";
  query: URLSearchParams;
}

/** Exit code standing for "the runtime could not start the command". */
const EXEC_FAILED = -1;

const SPDY_EXEC_PROTOCOL = "v4.channel.k8s.io";
const PORT_FORWARD_PROTOCOL = "portforward.k8s.io";
/** kubectl ≥ 1.31 tunnels the port-forward SPDY connection through WebSocket binary messages. */
const TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io";

/** Largest WebSocket message accepted from a client (kubectl sends stdin in 32 KiB pieces). */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

function flag(query: URLSearchParams, name: string): boolean {
  return ["true", "1"].includes(query.get(name) ?? "");
}

function containerOf(pod: KubeObject, query: URLSearchParams): Record<string, unknown> {
  const names = podContainerNames(pod);
  const wanted = query.get("container") ?? names[0] ?? "";
  if (!names.includes(wanted))
    throw badRequest(`container ${wanted} is not valid for pod ${pod.metadata.name}`);
  const spec = (pod.spec ?? {}) as { containers?: Record<string, unknown>[] };
  return spec.containers?.find((c) => c.name === wanted) ?? {};
}

function containerEnv(pod: KubeObject, container: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: process.env.HOME ?? "/root",
    HOSTNAME: pod.metadata.name,
  };
  for (const e of (container.env ?? []) as { name?: string; value?: string }[]) {
    if (e.name) env[e.name] = e.value ?? "";
  }
  return env;
}

function runtimeExecError(command: string) {
  const detail =
    `failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: ` +
    `unable to start container process: exec: "${command}": executable file not found in $PATH: unknown`;
  return {
    metadata: {},
    status: "Failure",
    message: `Internal error occurred: error executing command in container: ${detail}`,
    reason: "InternalError",
    details: { causes: [{ message: `error executing command in container: ${detail}` }] },
    code: 500,
  };
}

interface MainProcess {
  proc: ContainerProcess;
  output: PassThrough[];
}

export function createPodStreams(ptyHelper: string, resizes: Resize[]) {
  const channelWss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    handleProtocols: (offered) => STREAM_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  // `SPDY/3.1+portforward.k8s.io` is not a WebSocket token (`/`), so `ws` would refuse the
  // upgrade: the subprotocol is taken off the request before `ws` reads it and answered here.
  const tunnelWss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const tunnelOffered = new WeakSet<IncomingMessage>();
  tunnelWss.on("headers", (headers, req) => {
    if (tunnelOffered.has(req)) headers.push(`Sec-WebSocket-Protocol: ${TUNNEL_PROTOCOL}`);
  });
  const spdyServers = new Set<SpdyServer>();
  const sockets = new Set<WebSocket>();
  const execs = new Set<ContainerProcess>();
  const mains = new Map<string, MainProcess>();

  /** A per-client view of the pod's main process: its output, and stdin that one client cannot end. */
  function joinMain(pod: KubeObject, container: Record<string, unknown>, size: [number?, number?]) {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    let main = mains.get(key);
    if (!main) {
      const proc = startContainerProcess({
        command: ["sh"],
        tty: container.tty === true,
        env: containerEnv(pod, container),
        ptyHelper,
        cols: size[0],
        rows: size[1],
      });
      const created: MainProcess = { proc, output: [] };
      const fan = (chunk: Buffer) => {
        for (const out of created.output) out.write(chunk);
      };
      proc.stdout.on("data", fan);
      proc.stderr?.on("data", fan);
      proc.stdin.on("error", () => {});
      void proc.exited.then(() => {
        mains.delete(key);
        for (const out of created.output) out.end();
      });
      mains.set(key, created);
      main = created;
    }
    const mine = new PassThrough();
    main.output.push(mine);
    const shared = main;
    const stdin = new PassThrough();
    stdin.on("data", (chunk: Buffer) => shared.proc.stdin.write(chunk));
    const view: ContainerProcess = {
      stdin,
      stdout: mine,
      stderr: undefined,
      resize: (cols, rows) => shared.proc.resize(cols, rows),
      kill: () => {
        shared.output = shared.output.filter((o) => o !== mine);
        mine.end();
      },
      exited: shared.proc.exited,
    };
    return view;
  }

  /** A process that never started because the executable is missing: the runtime's exec error. */
  function missingProcess(): ContainerProcess {
    const stdout = new PassThrough();
    stdout.end();
    return {
      stdin: new PassThrough(),
      stdout,
      stderr: undefined,
      resize: () => {},
      kill: () => {},
      exited: Promise.resolve(EXEC_FAILED),
    };
  }

  function sessionOptions(stream: StreamRequest): SessionOptions {
    const { pod, query, subresource } = stream;
    const container = containerOf(pod, query);
    const opts = {
      stdin: flag(query, "stdin"),
      stdout: flag(query, "stdout"),
      stderr: flag(query, "stderr"),
      tty: flag(query, "tty"),
    };
    if (!opts.stdin && !opts.stdout && !opts.stderr) {
      throw badRequest("you must specify at least 1 of stdin, stdout, stderr");
    }
    const command = query.getAll("command");
    if (subresource === "exec" && command.length === 0) {
      throw badRequest("you must specify at least one command for the container");
    }
    const env = containerEnv(pod, container);
    const namespace = pod.metadata.namespace ?? "";
    return {
      ...opts,
      onResize: (width, height) => resizes.push({ namespace, pod: pod.metadata.name, width, height }),
      statusFor: (code) => {
        if (code === EXEC_FAILED) return runtimeExecError(command[0] ?? "");
        return code === 0 ? SUCCESS_EXIT : nonZeroExit(command.length ? command : ["sh"], code);
      },
      start: (cols, rows) => {
        if (subresource === "attach") return joinMain(pod, container, [cols, rows]);
        if (!resolveExecutable(command[0] ?? "", env.PATH ?? "")) return missingProcess();
        const proc = startContainerProcess({ command, tty: opts.tty, env, ptyHelper, cols, rows });
        execs.add(proc);
        void proc.exited.then(() => execs.delete(proc));
        return proc;
      },
    };
  }

  function track(server: SpdyServer) {
    spdyServers.add(server);
    server.onClose(() => spdyServers.delete(server));
  }

  function webSocket(
    server: WebSocketServer,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    use: (ws: WebSocket) => void,
  ) {
    server.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.once("close", () => sockets.delete(ws));
      use(ws);
    });
  }

  return {
    /** Validates the request and upgrades it; errors thrown here become a plain Status reply. */
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, stream: StreamRequest) {
      const upgrade = String(req.headers.upgrade ?? "").toLowerCase();
      if (stream.subresource === "portforward") {
        if (upgrade === "websocket") {
          const offered = String(req.headers["sec-websocket-protocol"] ?? "")
            .split(",")
            .map((p) => p.trim());
          if (!offered.includes(TUNNEL_PROTOCOL))
            throw badRequest(`port-forward needs the ${TUNNEL_PROTOCOL} subprotocol`);
          delete req.headers["sec-websocket-protocol"];
          tunnelOffered.add(req);
          webSocket(tunnelWss, req, socket, head, (ws) => {
            track(runPortForward(createWebSocketStream(ws), stream.pod, () => {}));
          });
          return;
        }
        spdyUpgrade(req, socket, head, [PORT_FORWARD_PROTOCOL]);
        track(runPortForward(socket, stream.pod, () => {}));
        return;
      }
      const opts = sessionOptions(stream);
      if (upgrade === "websocket") {
        webSocket(channelWss, req, socket, head, (ws) => runStreamSession(ws, ws.protocol, opts));
        return;
      }
      spdyUpgrade(req, socket, head, [SPDY_EXEC_PROTOCOL]);
      track(runSpdyExec(socket, opts));
    },

    /** Ends the pod's main process (the pod was deleted). */
    stopPod(namespace: string, name: string) {
      mains.get(`${namespace}/${name}`)?.proc.kill();
    },

    close() {
      for (const ws of sockets) ws.terminate();
      for (const server of spdyServers) server.close();
      for (const proc of execs) proc.kill();
      for (const main of mains.values()) main.proc.kill();
      channelWss.close();
      tunnelWss.close();
    },
  };
}

/**
 * Answers a SPDY/3.1 upgrade with 101 and the negotiated X-Stream-Protocol-Version, or throws
 * the API server's refusal when the client offers nothing this server speaks.
 */
function spdyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, served: string[]) {
  if (
    !String(req.headers.upgrade ?? "")
      .toLowerCase()
      .startsWith("spdy/3.1")
  ) {
    throw badRequest("Upgrade request required");
  }
  const offered = String(req.headers["x-stream-protocol-version"] ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  const chosen = served.find((p) => offered.includes(p));
  if (!chosen) {
    throw statusError(
      403,
      "Forbidden",
      `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(" ")}], server supports [${served.join(" ")}]`,
    );
  }
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
      `X-Stream-Protocol-Version: ${chosen}\r\n\r\n`,
  );
  if (head.length) socket.unshift(head);
}

export type PodStreams = ReturnType<typeof createPodStreams>;
