import { type ApiClient, createApiClient } from "@sluice/client";
import type { InjectOptions, LightMyRequestResponse } from "fastify";

export type Inject = (opts: InjectOptions) => Promise<LightMyRequestResponse>;

function plainHeaders(headers: RequestInit["headers"]): Record<string, string> {
  return Object.fromEntries(new Headers(headers).entries());
}

/**
 * A Sluice API client that calls this control plane's own REST API in process, with the
 * caller's credential: every call is authenticated and authorized as that identity, exactly
 * as if the caller had made it, and recorded with the caller's address.
 */
export function injectedApiClient(inject: Inject, credential: string, clientAddress: string): ApiClient {
  const fetchInProcess: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const res = await inject({
      method: (init?.method ?? "GET") as InjectOptions["method"],
      url: `${url.pathname}${url.search}`,
      headers: plainHeaders(init?.headers),
      ...(typeof init?.body === "string" ? { payload: init.body } : {}),
      remoteAddress: clientAddress,
    });
    const headers = new Headers();
    for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.set(k, v);
    const empty = res.statusCode === 204 || res.body === "";
    return new Response(empty ? null : res.body, { status: res.statusCode, headers });
  };
  return createApiClient({
    url: "http://control-plane.internal",
    apiKey: credential,
    fetch: fetchInProcess,
    userAgent: "sluice-mcp-remote",
  });
}
