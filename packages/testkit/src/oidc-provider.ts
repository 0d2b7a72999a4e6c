import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";
import Provider from "oidc-provider";

export interface TestOidcUser {
  password: string;
  name: string;
  email: string;
  groups: string[];
}

export interface BrowseResult {
  /** The last URL fetched (the relying party's redirect target, or the IdP's final page). */
  url: string;
  status: number;
  text: string;
  /** Where the relying party redirected the browser next, when its answer was a redirect. */
  location?: string;
}

export interface TestOidcProvider {
  /** `http://127.0.0.1:<port>` */
  issuer: string;
  /** Public native client with PKCE, loopback redirects and the device flow. */
  cliClientId: string;
  /** Confidential client for the client-credentials grant (JWT access tokens), like a CI job. */
  ciClientId: string;
  ciClientSecret: string;
  /** The audience of the CI client's JWTs. */
  ciAudience: string;
  users: Record<string, TestOidcUser>;
  jwksUrl: string;
  /** A CI job's OIDC token: client credentials → JWT signed by the provider, with `repository` etc. */
  ciToken(): Promise<string>;
  /** Signs any JWT with the provider's own key (published at its JWKS), for negative tests. */
  mintJwt(
    claims: Record<string, unknown>,
    opts?: { audience?: string; issuer?: string; expiresInSeconds?: number; jti?: string | null },
  ): Promise<string>;
  /** Acts as the browser: follows redirects and submits the provider's login, consent and device forms. */
  browse(url: string, user: string, extra?: Record<string, string>): Promise<BrowseResult>;
  stop(): Promise<void>;
}

export const DEMO_USERS: Record<string, TestOidcUser> = {
  alice: {
    password: "alice-pw",
    name: "Alice Demo",
    email: "alice@example.test",
    groups: ["engineering", "sluice-admins"],
  },
  bob: { password: "bob-pw", name: "Bob Outsider", email: "bob@example.test", groups: ["marketing"] },
};

const CI_RESOURCE = "https://sluice.test/";

function decodeEntities(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, "i").exec(tag);
  return m?.[1] === undefined ? undefined : decodeEntities(m[1]);
}

/** The first form on a page: its action and its named inputs. */
export function parseForm(
  html: string,
): { action: string | undefined; fields: Record<string, string> } | undefined {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const fields: Record<string, string> = {};
  for (const input of (m[2] ?? "").matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(input[0], "name");
    if (name) fields[name] = attr(input[0], "value") ?? "";
  }
  return { action: attr(m[1] ?? "", "action"), fields };
}

/**
 * A real OpenID Connect provider (oidc-provider) on loopback for tests: demo users
 * with groups, a public CLI client (code + PKCE, device flow) and a CI client whose
 * client-credentials tokens are JWTs, like a CI system's workload identity token.
 */
