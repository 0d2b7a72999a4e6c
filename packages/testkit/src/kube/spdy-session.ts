/**
 * The server end of a SPDY/3.1 connection as Kubernetes streaming uses it: the client opens
 * every stream (SYN_STREAM with a `streamtype` header), the server accepts each at once
 * (SYN_REPLY), and both sides half-close with FIN. Flow-control windows are not enforced, as
 * the Go implementation kubectl uses does not enforce them either.
 */
import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from "node:zlib";
import {
  controlFrame,
  createFrameReader,
  dataFrame,
  decodeHeaderBlock,
  encodeHeaderBlock,
  FLAG_FIN,
  FrameType,
  HEADER_DICTIONARY,
  uint32s,
} from "./spdy-frames";

/** Largest piece of stream data sent in one frame. */
const MAX_DATA_CHUNK = 32 * 1024;

/** Streams a client may hold open on one connection (kubectl uses at most five per exec). */
const MAX_STREAMS = 1000;

export interface SpdyStream extends EventEmitter {
  id: number;
  headers: Record<string, string>;
  write(data: Buffer | string): void;
  /** Half-closes our side (FIN). */
  end(): void;
}

/** Runs zlib over one header block at a time, keeping the shared context between blocks. */
function blockCodec(stream: Inflate | Deflate) {
  const out: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => out.push(chunk));
  stream.on("error", () => {});
  return (block: Buffer) =>
    new Promise<Buffer>((resolve) => {
      stream.write(block);
      stream.flush(constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(out.splice(0))));
    });
}

export function serveSpdy(socket: Duplex, onStream: (stream: SpdyStream) => void) {
  const reader = createFrameReader();
  const inflate = blockCodec(createInflate({ dictionary: HEADER_DICTIONARY }));
  const deflate = blockCodec(createDeflate({ dictionary: HEADER_DICTIONARY }));
  const streams = new Map<number, SpdyStream & { finSent: boolean }>();
  const events = new EventEmitter();
  let incoming = Promise.resolve();
  let outgoing = Promise.resolve();
  let closed = false;

  // Frames leave in the order they were queued, even when a header block waits for zlib.
  const send = (make: () => Buffer | Promise<Buffer>) => {
    outgoing = outgoing
      .then(async () => {
        const bytes = await make();
        if (!closed && !socket.destroyed) socket.write(bytes);
      })
      .catch(() => {});
  };

  const close = () => {
    if (closed) return;
    closed = true;
    for (const stream of streams.values()) stream.emit("close");
    streams.clear();
    socket.destroy();
    events.emit("close");
  };

  function openStream(id: number, headers: Record<string, string>) {
    const stream = Object.assign(new EventEmitter(), {
      id,
      headers,
      finSent: false,
      write(data: Buffer | string) {
        const bytes = typeof data === "string" ? Buffer.from(data) : data;
        for (let i = 0; i < bytes.length; i += MAX_DATA_CHUNK) {
          const piece = bytes.subarray(i, i + MAX_DATA_CHUNK);
          send(() => dataFrame(id, 0, piece));
        }
      },
      end() {
        if (stream.finSent) return;
        stream.finSent = true;
        send(() => dataFrame(id, FLAG_FIN, Buffer.alloc(0)));
      },
    });
    streams.set(id, stream);
    return stream;
  }

  async function handleControl(type: number, flags: number, data: Buffer) {
    if (type === FrameType.SynStream) {
      const id = data.readUInt32BE(0) & 0x7fffffff;
      const headers = decodeHeaderBlock(await inflate(data.subarray(10)));
      if (streams.size >= MAX_STREAMS) {
        send(() => controlFrame(FrameType.RstStream, 0, uint32s(id, 7)));
        return;
      }
      const stream = openStream(id, headers);
      send(async () =>
        controlFrame(
          FrameType.SynReply,
          0,
          Buffer.concat([uint32s(id), await deflate(encodeHeaderBlock({}))]),
        ),
      );
      onStream(stream);
      if (flags & FLAG_FIN) stream.emit("end");
    } else if (type === FrameType.Headers) {
      // Decompressed only to keep the shared zlib context in step; Kubernetes sends none after SYN_STREAM.
      await inflate(data.subarray(4));
    } else if (type === FrameType.RstStream) {
      const id = data.readUInt32BE(0) & 0x7fffffff;
      streams.get(id)?.emit("end");
      streams.get(id)?.emit("close");
      streams.delete(id);
    } else if (type === FrameType.Ping) {
      send(() => controlFrame(FrameType.Ping, 0, data.subarray(0, 4)));
    } else if (type === FrameType.GoAway) {
      close();
    }
    // SETTINGS and WINDOW_UPDATE carry nothing this server acts on.
  }

  socket.on("data", (chunk: Buffer) => {
    let frames: ReturnType<typeof reader.push>;
    try {
      frames = reader.push(chunk);
    } catch {
      close();
      return;
    }
    for (const frame of frames) {
      incoming = incoming
        .then(async () => {
          if (frame.control) {
            await handleControl(frame.type, frame.flags, frame.data);
            return;
          }
          const stream = streams.get(frame.streamId);
          if (!stream) return;
          if (frame.data.length) stream.emit("data", frame.data);
          if (frame.flags & FLAG_FIN) stream.emit("end");
        })
        .catch(() => close());
    }
  });
  socket.on("close", close);
  socket.on("error", close);

  return {
    /** Says goodbye (GOAWAY) once queued frames are out, then closes the connection. */
    goAway() {
      send(() => controlFrame(FrameType.GoAway, 0, uint32s(0, 0)));
      outgoing = outgoing.then(() => {
        setTimeout(close, 100);
      });
    },
    close,
    onClose(fn: () => void) {
      events.once("close", fn);
    },
  };
}

export type SpdyServer = ReturnType<typeof serveSpdy>;
