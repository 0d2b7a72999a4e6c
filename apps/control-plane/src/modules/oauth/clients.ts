import { createHmac, timingSafeEqual } from "node:crypto";
import { OAuthError } from "../auth/oauth-error";

/** A client registered for the authorization-code flow (RFC 7591): a name and its redirect URIs. */
export interface RegisteredClient {
  clientId: string;
  name: string;
  redirectUris: string[];
}

export const CLIENT_ID_PREFIX = "mcpc_";
const MAX_REDIRECT_URIS = 5;
const MAX_URI_LENGTH = 500;
const MAX_NAME_LENGTH = 100;
export const MAX_CLIENT_ID_LENGTH = 4096;

/** https anywhere, or http on a loopback address (RFC 8252 native apps); never a fragment. */
export function acceptableRedirectUri(value: string): boolean {
  if (value.length > MAX_URI_LENGTH) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.hash || url.username || url.password) return false;
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname);
}

/**
 * Registered clients are not stored: the client id carries the registration (name and
 * redirect URIs) with a MAC keyed from the master key, so registering needs no database
 * write and a forged or altered client id is refused. Every client is public (PKCE).
 */
export function createClientRegistry(masterKey: Buffer) {
  const macKey = createHmac("sha256", masterKey).update("sluice oauth client ids").digest();
  const mac = (payload: string) =>
    createHmac("sha256", macKey).update(payload).digest().subarray(0, 18).toString("base64url");

  return {
    register(input: { redirectUris: unknown; name: unknown }): RegisteredClient {
      const uris = input.redirectUris;
      if (!Array.isArray(uris) || uris.length === 0 || uris.length > MAX_REDIRECT_URIS) {
        throw new OAuthError(
          "invalid_redirect_uri",
          `redirect_uris must list 1 to ${MAX_REDIRECT_URIS} URIs`,
        );
      }
      for (const uri of uris) {
        if (typeof uri !== "string" || !acceptableRedirectUri(uri)) {
          throw new OAuthError(
            "invalid_redirect_uri",
            "each redirect URI must be https, or http on a loopback address",
          );
        }
      }
      const name =
        typeof input.name === "string" && input.name.trim()
          ? input.name.trim().slice(0, MAX_NAME_LENGTH)
          : "";
      const payload = Buffer.from(JSON.stringify({ n: name, r: uris })).toString("base64url");
      return {
        clientId: `${CLIENT_ID_PREFIX}${payload}.${mac(payload)}`,
        name,
        redirectUris: uris as string[],
      };
    },

    /** The registration a client id carries, or undefined when it is not one this control plane issued. */
    lookup(clientId: string): RegisteredClient | undefined {
      if (clientId.length > MAX_CLIENT_ID_LENGTH || !clientId.startsWith(CLIENT_ID_PREFIX)) return undefined;
      const [payload, tag, extra] = clientId.slice(CLIENT_ID_PREFIX.length).split(".");
      if (!payload || !tag || extra !== undefined) return undefined;
      const want = Buffer.from(mac(payload));
      const got = Buffer.from(tag);
      if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
      try {
        const doc = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as {
          n: string;
          r: string[];
        };
        return { clientId, name: doc.n, redirectUris: doc.r };
      } catch {
        return undefined;
      }
    },
  };
}

export type ClientRegistry = ReturnType<typeof createClientRegistry>;
