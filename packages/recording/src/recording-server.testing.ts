import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  AgentServiceService,
  type RecordedEvent,
  type RecordingAck,
  type RecordingBatch,
} from "@sluice/proto";

/** What a control plane stores: events keyed by (sessionId, seq), kept once however often they arrive. */
export interface RecordingStore {
  events: Map<string, RecordedEvent>;
  deliveries: number;
  contiguous(sessionId: string): number;
  session(sessionId: string): RecordedEvent[];
}

export function createRecordingStore(): RecordingStore {
  const events = new Map<string, RecordedEvent>();
  const highest = new Map<string, number>();
  const store: RecordingStore = {
    events,
    deliveries: 0,
    contiguous(sessionId) {
      let seq = highest.get(sessionId) ?? 0;
      while (events.has(`${sessionId}:${seq + 1}`)) seq++;
      highest.set(sessionId, seq);
      return seq;
    },
    session(sessionId) {
      return [...events.entries()]
        .filter(([key]) => key.startsWith(`${sessionId}:`))
        .map(([, e]) => e)
        .sort((a, b) => a.seq - b.seq);
    },
  };
  return store;
}

export interface RecordingServer {
  port: number;
  server: Server;
}

/**
 * A loopback gRPC server implementing only `UploadRecording`: it stores every event idempotently and acks
 * each batch with the highest contiguous sequence number it holds. `onBatch` runs after a batch is stored.
 */
export async function startRecordingServer(
  store: RecordingStore,
  port = 0,
  onBatch: (batch: RecordingBatch) => void = () => undefined,
): Promise<RecordingServer> {
  const server = new Server();
  const uploadRecording = (call: ServerDuplexStream<RecordingBatch, RecordingAck>) => {
    call.on("data", (batch: RecordingBatch) => {
      for (const event of batch.events) {
        store.deliveries++;
        store.events.set(`${batch.sessionId}:${event.seq}`, event);
      }
      call.write({ sessionId: batch.sessionId, ackedSeq: store.contiguous(batch.sessionId) });
      onBatch(batch);
    });
    call.on("end", () => call.end());
    call.on("error", () => undefined);
  };
  server.addService(AgentServiceService, { uploadRecording });
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    );
  });
  return { port: bound, server };
}
