-- Sessions whose client gave up, or whose grant expired before any agent saw them.
ALTER TYPE "SessionStatus" ADD VALUE 'aborted';

-- The program that started a session (e.g. an MCP client), kept on the session itself.
ALTER TABLE "sessions" ADD COLUMN "client" JSONB;

-- The sweeper finds pending sessions by grant expiry.
CREATE INDEX "sessions_status_grantExpires_idx" ON "sessions"("status", "grantExpires");

-- Audit entries committed with their change, waiting to be linked into the hash chain.
CREATE TABLE "audit_outbox" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actorId" TEXT,
    "actorKind" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "targetType" TEXT,
    "targetId" TEXT,
    "outcome" TEXT NOT NULL,
    "clientAddress" TEXT,
    "details" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "audit_outbox_pkey" PRIMARY KEY ("id")
);
