import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectionTypeNames, connectionTypeSpec } from "@sluice/connection-types";
import { createLogger } from "@sluice/logger";
import { describe, expect, it } from "vitest";
import { configSchema } from "../config";
import type { SessionBroker } from "../core/broker";
import { createProtocolHandlers } from "./index";

describe("protocol handlers", () => {
  it("serve exactly the connection types of the registry, enforcing what the registry says", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-handlers-"));
    try {
      const config = configSchema.parse({
        SLUICE_AGENT_TOKEN: "x".repeat(32),
        SLUICE_GRPC_INSECURE: "true",
        SLUICE_AGENT_STATE_DIR: dir,
      });
      const { handlers } = createProtocolHandlers({
        config,
        authorizer: { authorize: async () => Promise.reject(new Error("unused")) },
        broker: {} as SessionBroker,
        tls: () => undefined,
        secrets: { resolve: async () => Promise.reject(new Error("unused")) },
        logger: createLogger({ name: "test", level: "silent" }),
      });
      expect(handlers.map((h) => h.type).sort()).toEqual([...connectionTypeNames].sort());
      for (const h of handlers)
        expect([...h.enforces]).toEqual([...(connectionTypeSpec(h.type)?.enforces ?? [])]);
      const endpoints = handlers.flatMap((h) => (h.listener ? [h.listener.endpoint] : []));
      const announced = connectionTypeNames.flatMap((t) => {
        const endpoint = connectionTypeSpec(t)?.hints.nativeEndpoint;
        return endpoint ? [endpoint] : [];
      });
      expect(endpoints.sort()).toEqual(announced.sort());
      expect(endpoints).toContain("http");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
