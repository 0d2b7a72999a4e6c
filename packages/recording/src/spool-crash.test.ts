import { spawn } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createSpool } from "./spool";
import { payloadOf, readAll, withTempDir } from "./spool.testing";

/**
 * A child process that appends numbered events, hands each batch to the kernel with
 * `writeSync` (never `flush`, never fsync) and reports the last one it handed over,
 * until it is killed with SIGKILL.
 */
const CHILD = `
import { createSpool } from ${JSON.stringify(new URL("./spool.ts", import.meta.url).pathname)};
const spool = await createSpool({ dir: process.argv[2], flushIntervalMs: 1e9, flushBytes: 1e9 });
let n = 0;
const tick = () => {
  for (let i = 0; i < 20; i++) spool.append("s1", "pg.result", { n: ++n });
  spool.writeSync();
  process.stdout.write(n + "\\n");
  setImmediate(tick);
};
tick();
`;

async function killMidStream(dir: string, script: string): Promise<number> {
  const child = spawn(process.execPath, ["--import", "tsx", script, dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (out.split("\n").length > 50) {
        clearInterval(poll);
        resolve();
      }
    }, 5);
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGKILL");
  await exited;
  const reported = out.split("\n").filter((l) => /^\d+$/.test(l));
  return Number(reported.at(-1));
}

describe("spool after the process dies", () => {
  it("keeps every event handed over by writeSync when the writer is killed with SIGKILL", () =>
    withTempDir(async (dir) => {
      const script = join(dir, "child.mts");
      await writeFile(script, CHILD);
      const spoolDir = join(dir, "spool");
      const reported = await killMidStream(spoolDir, script);
      expect(reported).toBeGreaterThan(0);
      const spool = await createSpool({ dir: spoolDir });
      const events = await readAll(spool, "s1", 0, 1 << 20);
      const ns = events.filter((e) => e.kind === "pg.result").map((e) => (payloadOf(e) as { n: number }).n);
      // Everything the child said it handed over is there, in order, with no hole.
      expect(ns.length).toBeGreaterThanOrEqual(reported);
      expect(ns.slice(0, reported)).toEqual(Array.from({ length: reported }, (_, i) => i + 1));
      expect(spool.recovered()).toMatchObject([{ sessionId: "s1", ended: false }]);
      await spool.close();
    }));

  it("writeSync makes events readable by another process at once; only a flush makes them durable", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir, flushIntervalMs: 1e9, flushBytes: 1e9 });
      for (let i = 1; i <= 5; i++) spool.append("s1", "pg.statement", { text: `select ${i}` });
      spool.writeSync();
      // Not fsync'd yet: nothing is offered for upload or acknowledgement.
      expect(spool.pending()).toEqual([]);
      const names = await readdir(join(dir, "s1"));
      const bytes = await readFile(join(dir, "s1", names.find((n) => n.endsWith(".seg"))!));
      expect(bytes.toString("latin1")).toContain("select 5");
      // A new process opening the same directory (what a restart after kill -9 does) reads them.
      const other = await createSpool({ dir });
      expect((await readAll(other, "s1")).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
      await other.close();
      await spool.flush();
      expect(spool.pending()).toEqual([{ sessionId: "s1", ackedSeq: 0, lastSeq: 5, ended: false }]);
      await spool.close();
    }));

  it("appends a gap that covers its own sequence number and lists sessions left open", () =>
    withTempDir(async (dir) => {
      const first = await createSpool({ dir });
      first.append("open", "session.start", {});
      first.append("open", "pg.statement", { text: "select 1" });
      first.append("done", "session.start", {});
      await first.endSession("done");
      await first.close();
      const spool = await createSpool({ dir });
      expect(spool.recovered()).toEqual([
        { sessionId: "done", lastSeq: 1, ended: true, tornBytes: 0 },
        { sessionId: "open", lastSeq: 2, ended: false, tornBytes: 0 },
      ]);
      expect(spool.appendGap("open", "agent_restart")).toBe(3);
      spool.append("open", "session.end", { reason: "agent restarted" });
      await spool.endSession("open");
      const events = await readAll(spool, "open");
      expect(events.map((e) => e.kind)).toEqual(["session.start", "pg.statement", "gap", "session.end"]);
      expect(payloadOf(events[2]!)).toEqual({ fromSeq: 3, toSeq: 3, reason: "agent_restart" });
      expect(() => spool.appendGap("open", "late")).toThrow(/has ended/);
      await spool.close();
    }));

  it("reports a newest segment with no valid record at all as a torn tail from the start", () =>
    withTempDir(async (dir) => {
      const first = await createSpool({ dir });
      first.append("s1", "pg.statement", { text: "select 1" });
      await first.close();
      const [name] = (await readdir(join(dir, "s1"))).filter((n) => n.endsWith(".seg"));
      await writeFile(join(dir, "s1", name!), Buffer.from([7, 0, 0, 0, 1, 2]));
      const spool = await createSpool({ dir });
      expect(spool.recovered()).toEqual([{ sessionId: "s1", lastSeq: 0, ended: false, tornBytes: 6 }]);
      await spool.flush();
      const events = await readAll(spool, "s1");
      expect(events.map((e) => [e.seq, e.kind])).toEqual([[1, "gap"]]);
      expect(payloadOf(events[0]!)).toEqual({ fromSeq: 1, toSeq: 1, reason: "torn_tail", bytes: 6 });
      await spool.close();
    }));
});
