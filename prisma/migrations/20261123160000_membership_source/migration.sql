-- Memberships from the identity provider are re-synced at login; an admin's stay.
CREATE TYPE "MembershipSource" AS ENUM ('manual', 'idp');

ALTER TABLE "group_memberships" ADD COLUMN "source" "MembershipSource" NOT NULL DEFAULT 'manual';

-- Until now every login replaced a federated identity's groups with the IdP's, so what such
-- an identity holds today came from the IdP.
UPDATE "group_memberships" SET "source" = 'idp'
WHERE "userId" IN (SELECT "id" FROM "users" WHERE "oidcSubject" IS NOT NULL);
