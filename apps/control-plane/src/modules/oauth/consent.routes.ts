import type { FastifyReply } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { OAuthError } from "../auth/oauth-error";
import type { AuthorizationFlow } from "./authorization";

const publicRoute = { auth: "public" as const, errorFormat: "oauth" as const };
const requestId = z.string().min(1).max(100);

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

/** The consent page: plain HTML, no scripts, never framed. */
export function consentPage(v: {
  clientName: string;
  redirectOrigin: string;
  userName: string;
  request: string;
}) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sluice: allow access?</title></head>
<body>
<h1>Allow ${escapeHtml(v.clientName)} to use Sluice as ${escapeHtml(v.userName)}?</h1>
<p>It will reach the connections you may use, through Sluice's agents, with your policies, masking,
reviews and recording. After you decide, your browser returns to <strong>${escapeHtml(v.redirectOrigin)}</strong>.</p>
<form method="post" action="/oauth/consent">
<input type="hidden" name="request" value="${escapeHtml(v.request)}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</body></html>
`;
}

function guard(reply: FastifyReply): FastifyReply {
  return reply
    .header("cache-control", "no-store")
    .header("x-frame-options", "DENY")
    .header("content-security-policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
    .header("referrer-policy", "no-referrer");
}

/** After signing in, the person allows (or refuses) the MCP client before any code is issued. */
export function consentRoutes(deps: {
  flow: Pick<AuthorizationFlow, "consentView" | "decide">;
}): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/oauth/consent",
      {
        config: publicRoute,
        schema: {
          tags: ["oauth"],
          security: [],
          description: "Asks the signed-in person to allow the MCP client.",
          querystring: z.object({ request: requestId.optional() }),
        },
      },
      async (req, reply) => {
        const view = req.query.request ? await deps.flow.consentView(req.query.request) : undefined;
        if (!view || !req.query.request) {
          return guard(reply)
            .status(400)
            .send(new OAuthError("invalid_request", "unknown or expired request").toJSON());
        }
        return guard(reply)
          .type("text/html; charset=utf-8")
          .send(consentPage({ ...view, request: req.query.request }));
      },
    );

    app.post(
      "/oauth/consent",
      {
        config: publicRoute,
        schema: {
          tags: ["oauth"],
          security: [],
          description: "The person's decision; redirects to the client with a code or access_denied.",
          body: z.object({ request: requestId, decision: z.enum(["allow", "deny"]) }),
        },
      },
      async (req, reply) => {
        try {
          const location = await deps.flow.decide(req.body.request, req.body.decision === "allow");
          return guard(reply).redirect(location, 302);
        } catch (err) {
          if (err instanceof OAuthError) return guard(reply).status(err.status).send(err.toJSON());
          throw err;
        }
      },
    );
  };
}
