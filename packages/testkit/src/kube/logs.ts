/**
 * Container logs: text a test appends with `appendLog`, served by `…/pods/{name}/log` with
 * `container`, `tailLines`, `limitBytes`, `timestamps` and `follow` like the kubelet does.
 */
import type { ServerResponse } from "node:http";
import { badRequest } from "./status";

interface LogLine {
  time: string;
  text: string;
}

interface LogBuffer {
  lines: LogLine[];
  followers: Set<(line: LogLine) => void>;
}

/** A log keeps at most this many lines, so a chatty test cannot grow memory without bound. */
const MAX_LINES = 10_000;

export function createLogs() {
  const buffers = new Map<string, LogBuffer>();
  const open = new Set<ServerResponse>();

  function buffer(namespace: string, pod: string, container: string): LogBuffer {
    const key = `${namespace}/${pod}/${container}`;
    let found = buffers.get(key);
    if (!found) {
      found = { lines: [], followers: new Set() };
      buffers.set(key, found);
    }
    return found;
  }

  return {
    append(namespace: string, pod: string, container: string, text: string) {
      const b = buffer(namespace, pod, container);
      const parts = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
      for (const part of parts) {
        const line = { time: new Date().toISOString(), text: `${part}\n` };
        b.lines.push(line);
        if (b.lines.length > MAX_LINES) b.lines.shift();
        for (const follower of b.followers) follower(line);
      }
    },

    /** Ends followers of a pod that went away, as the kubelet does when a container stops. */
    endPod(namespace: string, pod: string) {
      for (const [key, b] of buffers) {
        if (!key.startsWith(`${namespace}/${pod}/`)) continue;
        for (const follower of b.followers) follower({ time: "", text: "" });
        buffers.delete(key);
      }
    },

    serve(namespace: string, pod: string, container: string, query: URLSearchParams, res: ServerResponse) {
      const b = buffer(namespace, pod, container);
      const tail = query.get("tailLines");
      const tailLines = tail === null ? undefined : Number(tail);
      if (tailLines !== undefined && !(tailLines >= 0)) throw badRequest(`invalid tailLines: ${tail}`);
      const timestamps = query.get("timestamps") === "true";
      let budget = query.get("limitBytes") ? Number(query.get("limitBytes")) : Number.POSITIVE_INFINITY;
      const format = (line: LogLine) => (timestamps ? `${line.time} ${line.text}` : line.text);
      res.writeHead(200, { "Content-Type": "text/plain", "Cache-Control": "no-cache, private" });
      const send = (line: LogLine) => {
        const text = format(line);
        const cut = text.length > budget ? text.slice(0, budget) : text;
        budget -= cut.length;
        res.write(cut);
        if (budget <= 0) res.end();
      };
      const lines =
        tailLines === undefined ? b.lines : b.lines.slice(Math.max(0, b.lines.length - tailLines));
      for (const line of lines) send(line);
      if (query.get("follow") !== "true" || budget <= 0) {
        res.end();
        return;
      }
      const follower = (line: LogLine) => (line.text ? send(line) : res.end());
      b.followers.add(follower);
      open.add(res);
      res.once("close", () => {
        b.followers.delete(follower);
        open.delete(res);
      });
    },

    closeAll() {
      for (const res of open) res.destroy();
      open.clear();
    },
  };
}

export type Logs = ReturnType<typeof createLogs>;
