/**
 * Watches an SFTP (v3) stream as it is relayed and reports file transfers: which file was
 * opened, how, and how many bytes were read and written through each handle before it
 * was closed. It reads only packet headers (and paths); data passes by uncopied. A packet
 * it cannot follow turns it off for the rest of the stream; the relay is never affected.
 */

export interface SftpFileEvent {
  path: string;
  mode: "read" | "write" | "read-write";
  bytesRead: number;
  bytesWritten: number;
}

export interface SftpEvents {
  /** A file handle was closed (or the stream ended while it was open). */
  file(e: SftpFileEvent): void;
  /** A change to the file tree: remove, rename, mkdir, rmdir, symlink, setstat. */
  op?(op: string, paths: string[]): void;
}

const T = {
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  SETSTAT: 9,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  RENAME: 18,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
} as const;
const PATH_OPS: Record<number, string> = {
  [T.SETSTAT]: "setstat",
  [T.REMOVE]: "remove",
  [T.MKDIR]: "mkdir",
  [T.RMDIR]: "rmdir",
  [T.RENAME]: "rename",
  [T.SYMLINK]: "symlink",
};
/** Larger than any packet OpenSSH's sftp-server accepts (256 KiB). */
const MAX_PACKET = 1024 * 1024;
const MAX_PATH_PREFIX = 8192;
/** Type, id, a handle of up to 256 bytes, offset and length. */
const MAX_DATA_PREFIX = 1 + 4 + 4 + 256 + 8 + 4;
const MAX_PENDING = 4096;
const MAX_HANDLES = 1024;

/** Splits a byte stream into SFTP packets, keeping only each packet's first bytes. */
class PacketScanner {
  private readonly len = Buffer.alloc(4);
  private lenHave = 0;
  private remaining = 0;
  private readonly pre = Buffer.alloc(MAX_PATH_PREFIX);
  private preHave = 0;
  private preWant = 0;
  dead = false;

  constructor(
    private readonly onPacket: (prefix: Buffer) => void,
    private readonly wantFor: (type: number) => number,
  ) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.dead) {
      if (this.remaining === 0) {
        const n = Math.min(4 - this.lenHave, chunk.length - off);
        chunk.copy(this.len, this.lenHave, off, off + n);
        this.lenHave += n;
        off += n;
        if (this.lenHave < 4) return;
        this.lenHave = 0;
        this.remaining = this.len.readUInt32BE(0);
        if (this.remaining < 1 || this.remaining > MAX_PACKET) {
          this.dead = true;
          return;
        }
        this.preHave = 0;
        this.preWant = 1;
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - off);
      if (this.preHave < this.preWant) {
        const n = Math.min(this.preWant - this.preHave, take);
        chunk.copy(this.pre, this.preHave, off, off + n);
        if (this.preHave === 0) this.preWant = Math.min(this.remaining, this.wantFor(this.pre[0] ?? 0));
        this.preHave += n;
        // The type byte may have widened what we want from this same chunk.
        if (this.preHave < this.preWant && n < take) {
          const more = Math.min(this.preWant - this.preHave, take - n);
          chunk.copy(this.pre, this.preHave, off + n, off + n + more);
          this.preHave += more;
        }
      }
      off += take;
      this.remaining -= take;
      if (this.remaining === 0) this.onPacket(this.pre.subarray(0, this.preHave));
    }
  }
}

/** Bounded reads of SFTP fields from a packet prefix; undefined when cut off. */
class Fields {
  private pos = 1;

  constructor(private readonly b: Buffer) {}

