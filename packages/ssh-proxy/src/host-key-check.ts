import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fingerprint } from "./host-key";

/** Remembers the first host key seen per target (trust on first use). */
export interface KnownHostsStore {
  get(id: string): string | undefined;
  set(id: string, fingerprint: string): void;
}

/** A JSON file of `{ [target]: "SHA256:…" }`, written atomically. */
export function createKnownHostsFile(file: string): KnownHostsStore {
  const read = (): Record<string, string> => {
    if (!existsSync(file)) return {};
    try {
      return JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
    } catch {
      return {};
    }
  };
  return {
    get: (id) => read()[id],
    set(id, fp) {
      const all = { ...read(), [id]: fp };
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(`${file}.tmp`, JSON.stringify(all, null, 2), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    },
  };
}

export interface HostKeyCheckOptions {
  /** `SHA256:…`; when set, only this key is accepted. */
  pinned?: string;
  /** Without a pin: remember the first key under `id` and require it afterwards. */
  tofu?: { store: KnownHostsStore; id: string };
}

export interface HostKeyCheck {
  verify(key: Buffer): boolean;
  /** Why the last `verify` refused, for the user. */
  failure(): string | undefined;
}

export function createHostKeyCheck(o: HostKeyCheckOptions): HostKeyCheck {
  let failure: string | undefined;
  return {
    failure: () => failure,
    verify(key) {
      const seen = fingerprint(key);
      if (o.pinned) {
        if (seen === o.pinned.trim()) return true;
        failure = `the target's host key ${seen} does not match the pinned ${o.pinned.trim()}`;
        return false;
      }
      if (o.tofu) {
        const known = o.tofu.store.get(o.tofu.id);
        if (!known) {
          o.tofu.store.set(o.tofu.id, seen);
          return true;
        }
        if (known === seen) return true;
        failure = `the target's host key changed: first seen ${known}, now ${seen}`;
        return false;
      }
      failure = "the connection pins no host key and does not allow trust on first use";
      return false;
    },
  };
}
