import { AppError, toAppError } from "@sluice/errors";
import type { FastifyError, FastifyInstance } from "fastify";
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from "fastify-type-provider-zod";

interface Issue {
  path: string;
  message: string;
}

function validationIssues(err: FastifyError): Issue[] {
  if (!hasZodFastifySchemaValidationErrors(err)) return [];
  return err.validation.map((v) => ({
    path: [err.validationContext, ...(v.instancePath ? v.instancePath.split("/").filter(Boolean) : [])].join(
      ".",
    ),
    message: v.message ?? "invalid",
  }));
}

/** Maps every failure to `{ error: { code, message, details? } }` without internals. */
export function toHttpError(err: FastifyError | Error): AppError {
  const fe = err as FastifyError;
  if (hasZodFastifySchemaValidationErrors(fe)) {
    const issues = validationIssues(fe);
    const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
    return new AppError("request.invalid", `invalid request: ${summary}`.slice(0, 1000), {
      details: { issues },
    });
  }
  if (err instanceof AppError) return err;
  switch (fe.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new AppError("request.too_large", "request body is too large");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new AppError("request.invalid", "unsupported content type: send application/json");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new AppError("request.invalid", "request body is empty: send a JSON object");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new AppError("request.invalid", "request body is not valid JSON");
  }
  if (fe.statusCode === 429) return new AppError("request.rate_limited", "too many requests, slow down");
  if (fe instanceof SyntaxError || fe.statusCode === 400) {
    return new AppError("request.invalid", "malformed request");
  }
  if (fe.statusCode === 413) return new AppError("request.too_large", "request is too large");
  return toAppError(err);
}

/** RFC 6749 §5.2 error codes for the statuses an OAuth endpoint answers with. */
function oauthBody(err: AppError, status: number): { error: string; error_description: string } {
  const error =
    status === 401
      ? "invalid_client"
      : status === 429
        ? "slow_down"
        : status >= 500
          ? "temporarily_unavailable"
          : "invalid_request";
  return { error, error_description: err.message };
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const appErr = toHttpError(err);
    const status = appErr.mapping.http;
    if (status >= 500 || isResponseSerializationError(err)) {
      req.log.error({ err, code: appErr.code }, "request failed");
    } else {
      req.log.info({ code: appErr.code, status }, "request rejected");
    }
    const body =
      req.routeOptions.config?.errorFormat === "oauth"
        ? oauthBody(appErr, status)
        : { error: appErr.toJSON() };
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      error: { code: "request.not_found", message: `no route for ${req.method} ${req.url.split("?")[0]}` },
    });
  });
}
