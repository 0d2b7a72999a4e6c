-- AlterTable
ALTER TABLE "sessions" ADD COLUMN     "credentialId" TEXT;

-- CreateTable
CREATE TABLE "token_families" (
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "method" TEXT NOT NULL,
    "issuer" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "revokedAt" TIMESTAMP(3),
    "revokeReason" TEXT,

    CONSTRAINT "token_families_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "refresh_tokens" (
    "id" UUID NOT NULL,
    "familyId" UUID NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),

    CONSTRAINT "refresh_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "trusted_issuers" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "issuer" TEXT NOT NULL,
    "jwksUrl" TEXT,
    "audience" TEXT NOT NULL,
    "subjectTemplate" TEXT NOT NULL DEFAULT '{sub}',
    "groupMappings" JSONB NOT NULL DEFAULT '[]',
    "maxTokenLifetime" INTEGER NOT NULL DEFAULT 900,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "trusted_issuers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "used_external_tokens" (
    "id" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "used_external_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "oidc_login_states" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "codeVerifier" TEXT,
    "nonce" TEXT,
    "redirectUri" TEXT,
    "deviceCode" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "oidc_login_states_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idp_group_mappings" (
    "id" UUID NOT NULL,
    "idpGroup" TEXT NOT NULL,
    "groupId" UUID NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idp_group_mappings_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "token_families_userId_idx" ON "token_families"("userId");

-- CreateIndex
CREATE UNIQUE INDEX "refresh_tokens_tokenHash_key" ON "refresh_tokens"("tokenHash");

-- CreateIndex
CREATE INDEX "refresh_tokens_familyId_idx" ON "refresh_tokens"("familyId");

-- CreateIndex
CREATE UNIQUE INDEX "trusted_issuers_name_key" ON "trusted_issuers"("name");

-- CreateIndex
CREATE UNIQUE INDEX "trusted_issuers_issuer_key" ON "trusted_issuers"("issuer");

-- CreateIndex
CREATE INDEX "used_external_tokens_expiresAt_idx" ON "used_external_tokens"("expiresAt");

-- CreateIndex
CREATE INDEX "oidc_login_states_expiresAt_idx" ON "oidc_login_states"("expiresAt");

-- CreateIndex
CREATE UNIQUE INDEX "idp_group_mappings_idpGroup_groupId_key" ON "idp_group_mappings"("idpGroup", "groupId");

-- CreateIndex
CREATE INDEX "sessions_credentialId_idx" ON "sessions"("credentialId");

-- AddForeignKey
ALTER TABLE "token_families" ADD CONSTRAINT "token_families_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "refresh_tokens" ADD CONSTRAINT "refresh_tokens_familyId_fkey" FOREIGN KEY ("familyId") REFERENCES "token_families"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "idp_group_mappings" ADD CONSTRAINT "idp_group_mappings_groupId_fkey" FOREIGN KEY ("groupId") REFERENCES "groups"("id") ON DELETE CASCADE ON UPDATE CASCADE;
