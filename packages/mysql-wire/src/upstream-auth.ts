import { cachingSha2Scramble, ed25519Sign, nativePasswordScramble, rsaEncryptPassword } from "./auth-plugins";
import { ProtocolError } from "./errors";

/** What an auth plugin answers, or asks the loop to do next. */
export interface AuthContext {
  password: string;
  tls: boolean;
  /** PEM of the server's RSA key for caching_sha2_password full auth without TLS. */
  serverPublicKey?: string | Buffer;
  /** Ask the server for its RSA key (0x02) when none is configured. Default false. */
  allowPublicKeyRetrieval?: boolean;
  /** Send mysql_clear_password without TLS. Default false. */
  allowCleartextWithoutTls?: boolean;
}

export const SUPPORTED_AUTH_PLUGINS = [
  "mysql_native_password",
  "caching_sha2_password",
  "client_ed25519",
  "mysql_clear_password",
] as const;

/** The first auth response a plugin sends for the server's nonce. */
export function initialAuthResponse(plugin: string, nonce: Buffer, ctx: AuthContext): Buffer {
  switch (plugin) {
    case "mysql_native_password":
      return nativePasswordScramble(ctx.password, nonce);
    case "caching_sha2_password":
      return cachingSha2Scramble(ctx.password, nonce);
    case "client_ed25519":
      return ed25519Sign(ctx.password, nonce.subarray(0, 32));
    case "mysql_clear_password":
      if (!ctx.tls && !ctx.allowCleartextWithoutTls) {
        throw new ProtocolError(
          "tls_required",
          "server asked for mysql_clear_password on a connection without TLS",
        );
      }
      return Buffer.from(`${ctx.password}\0`, "utf8");
    default:
      throw new ProtocolError("unsupported", `unsupported authentication plugin ${plugin.slice(0, 64)}`);
  }
}

/**
 * caching_sha2_password AuthMoreData handling. Returns the bytes to send, or undefined
 * when nothing is to be sent (fast auth succeeded: the OK packet follows).
 */
export function cachingSha2MoreData(
  data: Buffer,
  nonce: Buffer,
  ctx: AuthContext,
  state: { awaitingKey: boolean },
): Buffer | undefined {
  if (state.awaitingKey) {
    state.awaitingKey = false;
    return rsaEncryptPassword(ctx.password, nonce, data);
  }
  if (data.length === 1 && data[0] === 0x03) return undefined;
  if (data.length === 1 && data[0] === 0x04) {
    if (ctx.tls) return Buffer.from(`${ctx.password}\0`, "utf8");
    if (ctx.serverPublicKey) return rsaEncryptPassword(ctx.password, nonce, ctx.serverPublicKey);
    if (ctx.allowPublicKeyRetrieval) {
      state.awaitingKey = true;
      return Buffer.from([0x02]);
    }
    throw new ProtocolError(
      "tls_required",
      "caching_sha2_password full authentication needs TLS, a configured server public key, or public key retrieval",
    );
  }
  throw new ProtocolError("unexpected_packet", "unexpected caching_sha2_password data from the server");
}
