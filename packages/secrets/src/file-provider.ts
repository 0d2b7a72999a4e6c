import { open } from "node:fs/promises";
import { AppError } from "@sluice/errors";
import type { SecretProvider } from "./resolver";

const MAX_SECRET_FILE = 64 * 1024;

/** Resolves `file:/path` by reading the file (bounded size, one trailing newline removed). */
export function createFileProvider(): SecretProvider {
  return {
    schemes: ["file"],
    async resolve(ref, ctx) {
      const unavailable = (why: string) =>
        new AppError(
          "credential.unresolvable",
          `credential for connection ${ctx.connection} is unavailable: ${why}`,
        );
      let handle: Awaited<ReturnType<typeof open>> | undefined;
      try {
        handle = await open(ref.path, "r");
        const stat = await handle.stat();
        if (!stat.isFile()) throw unavailable(`${ref.path} is not a regular file`);
        if (stat.size > MAX_SECRET_FILE)
          throw unavailable(`${ref.path} is larger than ${MAX_SECRET_FILE} bytes`);
        const text = (await handle.readFile("utf8")).replace(/\r?\n$/, "");
        if (text === "") throw unavailable(`${ref.path} is empty`);
        return { secret: text };
      } catch (err) {
        if (err instanceof AppError) throw err;
        const code = (err as NodeJS.ErrnoException).code ?? "error";
        throw unavailable(`cannot read ${ref.path} (${code})`);
      } finally {
        await handle?.close();
      }
    },
  };
}
