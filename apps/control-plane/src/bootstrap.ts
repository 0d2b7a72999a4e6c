import { writeFileSync } from "node:fs";
import type { Db } from "./lib/db";
import type { AuditService } from "./modules/audit/audit.service";
import { generateApiKey } from "./modules/auth/api-key";

/**
 * On first start (no admin exists), creates the `admin` user and one API key. The
 * key is returned once so the caller can print it or write it to a 0600 file.
 */
export async function bootstrapAdmin(deps: {
  prisma: Db;
  audit: Pick<AuditService, "appendIn" | "settle">;
}): Promise<string | undefined> {
  const plaintext = await deps.prisma.$transaction(async (tx) => {
    await tx.$executeRawUnsafe("SELECT pg_advisory_xact_lock(7313002)");
    if ((await tx.user.count({ where: { role: "admin" } })) > 0) return undefined;
    const key = generateApiKey();
    const user = await tx.user.create({
      data: {
        name: "admin",
        role: "admin",
        kind: "human",
        apiKeys: { create: { name: "bootstrap", prefix: key.prefix, secretHash: key.secretHash } },
      },
    });
    await deps.audit.appendIn(tx, {
      actorKind: "system",
      action: "user.bootstrap_admin",
      targetType: "user",
      targetId: user.id,
      outcome: "success",
    });
    return key.plaintext;
  });
  await deps.audit.settle();
  return plaintext;
}

export function writeSecretFile(path: string, value: string): void {
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
}