  u32(): number | undefined {
    if (this.pos + 4 > this.b.length) return undefined;
    const v = this.b.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  bytes(): Buffer | undefined {
    const n = this.u32();
    if (n === undefined || this.pos + n > this.b.length) return undefined;
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** The length of a string field whose bytes may lie beyond the prefix. */
  lengthOnly(): number | undefined {
    return this.u32();
  }

  skip(n: number): boolean {
    this.pos += n;
    return this.pos <= this.b.length;
  }
}

interface OpenFile {
  path: string;
  mode: SftpFileEvent["mode"];
  bytesRead: number;
  bytesWritten: number;
}

export function createSftpObserver(events: SftpEvents) {
  const openRequests = new Map<number, { path: string; mode: SftpFileEvent["mode"] }>();
  const reads = new Map<number, string>();
  const files = new Map<string, OpenFile>();

  function report(handle: string): void {
    const f = files.get(handle);
    if (!f) return;
    files.delete(handle);
    events.file({ path: f.path, mode: f.mode, bytesRead: f.bytesRead, bytesWritten: f.bytesWritten });
  }

  const requestWant = (type: number) =>
    type === T.WRITE || type === T.READ
      ? MAX_DATA_PREFIX
      : type in PATH_OPS || type === T.OPEN
        ? MAX_PATH_PREFIX
        : 300;
  const responseWant = (type: number) => (type === T.DATA ? 9 : type === T.HANDLE ? 300 : 5);

  const requests = new PacketScanner((p) => {
    const type = p[0];
    const f = new Fields(p);
    const id = f.u32();
    if (id === undefined) return;
    if (type === T.OPEN) {
      const path = f.bytes();
      const flags = f.u32();
      if (path === undefined || flags === undefined || openRequests.size >= MAX_PENDING) return;
      const mode = flags & 1 && flags & 2 ? "read-write" : flags & 2 ? "write" : "read";
      openRequests.set(id, { path: path.toString("utf8"), mode });
    } else if (type === T.WRITE) {
      const handle = f.bytes();
      if (!handle || !f.skip(8)) return;
      const n = f.lengthOnly();
      const file = files.get(handle.toString("latin1"));
      if (file && n !== undefined) file.bytesWritten += n;
    } else if (type === T.READ) {
      const handle = f.bytes();
      if (handle && reads.size < MAX_PENDING) reads.set(id, handle.toString("latin1"));
    } else if (type === T.CLOSE) {
      const handle = f.bytes();
      if (handle) report(handle.toString("latin1"));
    } else if (type !== undefined && type in PATH_OPS) {
      const paths: string[] = [];
      const first = f.bytes();
      if (first) paths.push(first.toString("utf8"));
      if (type === T.RENAME || type === T.SYMLINK) {
        const second = f.bytes();
        if (second) paths.push(second.toString("utf8"));
      }
      if (paths.length > 0) events.op?.(PATH_OPS[type] as string, paths);
    }
  }, requestWant);

  const responses = new PacketScanner((p) => {
    const type = p[0];
    const f = new Fields(p);
    const id = f.u32();
    if (id === undefined) return;
    if (type === T.HANDLE) {
      const opened = openRequests.get(id);
      openRequests.delete(id);
      const handle = f.bytes();
      if (opened && handle && files.size < MAX_HANDLES)
        files.set(handle.toString("latin1"), { ...opened, bytesRead: 0, bytesWritten: 0 });
    } else if (type === T.DATA) {
      const handle = reads.get(id);
      reads.delete(id);
      const n = f.lengthOnly();
      const file = handle === undefined ? undefined : files.get(handle);
      if (file && n !== undefined) file.bytesRead += n;
    } else if (type === T.STATUS) {
      openRequests.delete(id);
      reads.delete(id);
    }
  }, responseWant);

  return {
    /** Client → server bytes. */
    request: (chunk: Buffer) => requests.push(chunk),
    /** Server → client bytes. */
    response: (chunk: Buffer) => responses.push(chunk),
    /** The stream ended: files still open are reported as they stand. */
    end(): void {
      for (const handle of [...files.keys()]) report(handle);
    },
    get following(): boolean {
      return !requests.dead && !responses.dead;
    },
  };
}