export async function startTestOidcProvider(
  opts: {
    users?: Record<string, TestOidcUser>;
    ciAudience?: string;
    ciClaims?: Record<string, unknown>;
  } = {},
): Promise<TestOidcProvider> {
  const users = opts.users ?? DEMO_USERS;
  const ciAudience = opts.ciAudience ?? "sluice";
  const ciClaims = opts.ciClaims ?? {
    repository: "acme/app",
    ref: "refs/heads/main",
    environment: "production",
  };
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = `test-${randomBytes(4).toString("hex")}`;
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };
  const signingKey = await importJWK(privateJwk, "RS256");
  const ciClientSecret = randomBytes(24).toString("base64url");

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: "sluice-cli",
        client_name: "Sluice",
        application_type: "native",
        token_endpoint_auth_method: "none",
        redirect_uris: ["http://127.0.0.1/callback", "http://127.0.0.1/api/v1/auth/callback"],
        grant_types: ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"],
        response_types: ["code"],
      },
      {
        client_id: "ci-runner",
        client_secret: ciClientSecret,
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
    jwks: { keys: [privateJwk] },
    cookies: { keys: [randomBytes(16).toString("hex")] },
    claims: {
      openid: ["sub"],
      profile: ["name", "preferred_username", "groups"],
      email: ["email", "email_verified"],
    },
    conformIdTokenClaims: false,
    ttl: {
      AccessToken: 600,
      ClientCredentials: 300,
      DeviceCode: 600,
      Grant: 3600,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
    },
    pkce: { required: () => true },
    async findAccount(_ctx, id) {
      const user = users[id];
      if (!user) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            name: user.name,
            preferred_username: id,
            email: user.email,
            email_verified: true,
            groups: user.groups,
          };
        },
      };
    },
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => CI_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: "ci",
          audience: ciAudience,
          accessTokenFormat: "jwt",
          accessTokenTTL: 300,
          jwt: { sign: { alg: "RS256" } },
        }),
      },
    },
    async extraTokenClaims(_ctx, token) {
      return token.kind === "ClientCredentials" ? ciClaims : undefined;
    },
  });
  const callback = provider.callback();
  handler = (req, res) => void callback(req, res);

  async function browse(
    start: string,
    user: string,
    extra: Record<string, string> = {},
  ): Promise<BrowseResult> {
    const account = users[user];
    const jar = new Map<string, string>();
    let url = start;
    let body: string | undefined;
    for (let step = 0; step < 25; step++) {
      const ours = new URL(url).origin === issuer;
      const headers: Record<string, string> = {};
      if (ours && jar.size > 0) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
      if (body !== undefined) headers["content-type"] = "application/x-www-form-urlencoded";
      if (!ours) {
        const res = await fetch(url, { redirect: "manual" }).catch(() => undefined);
        const location = res?.headers.get("location") ?? undefined;
        return {
          url,
          status: res?.status ?? 0,
          text: (await res?.text()) ?? "",
          ...(location ? { location: new URL(location, url).href } : {}),
        };
      }
      const res = await fetch(url, {
        method: body === undefined ? "GET" : "POST",
        body,
        headers,
        redirect: "manual",
      });
      const text = await res.text();
      for (const cookie of res.headers.getSetCookie()) {
        const [pair = ""] = cookie.split(";");
        const i = pair.indexOf("=");
        const name = pair.slice(0, i).trim();
        if (/expires=Thu, 01 Jan 1970/i.test(cookie) || /max-age=0/i.test(cookie)) jar.delete(name);
        else jar.set(name, pair.slice(i + 1));
      }
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) {
        url = new URL(location, url).href;
        body = undefined;
        continue;
      }
      const form = res.status < 400 ? parseForm(text) : undefined;
      if (!form) return { url, status: res.status, text };
      const fields = { ...form.fields };
      if ("login" in fields) fields.login = user;
      if ("password" in fields) fields.password = account?.password ?? "";
      for (const [k, v] of Object.entries(extra)) if (k in fields && !fields[k]) fields[k] = v;
      url = new URL(form.action ?? url, url).href;
      body = new URLSearchParams(fields).toString();
    }
    throw new Error(`test IdP: too many steps browsing from ${start}`);
  }

  return {
    issuer,
    cliClientId: "sluice-cli",
    ciClientId: "ci-runner",
    ciClientSecret,
    ciAudience,
    users,
    jwksUrl: `${issuer}/jwks`,
    async ciToken() {
      const res = await fetch(`${issuer}/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: "ci-runner",
          client_secret: ciClientSecret,
          scope: "ci",
          resource: CI_RESOURCE,
        }).toString(),
      });
      const json = (await res.json()) as {
        access_token?: string;
        error?: string;
        error_description?: string;
      };
      if (!json.access_token) throw new Error(`test IdP: ${json.error}: ${json.error_description}`);
      return json.access_token;
    },
    async mintJwt(claims, o = {}) {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT({ ...claims })
        .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
        .setIssuer(o.issuer ?? issuer)
        .setAudience(o.audience ?? ciAudience)
        .setIssuedAt(now)
        .setExpirationTime(now + (o.expiresInSeconds ?? 300));
      if (o.jti !== null) jwt.setJti(o.jti ?? randomBytes(12).toString("base64url"));
      return jwt.sign(signingKey);
    },
    browse,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
