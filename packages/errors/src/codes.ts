/**
 * One table maps every error code to how each edge reports it: HTTP status for
 * REST, gRPC status for the agent link, SQLSTATE for Postgres clients, an error number
 * and SQLSTATE for MySQL clients and an SSH disconnect reason for SSH clients. Codes are
 * dotted: `<domain>.<what>`.
 */
export interface ErrorMapping {
  http: number;
  grpc: number; // @grpc/grpc-js status code
  sqlState: string;
  sshReason: number; // SSH_DISCONNECT_* reason code
  /** MySQL server error number and SQLSTATE of the ERR packet. */
  mysql: { errno: number; sqlState: string };
}

const GRPC = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const SSH = {
  PROTOCOL_ERROR: 2,
  BY_APPLICATION: 11,
  NO_MORE_AUTH_METHODS: 14,
  SERVICE_NOT_AVAILABLE: 7,
  TOO_MANY_CONNECTIONS: 12,
};

const kinds = {
  bad_request: {
    http: 400,
    grpc: GRPC.INVALID_ARGUMENT,
    sqlState: "08P01",
    sshReason: SSH.PROTOCOL_ERROR,
    mysql: { errno: 1047, sqlState: "08S01" },
  },
  unauthenticated: {
    http: 401,
    grpc: GRPC.UNAUTHENTICATED,
    sqlState: "28P01",
    sshReason: SSH.NO_MORE_AUTH_METHODS,
    mysql: { errno: 1045, sqlState: "28000" },
  },
  forbidden: {
    http: 403,
    grpc: GRPC.PERMISSION_DENIED,
    sqlState: "42501",
    sshReason: SSH.BY_APPLICATION,
    mysql: { errno: 1227, sqlState: "42000" },
  },
  not_found: {
    http: 404,
    grpc: GRPC.NOT_FOUND,
    sqlState: "3D000",
    sshReason: SSH.BY_APPLICATION,
    mysql: { errno: 1049, sqlState: "42000" },
  },
  conflict: {
    http: 409,
    grpc: GRPC.ALREADY_EXISTS,
    sqlState: "42710",
    sshReason: SSH.BY_APPLICATION,
    mysql: { errno: 1050, sqlState: "42S01" },
  },
  precondition: {
    http: 409,
    grpc: GRPC.FAILED_PRECONDITION,
    sqlState: "55000",
    sshReason: SSH.BY_APPLICATION,
    mysql: { errno: 1105, sqlState: "HY000" },
  },
  too_large: {
    http: 413,
    grpc: GRPC.RESOURCE_EXHAUSTED,
    sqlState: "54000",
    sshReason: SSH.PROTOCOL_ERROR,
    mysql: { errno: 1153, sqlState: "08S01" },
  },
  rate_limited: {
    http: 429,
    grpc: GRPC.RESOURCE_EXHAUSTED,
    sqlState: "53300",
    sshReason: SSH.BY_APPLICATION,
    mysql: { errno: 1040, sqlState: "08004" },
  },
  unavailable: {
    http: 503,
    grpc: GRPC.UNAVAILABLE,
    sqlState: "08006",
    sshReason: SSH.SERVICE_NOT_AVAILABLE,
    mysql: { errno: 1053, sqlState: "08S01" },
  },
  /** Overloaded: the request was not started; retrying shortly is expected to work. */
  busy: {
    http: 503,
    grpc: GRPC.RESOURCE_EXHAUSTED,
    sqlState: "53300",
    sshReason: SSH.TOO_MANY_CONNECTIONS,
    mysql: { errno: 1040, sqlState: "08004" },
  },
  insufficient_resources: {
    http: 503,
    grpc: GRPC.RESOURCE_EXHAUSTED,
    sqlState: "53100",
    sshReason: SSH.SERVICE_NOT_AVAILABLE,
    mysql: { errno: 1021, sqlState: "HY000" },
  },
  internal: {
    http: 500,
    grpc: GRPC.INTERNAL,
    sqlState: "XX000",
    sshReason: SSH.BY_APPLICATION,
    mysql: { errno: 1105, sqlState: "HY000" },
  },
} satisfies Record<string, ErrorMapping>;

export type ErrorKind = keyof typeof kinds;

/** Every code Sluice raises, with its kind. Add new codes here, nowhere else. */
export const errorCodes = {
  "request.invalid": "bad_request",
  "request.too_large": "too_large",
  "request.rate_limited": "rate_limited",
  "auth.missing_credentials": "unauthenticated",
  "auth.invalid_credentials": "unauthenticated",
  "auth.expired": "unauthenticated",
  "auth.forbidden": "forbidden",
  "user.not_found": "not_found",
  "user.exists": "conflict",
  "group.not_found": "not_found",
  "group.exists": "conflict",
  "agent.not_found": "not_found",
  "agent.exists": "conflict",
  "agent.revoked": "unauthenticated",
  "agent.unavailable": "unavailable",
  "connection.not_found": "not_found",
  "connection.exists": "conflict",
  "connection.invalid": "bad_request",
  "connection.forbidden": "forbidden",
  "policy.not_found": "not_found",
  "policy.exists": "conflict",
  "policy.in_use": "precondition",
  "policy.invalid": "bad_request",
  "policy.unenforceable": "forbidden",
  "recording.disk_full": "insufficient_resources",
  "apikey.not_found": "not_found",
  "ssh_key.not_found": "not_found",
  "ssh_key.exists": "conflict",
  "ssh_key.invalid": "bad_request",
  "trusted_issuer.not_found": "not_found",
  "trusted_issuer.exists": "conflict",
  "idp_group_mapping.not_found": "not_found",
  "idp_group_mapping.exists": "conflict",
  "session.not_found": "not_found",
  "session.invalid_grant": "unauthenticated",
  "session.forbidden": "forbidden",
  "notification_channel.not_found": "not_found",
  "notification_channel.exists": "conflict",
  "notification_channel.invalid": "bad_request",
  "notification_channel.disabled": "precondition",
  "notification_delivery.not_found": "not_found",
  "notification_delivery.not_failed": "precondition",
  "notification.queue_unavailable": "unavailable",
  "access.approval_required": "forbidden",
  "access.not_required": "bad_request",
  "review.not_found": "not_found",
  "review.invalid": "bad_request",
  "review.forbidden": "forbidden",
  "review.exists": "conflict",
  "review.already_decided": "conflict",
  "review.not_pending": "precondition",
  "review.unknown_rule": "bad_request",
  "review.session_inactive": "precondition",
  "credential.unresolvable": "unavailable",
  "credential.invalid_reference": "bad_request",
  "config.invalid": "internal",
  "internal.unexpected": "internal",
  "service.unavailable": "unavailable",
  "service.busy": "busy",
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof errorCodes;

export function errorMapping(code: ErrorCode): ErrorMapping {
  return kinds[errorCodes[code]];
}
