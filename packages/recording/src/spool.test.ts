import { readdir, readFile, readlink, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFrames } from "./frame";
import { EncodedPayload } from "./payload";
import { createSpool } from "./spool";
import { payloadOf, readAll, withTempDir } from "./spool.testing";

const MAX_BODY = 1024 * 1024;

async function segmentFiles(dir: string, sessionId: string): Promise<string[]> {
  const names = await readdir(join(dir, sessionId));
  return names.filter((n) => n.endsWith(".seg")).sort();
}

/** Segment files of the session this process holds open (Linux: /proc/self/fd). */
async function openSegmentFiles(dir: string, sessionId: string): Promise<number> {
  const prefix = `${join(dir, sessionId)}/`;
  let n = 0;
  for (const fd of await readdir("/proc/self/fd")) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => "");
    if (target.startsWith(prefix) && target.endsWith(".seg")) n++;
  }
  return n;
}

async function frameOffsets(path: string) {
  return parseFrames(await readFile(path), MAX_BODY).frames;
}

describe("spool", () => {
  it("keeps every event across flush and reopen, and continues numbering", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir });
      for (let i = 1; i <= 50; i++) {
        expect(spool.append("s1", "pg.statement", { text: `select ${i}` }, 1000 + i)).toBe(i);
        spool.append("s2", "tcp.stats", { bytesIn: i, bytesOut: i * 2 });
      }
      await spool.close();

      const reopened = await createSpool({ dir });
      const s1 = await readAll(reopened, "s1");
      expect(s1.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(payloadOf(s1[9]!)).toEqual({ text: "select 10" });
      expect(s1[9]!.atUnixMs).toBe(1010);
      expect(await readAll(reopened, "s2")).toHaveLength(50);
      expect(reopened.append("s1", "pg.statement", { text: "next" })).toBe(51);
      await reopened.flush();
      expect((await readAll(reopened, "s1", 50)).map((r) => r.seq)).toEqual([51]);
      await reopened.close();
    }));

  it("flushes on its own shortly after an append and tells listeners", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir, flushIntervalMs: 10 });
      const flushed = new Promise<string[]>((resolve) => spool.onFlushed(resolve));
      spool.append("s1", "pg.notice", { severity: "NOTICE", message: "hi" });
      expect(await flushed).toEqual(["s1"]);
      expect(spool.pending()).toEqual([{ sessionId: "s1", ackedSeq: 0, lastSeq: 1, ended: false }]);
      await spool.close();
    }));

  it("repairs a torn tail after a crash, marks it with a gap and continues after it", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir });
      for (let i = 1; i <= 10; i++) spool.append("s1", "pg.statement", { text: `select ${i}` });
      await spool.close();
      const [file] = await segmentFiles(dir, "s1");
      const path = join(dir, "s1", file!);
      const frames = await frameOffsets(path);
      await truncate(path, frames[9]!.offset + 5);

      const reopened = await createSpool({ dir });
      expect((await stat(path)).size).toBe(frames[9]!.offset);
      expect((await readAll(reopened, "s1")).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(reopened.recovered()).toEqual([{ sessionId: "s1", lastSeq: 9, ended: false, tornBytes: 5 }]);
      // The cut is not silent: the record after the last valid one says events may be missing.
      expect(reopened.append("s1", "pg.statement", { text: "after crash" })).toBe(11);
      await reopened.flush();
      const all = await readAll(reopened, "s1");
      expect(all.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(all[9]!.kind).toBe("gap");
      expect(payloadOf(all[9]!)).toEqual({ fromSeq: 10, toSeq: 10, reason: "torn_tail", bytes: 5 });
      expect(payloadOf(all[10]!)).toEqual({ text: "after crash" });
      await reopened.close();
    }));

  it("turns a corrupt record in the middle into an explicit gap", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir });
      for (let i = 1; i <= 10; i++) spool.append("s1", "pg.statement", { text: `select ${i}` });
      await spool.close();
      const [file] = await segmentFiles(dir, "s1");
      const path = join(dir, "s1", file!);
      const buf = await readFile(path);
      const frames = parseFrames(buf, MAX_BODY).frames;
      buf[frames[4]!.end - 2]! ^= 0xff;
      await writeFile(path, buf);

      const reopened = await createSpool({ dir });
      const all = await readAll(reopened, "s1");
      expect(all.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(all[4]!.kind).toBe("gap");
      expect(payloadOf(all[4]!)).toEqual({ fromSeq: 5, toSeq: 5, reason: "checksum_mismatch" });
      expect(reopened.append("s1", "x", {})).toBe(11);
      await reopened.close();
    }));

  it("resynchronises after a damaged length field", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir });
      for (let i = 1; i <= 10; i++) spool.append("s1", "pg.statement", { text: `select ${i}` });
      await spool.close();
      const [file] = await segmentFiles(dir, "s1");
      const path = join(dir, "s1", file!);
      const buf = await readFile(path);
      const frames = parseFrames(buf, MAX_BODY).frames;
      buf.writeUInt32LE(0xfffffff0, frames[3]!.offset);
      await writeFile(path, buf);

      const reopened = await createSpool({ dir });
      const all = await readAll(reopened, "s1");
      expect(all.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(payloadOf(all[3]!)).toEqual({ fromSeq: 4, toSeq: 4, reason: "corrupt_frame" });
      await reopened.close();
    }));

  it("deletes only segments fully covered by an ack, and remembers the ack", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir, segmentBytes: 1000 });
      for (let i = 1; i <= 40; i++) spool.append("s1", "pg.statement", { text: "x".repeat(150), i });
      await spool.flush();
      const before = await segmentFiles(dir, "s1");
      expect(before.length).toBeGreaterThan(5);
      const firstSeqs = before.map((n) => Number.parseInt(n, 10));
      const ackAt = firstSeqs[3]! + 1;
      await spool.ack("s1", ackAt);
      const after = await segmentFiles(dir, "s1");
      expect(after.map((n) => Number.parseInt(n, 10))).toEqual(firstSeqs.slice(3));
      await spool.close();

      const reopened = await createSpool({ dir, segmentBytes: 1000 });
      expect(reopened.ackedSeq("s1")).toBe(ackAt);
      expect(reopened.pending()).toEqual([{ sessionId: "s1", ackedSeq: ackAt, lastSeq: 40, ended: false }]);
      const rest = await readAll(reopened, "s1");
      expect(rest[0]!.seq).toBe(ackAt + 1);
      expect(rest.map((r) => r.kind)).not.toContain("gap");
      await reopened.close();
    }));

  it("removes a session's directory once it has ended and is fully acknowledged", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir });
      for (let i = 1; i <= 5; i++) spool.append("s1", "tcp.stats", { bytesIn: i, bytesOut: 0 });
      await spool.endSession("s1");
      expect(() => spool.append("s1", "x", {})).toThrow(/ended/);
      await spool.ack("s1", 4);
      expect(await readdir(dir)).toEqual(["s1"]);
      await spool.ack("s1", 5);
      expect(await readdir(dir)).toEqual([]);
      expect(spool.pending()).toEqual([]);
      expect(spool.spoolBytes()).toBe(0);
      await spool.close();
    }));

  it("finishes cleaning up on reopen when it stopped between the ack and the deletes", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir });
      for (let i = 1; i <= 5; i++) spool.append("s1", "tcp.stats", { bytesIn: i, bytesOut: 0 });
      await spool.close();
      await writeFile(join(dir, "s1", "ack"), JSON.stringify({ ackedSeq: 5, ended: true }));
      const reopened = await createSpool({ dir });
      expect(await readdir(dir)).toEqual([]);
      expect(reopened.pending()).toEqual([]);
      await reopened.close();
    }));

  it("stores an oversized payload truncated instead of failing", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir, maxRecordBytes: 8192 });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      spool.append("s1", "pg.result", { rows: [["y".repeat(100_000)]] });
      spool.append("s1", "pg.result", cyclic);
      await spool.flush();
      const [big, bad] = await readAll(spool, "s1");
      expect(payloadOf(big!)).toMatchObject({ truncated: true, originalBytes: 100_015 });
      expect(big!.payloadJson.length).toBeLessThanOrEqual(8192);
      expect(payloadOf(bad!)).toMatchObject({ unserializable: true });
      await spool.close();
    }));

  it("stores a pre-encoded payload as it is, under the same size cap", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir, maxRecordBytes: 8192 });
      spool.append("s1", "pg.statement", new EncodedPayload('{"kind":"query","text":"select \\"ü\\""}'));
      spool.append("s1", "pg.result", new EncodedPayload(JSON.stringify({ rows: [["y".repeat(100_000)]] })));
      await spool.flush();
      const [statement, result] = await readAll(spool, "s1");
      expect(statement!.payloadJson).toBe('{"kind":"query","text":"select \\"ü\\""}');
      expect(payloadOf(statement!)).toEqual({ kind: "query", text: 'select "ü"' });
      expect(payloadOf(result!)).toMatchObject({ truncated: true, originalBytes: 100_015 });
      await spool.close();
    }));

  it("closes an idle session's segment file and continues the same segment on its next write", () =>
    withTempDir(async (dir) => {
      let t = 1_000_000;
      const spool = await createSpool({ dir, now: () => t, flushIntervalMs: 1e9, idleFileMs: 2000 });
      spool.append("idle", "x", { n: 1 });
      spool.append("busy", "x", { n: 1 });
      await spool.flush();
      expect(await openSegmentFiles(dir, "idle")).toBe(1);
      t += 5000;
      spool.append("busy", "x", { n: 2 });
      await spool.flush();
      expect(await openSegmentFiles(dir, "idle")).toBe(0);
      expect(await openSegmentFiles(dir, "busy")).toBe(1);
      spool.append("idle", "x", { n: 2 });
      await spool.flush();
      expect(await segmentFiles(dir, "idle")).toHaveLength(1);
      expect((await readAll(spool, "idle")).map(payloadOf)).toEqual([{ n: 1 }, { n: 2 }]);
      await spool.close();
      const reopened = await createSpool({ dir });
      expect((await readAll(reopened, "idle")).map((r) => r.seq)).toEqual([1, 2]);
      await reopened.close();
    }));

  it("reads records larger than a batch, one per batch", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir });
      for (let i = 1; i <= 6; i++)
        spool.append("s1", "ssh.data", { stream: "o", data: String(i).repeat(150_000) });
      await spool.flush();
      const batch = await spool.read("s1", 0, 1000);
      expect(batch.events.map((r) => r.seq)).toEqual([1]);
      const all = await readAll(spool, "s1", 0, 1000);
      expect(all.map((r) => (payloadOf(r) as { data: string }).data.slice(0, 1))).toEqual([
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
      ]);
      await spool.close();
    }));

  it("reports free disk space, its own size, and whether it is above a floor", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir });
      spool.append("s1", "x", { a: 1 });
      expect(spool.spoolBytes()).toBeGreaterThan(0);
      const free = await spool.bytesFree();
      expect(free).toBeGreaterThan(0);
      expect(await spool.hasRoom(0)).toBe(true);
      expect(await spool.hasRoom(free * 1000)).toBe(false);
      await spool.close();
    }));

  it("rejects session ids that are not safe directory names", () =>
    withTempDir(async (dir) => {
      const spool = await createSpool({ dir });
      expect(() => spool.append("../etc", "x", {})).toThrow(/invalid/);
      await spool.close();
    }));
});
