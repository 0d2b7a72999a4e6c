import { randomBytes } from "node:crypto";
import * as oidc from "openid-client";
import type { Db } from "../../lib/db";
import type { Mutate } from "../../lib/mutate";
import { invalidGrant, OAuthError } from "../auth/oauth-error";
import type { LoginMethod, TokenResponse, TokensService } from "../auth/tokens.service";
import { syncPerson } from "./provisioning";

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string | undefined;
  scopes: string;
  groupsClaim: string;
  adminGroups: string[];
  auditorGroups: string[];
  /** Plain-http issuers (a loopback test IdP only). */
  allowInsecure: boolean;
}

const STATE_TTL_MS = 10 * 60_000;
const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

export type OidcLoginService = ReturnType<typeof createOidcLoginService>;

const notConfigured = () =>
  new OAuthError("temporarily_unavailable", "OIDC login is not configured (set SLUICE_OIDC_ISSUER)", 503);

/**
 * Logs people in through the organisation's IdP: authorization code + PKCE (the PKCE
 * verifier stays here, keyed by state) and the device flow. The IdP's tokens are only
 * read for identity claims; the caller gets Sluice tokens.
 */
export function createOidcLoginService(deps: {
  prisma: Db;
  mutate: Mutate;
  tokens: Pick<TokensService, "issue">;
  settings: OidcSettings | undefined;
}) {
  const { prisma, settings } = deps;
  let discovered: Promise<oidc.Configuration> | undefined;

  function config(): Promise<oidc.Configuration> {
    if (!settings) throw notConfigured();
    discovered ??= oidc
      .discovery(
        new URL(settings.issuer),
        settings.clientId,
        settings.clientSecret,
        settings.clientSecret ? undefined : oidc.None(),
        settings.allowInsecure ? { execute: [oidc.allowInsecureRequests], timeout: 10 } : { timeout: 10 },
      )
      .catch((err: unknown) => {
        discovered = undefined;
        throw new OAuthError("temporarily_unavailable", "cannot reach the identity provider", 503, {
          cause: err,
        });
      });
    return discovered;
  }

  function roleFor(groups: string[]): "admin" | "auditor" | "user" | undefined {
    if (!settings || settings.adminGroups.length + settings.auditorGroups.length === 0) return undefined;
    if (groups.some((g) => settings.adminGroups.includes(g))) return "admin";
    if (groups.some((g) => settings.auditorGroups.includes(g))) return "auditor";
    return "user";
  }

  /** The Sluice user the IdP's claims name, provisioned or updated; refused when disabled. */
  async function person(claims: oidc.IDToken | undefined, clientAddress: string | null) {
    if (!claims || !settings) throw invalidGrant("the identity provider returned no ID token");
    const raw = claims[settings.groupsClaim];
    const groups = (Array.isArray(raw) ? raw : typeof raw === "string" ? [raw] : [])
      .filter((g): g is string => typeof g === "string")
      .slice(0, 200);
    const str = (v: unknown) => (typeof v === "string" && v.length > 0 ? v.slice(0, 200) : undefined);
    const email = str(claims.email) ?? null;
    const user = await syncPerson(deps, {
      issuer: claims.iss,
      subject: claims.sub,
      name: str(claims.name) ?? str(claims.preferred_username) ?? email ?? claims.sub,
      email,
      idpGroups: groups,
      role: roleFor(groups),
      clientAddress,
    });
    if (user.disabled) {
      await deps.mutate({ principal: null, id: user.id, kind: "user", clientAddress }, ({ audit }) =>
        audit({ action: "auth.login", outcome: "denied", targetType: "user", targetId: user.id }),
      );
      throw new OAuthError("access_denied", "this user is disabled in Sluice");
    }
    return { userId: user.id, issuer: claims.iss, groups };
  }

  async function login(
    claims: oidc.IDToken | undefined,
    method: LoginMethod,
    clientAddress: string | null,
  ): Promise<TokenResponse> {
    const { userId, issuer, groups } = await person(claims, clientAddress);
    return deps.tokens.issue(
      { principal: null, id: userId, kind: "user", clientAddress },
      { userId, method, issuer, refresh: true, action: "auth.login", details: { groups } },
    );
  }

  /** Completes the IdP's authorization-code step: the verified ID token's claims. */
  async function codeClaims(input: { code: string; state: string; iss?: string }) {
    const cfg = await config();
    const row = await takeState(input.state, "code");
    await prisma.oidcLoginState.deleteMany({ where: { id: row.id } });
    const current = new URL(row.redirectUri ?? "");
    current.search = "";
    current.searchParams.set("code", input.code);
    current.searchParams.set("state", input.state);
    if (input.iss) current.searchParams.set("iss", input.iss);
    const result = await oidc
      .authorizationCodeGrant(cfg, current, {
        pkceCodeVerifier: row.codeVerifier ?? "",
        expectedState: input.state,
        expectedNonce: row.nonce ?? undefined,
        idTokenExpected: true,
      })
      .catch(providerError);
    return result.claims();
  }

  async function takeState(id: string, kind: "code" | "device") {
    const row = await prisma.oidcLoginState.findUnique({ where: { id } });
    if (!row || row.kind !== kind || row.expiresAt <= new Date()) {
      if (row) await prisma.oidcLoginState.deleteMany({ where: { id } });
      throw invalidGrant(
        kind === "code" ? "unknown or expired login state; start again" : "unknown or expired device code",
      );
    }
    return row;
  }

  function providerError(err: unknown): never {
    if (err instanceof OAuthError) throw err;
    if (err instanceof oidc.ResponseBodyError) {
      const known = ["authorization_pending", "slow_down", "expired_token", "access_denied"] as const;
      const code = known.find((k) => k === err.error);
      if (code) throw new OAuthError(code, err.error_description ?? code);
      throw invalidGrant(`the identity provider refused: ${err.error}`);
    }
    throw invalidGrant("the identity provider's answer could not be verified");
  }

  return {
    configured: settings !== undefined,

    async start(redirectUri: string) {
      const cfg = await config();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const verifier = oidc.randomPKCECodeVerifier();
      await prisma.oidcLoginState.deleteMany({ where: { expiresAt: { lt: new Date() } } });
      await prisma.oidcLoginState.create({
        data: {
          id: state,
          kind: "code",
          codeVerifier: verifier,
          nonce,
          redirectUri,
          expiresAt: new Date(Date.now() + STATE_TTL_MS),
        },
      });
      const url = oidc.buildAuthorizationUrl(cfg, {
        redirect_uri: redirectUri,
        scope: settings?.scopes ?? "openid",
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: "S256",
        state,
        nonce,
      });
      return { authorizationUrl: url.href, state, expiresIn: STATE_TTL_MS / 1000 };
    },

    async callback(
      input: { code: string; state: string; iss?: string },
      clientAddress: string | null,
    ): Promise<TokenResponse> {
      return login(await codeClaims(input), "oidc", clientAddress);
    },

    /** Like `callback`, but only names the person who signed in; the caller issues what it needs. */
    async callbackPerson(input: { code: string; state: string; iss?: string }, clientAddress: string | null) {
      return person(await codeClaims(input), clientAddress);
    },

    async startDevice() {
      const cfg = await config();
      const res = await oidc
        .initiateDeviceAuthorization(cfg, { scope: settings?.scopes ?? "openid" })
        .catch(providerError);
      const handle = `sld_${randomBytes(24).toString("base64url")}`;
      await prisma.oidcLoginState.create({
        data: {
          id: handle,
          kind: "device",
          deviceCode: res.device_code,
          expiresAt: new Date(Date.now() + res.expires_in * 1000),
        },
      });
      return {
        device_code: handle,
        user_code: res.user_code,
        verification_uri: res.verification_uri,
        verification_uri_complete: res.verification_uri_complete,
        expires_in: res.expires_in,
        interval: res.interval ?? 5,
      };
    },

    async pollDevice(handle: string, clientAddress: string | null): Promise<TokenResponse> {
      const cfg = await config();
      const row = await takeState(handle, "device");
      const result = await oidc
        .genericGrantRequest(cfg, DEVICE_GRANT, { device_code: row.deviceCode ?? "" })
        .catch(providerError);
      await prisma.oidcLoginState.deleteMany({ where: { id: row.id } });
      return login(result.claims(), "device", clientAddress);
    },
  };
}
