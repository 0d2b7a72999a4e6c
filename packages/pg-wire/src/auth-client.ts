import { createHash } from "node:crypto";
import type { AuthenticationMessage } from "./backend-messages";
import { ProtocolError } from "./errors";
import { frontend } from "./frontend-serializer";
import { AuthCode } from "./message-codes";
import { createScramClient, SCRAM_SHA_256, type ScramClient } from "./scram";

export interface AuthClientOptions {
  user: string;
  /** Resolved lazily, only when the server asks for a password. */
  password: () => string | Promise<string>;
  /** Refuse cleartext password requests (e.g. when the link is not encrypted). Default false. */
  refuseCleartext?: boolean;
  /** Fixed SCRAM nonce, for tests. */
  scramNonce?: string;
}

export interface AuthClient {
  /**
   * Handles one Authentication message from the server. Returns the frame to send
   * back, `undefined` when nothing is to be sent, and sets `done` on AuthenticationOk.
   */
  handle(msg: AuthenticationMessage): Promise<Buffer | undefined>;
  readonly done: boolean;
  /** The method the server asked for: "trust", "password", "md5" or "scram-sha-256". */
  readonly method: string;
}

/** md5 password hash as PostgreSQL expects it: "md5" + md5(md5(password + user) + salt). */
export function md5PasswordHash(user: string, password: string, salt: Buffer): string {
  const inner = createHash("md5").update(password).update(user).digest("hex");
  return `md5${createHash("md5").update(inner).update(salt).digest("hex")}`;
}

function unsupported(what: string): never {
  throw new ProtocolError(
    "unsupported",
    `unsupported authentication method requested by the server: ${what}`,
  );
}

/** Client side of the startup authentication exchange: cleartext, MD5 and SCRAM-SHA-256. */
export function createAuthClient(options: AuthClientOptions): AuthClient {
  let scram: ScramClient | undefined;
  let done = false;
  let method = "trust";

  async function handle(msg: AuthenticationMessage): Promise<Buffer | undefined> {
    switch (msg.code) {
      case AuthCode.Ok:
        done = true;
        return undefined;
      case AuthCode.CleartextPassword:
        if (options.refuseCleartext) unsupported("cleartext password over an unencrypted connection");
        method = "password";
        return frontend.password(await options.password());
      case AuthCode.MD5Password:
        method = "md5";
        return frontend.password(
          md5PasswordHash(options.user, await options.password(), msg.salt ?? Buffer.alloc(4)),
        );
      case AuthCode.SASL:
        return startScram(msg.mechanisms ?? []);
      case AuthCode.SASLContinue:
        if (!scram) throw unexpected("SASLContinue");
        return frontend.saslResponse(await scram.clientFinal(dataOf(msg)));
      case AuthCode.SASLFinal:
        if (!scram) throw unexpected("SASLFinal");
        scram.verifyServerFinal(dataOf(msg));
        return undefined;
      default:
        return unsupported(`code ${msg.code}`);
    }
  }

  async function startScram(mechanisms: string[]): Promise<Buffer> {
    if (!mechanisms.includes(SCRAM_SHA_256)) unsupported(`SASL mechanisms ${mechanisms.join(", ")}`);
    method = "scram-sha-256";
    const password = await options.password();
    scram = createScramClient({ password, nonce: options.scramNonce });
    return frontend.saslInitialResponse(SCRAM_SHA_256, scram.clientFirst());
  }

  return {
    handle,
    get done() {
      return done;
    },
    get method() {
      return method;
    },
  };
}

function dataOf(msg: AuthenticationMessage): string {
  return msg.data?.toString("utf8") ?? "";
}

function unexpected(what: string): ProtocolError {
  return new ProtocolError("unexpected_message", `unexpected ${what} before the SASL exchange started`);
}
