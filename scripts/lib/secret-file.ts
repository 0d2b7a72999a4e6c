import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Reads the secret kept in `path`, creating it with `make()` on first use. The file is
 * always left readable by its owner only (0600), also when it already existed.
 */
export function secretFile(path: string, make: () => string): string {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, `${make()}\n`, { mode: 0o600, flag: "wx" });
  }
  chmodSync(path, 0o600);
  const secret = readFileSync(path, "utf8").trim();
  if (!secret) throw new Error(`${path} is empty: delete it to have a new secret generated`);
  return secret;
}

/** A random password that needs no quoting in a URL, a connection string or SQL. */
export function generatePassword(): string {
  return randomBytes(24).toString("hex");
}
