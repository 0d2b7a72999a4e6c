import { readFileSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import { createDb, type PrismaClient } from "@sluice/db";
import { AgentServiceClient } from "@sluice/proto";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";

/** A control plane whose review sweeper runs every 100 ms, a gRPC client and a database handle. */
export interface ReviewsFixture {
  cp: TestControlPlane;
  grpc: AgentServiceClient;
  /** Direct database access, to move review clocks into the past. */
  db: PrismaClient;
  stop(): Promise<void>;
}

export async function startReviewsFixture(): Promise<ReviewsFixture> {
  const cp = await startTestControlPlane({ SLUICE_REVIEW_SWEEP_INTERVAL_MS: "100" });
  const grpc = new AgentServiceClient(cp.grpcTarget, credentials.createSsl(readFileSync(cp.pki.caFile)));
  const db = createDb(cp.db.url);
  return {
    cp,
    grpc,
    db: db.prisma,
    async stop() {
      grpc.close();
      await db.close();
      await cp.stop();
    },
  };
}

export {
  agentMetadata,
  createAppDb,
  createGroups,
  createUser,
  endedSessions,
  linkAgent,
  type TestLink,
  type TestUser,
  unary,
} from "../../testing/fixtures.testing";

export const hour = 3600;
