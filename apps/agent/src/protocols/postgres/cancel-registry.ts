import { randomBytes, randomInt, timingSafeEqual } from "node:crypto";
import type { BackendKeyData } from "@sluice/pg-wire";
import { frontend } from "@sluice/pg-wire";
import { dialUpstream, type UpstreamAddress } from "./upstream-connect";

interface CancelEntry {
  secretKey: Buffer;
  upstream: UpstreamAddress;
  backend: BackendKeyData;
  /** Handles the cancel inside the agent (e.g. withdraws a held statement); true = handled. */
  local?: () => boolean;
}

export interface CancelRegistration {
  /** The synthetic key the client gets in BackendKeyData. */
  key: BackendKeyData;
  release(): void;
  /** Installs a handler that sees cancels first; when it returns true nothing goes upstream. */
  onCancel(local: () => boolean): void;
}

class Registration implements CancelRegistration {
  constructor(
    private readonly entries: Map<number, CancelEntry>,
    readonly key: BackendKeyData,
    private readonly entry: CancelEntry,
  ) {}

  onCancel(local: () => boolean): void {
    this.entry.local = local;
  }

  release(): void {
    const { processId, secretKey } = this.key;
    if (this.entries.get(processId)?.secretKey === secretKey) this.entries.delete(processId);
  }
}

/** A copy that holds no part of the socket chunk it was read from. */
function own(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
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
    const entry: CancelEntry = {
      secretKey,
      upstream,
      backend: { processId: backend.processId, secretKey: own(backend.secretKey) },
    };
    this.entries.set(processId, entry);
    return new Registration(this.entries, { processId, secretKey }, entry);
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
    if (entry.local?.()) return true;
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
