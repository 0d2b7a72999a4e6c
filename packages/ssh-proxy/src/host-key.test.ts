import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { describe, expect, it } from "vitest";
import { loadOrCreateHostKey } from "./host-key";

describe("agent host key", () => {
  it("always stores a key it can read back, so a restarted agent starts", () => {
    // ssh2's generator writes an unreadable key a few times per thousand; 1,500 first
    // starts would hit one almost surely if such a key could be stored.
    const dir = mkdtempSync(join(tmpdir(), "sluice-host-key-"));
    try {
      for (let i = 0; i < 1500; i++) {
        const file = join(dir, `k${i}`);
        const created = loadOrCreateHostKey(file);
        expect(ssh2.utils.parseKey(readFileSync(file, "utf8"))).not.toBeInstanceOf(Error);
        expect(loadOrCreateHostKey(file).fingerprint).toBe(created.fingerprint);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
