/**
 * meta/v1 Status bodies, worded exactly as the Kubernetes API server words them, because
 * kubectl prints the message verbatim and Sluice tests compare against what a real cluster says.
 */

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
}

export interface StatusBody {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** Thrown anywhere in request handling; the router turns it into the Status response. */
export class KubeStatusError extends Error {
  constructor(readonly status: StatusBody) {
    super(status.message);
  }
}

export function failure(code: number, reason: string, message: string, details?: StatusDetails): StatusBody {
  // Key order as the API server writes it: details (when any) come before code.
  const base = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
  } as const;
  return details ? { ...base, details, code } : { ...base, code };
}

export function statusError(code: number, reason: string, message: string, details?: StatusDetails) {
  return new KubeStatusError(failure(code, reason, message, details));
}

/** `pods` or `deployments.apps`: how the API server names a resource in messages. */
export function qualifiedResource(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

function details(resource: string, group: string, name: string): StatusDetails {
  return group ? { name, group, kind: resource } : { name, kind: resource };
}

export function notFound(resource: string, group: string, name: string) {
  const message = `${qualifiedResource(resource, group)} "${name}" not found`;
  return statusError(404, "NotFound", message, details(resource, group, name));
}

export function alreadyExists(resource: string, group: string, name: string) {
  const message = `${qualifiedResource(resource, group)} "${name}" already exists`;
  return statusError(409, "AlreadyExists", message, details(resource, group, name));
}

export function conflict(resource: string, group: string, name: string) {
  const message =
    `Operation cannot be fulfilled on ${qualifiedResource(resource, group)} "${name}": ` +
    "the object has been modified; please apply your changes to the latest version and try again";
  return statusError(409, "Conflict", message, details(resource, group, name));
}

export function badRequest(message: string) {
  return statusError(400, "BadRequest", message);
}

export function invalid(kind: string, name: string, field: string, message: string) {
  const text = `${kind} "${name}" is invalid: ${field}: ${message}`;
  return statusError(422, "Invalid", text, {
    name,
    kind,
    causes: [{ reason: "FieldValueInvalid", message, field }],
  });
}

export function methodNotAllowed() {
  return statusError(
    405,
    "MethodNotAllowed",
    "the server does not allow this method on the requested resource",
  );
}

export function unauthorized() {
  return statusError(401, "Unauthorized", "Unauthorized");
}

export interface ForbiddenAttributes {
  user: string;
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

/** The authorizer's refusal text, e.g. `pods "web" is forbidden: User "x" cannot get resource "pods" …`. */
export function forbidden(a: ForbiddenAttributes) {
  const qualified = qualifiedResource(a.resource, a.apiGroup);
  const subject = a.name ? `${qualified} "${a.name}"` : qualified;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
  const message =
    `${subject} is forbidden: User "${a.user}" cannot ${a.verb} resource "${resource}" ` +
    `in API group "${a.apiGroup}" ${scope}`;
  const d: StatusDetails = a.name ? { name: a.name } : {};
  if (a.apiGroup) d.group = a.apiGroup;
  d.kind = a.resource;
  return statusError(403, "Forbidden", message, d);
}

/** A non-resource URL refusal, e.g. `forbidden: User "x" cannot get path "/version"`. */
export function forbiddenPath(user: string, verb: string, path: string) {
  return statusError(403, "Forbidden", `forbidden: User "${user}" cannot ${verb} path "${path}"`);
}

export const SUCCESS_EXIT = { metadata: {}, status: "Success" } as const;

/**
 * The kubelet's report for a command that exited non-zero (containerd's wording inside);
 * kubectl turns the ExitCode cause into its own exit code.
 */
export function nonZeroExit(command: string[], code: number) {
  return {
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: error executing command [${command.join(" ")}], exit code ${code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  };
}
