import { randomBytes, randomInt, timingSafeEqual } from "node:crypto";
import type { BackendKeyData } from "@sluice/pg-wire";
import { frontend } from "@sluice/pg-wire";
import { dialUpstream, type UpstreamAddress } from "./upstream-connect";

interface CancelEntry {
  secretKey: Buffer;
  upstream: UpstreamAddress;
  backend: BackendKeyData;
}

export interface CancelRegistration {
  /** The synthetic key the client gets in BackendKeyData. */
  key: BackendKeyData;
  release(): void;
}

/**
 * Maps the synthetic BackendKeyData the proxy hands to clients to the real backend
 * key of the upstream session, so a CancelRequest arriving on a new client connection
 * reaches the right backend. Shared by every connection of a listener.
 */
export class CancelRegistry {
  private readonly entries = new Map<number, CancelEntry>();

  register(upstream: UpstreamAddress, backend: BackendKeyData): CancelRegistration {
    let processId = randomInt(1, 0x7fffffff);
    while (this.entries.has(processId)) processId = randomInt(1, 0x7fffffff);
    const secretKey = randomBytes(4);
    this.entries.set(processId, { secretKey, upstream, backend });
    return {
      key: { processId, secretKey },
      release: () => {
        if (this.entries.get(processId)?.secretKey === secretKey) this.entries.delete(processId);
      },
    };
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Forwards a cancel for a known synthetic key to the upstream backend. Unknown keys
   * are ignored (false), like PostgreSQL does. Never throws.
   */
  async cancel(processId: number, secretKey: Buffer, timeoutMs = 5_000): Promise<boolean> {
    const entry = this.entries.get(processId);
    if (
      !entry ||
      entry.secretKey.length !== secretKey.length ||
      !timingSafeEqual(entry.secretKey, secretKey)
    ) {
      return false;
    }
    try {
      const socket = await dialUpstream(entry.upstream, timeoutMs);
      socket.end(frontend.cancelRequest(entry.backend.processId, entry.backend.secretKey));
      setTimeout(() => socket.destroy(), timeoutMs).unref();
      socket.once("close", () => socket.destroy());
      return true;
    } catch {
      return false;
    }
  }
}
