import { readFileSync } from "node:fs";
import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import { type AgentServiceServer, AgentServiceService } from "@sluice/proto";
import type { ControlPlaneConfig } from "../config";
import type { AgentHub } from "../modules/agents/agent-hub";

export interface GrpcDeps {
  config: Pick<
    ControlPlaneConfig,
    | "SLUICE_GRPC_HOST"
    | "SLUICE_GRPC_PORT"
    | "SLUICE_GRPC_INSECURE"
    | "SLUICE_GRPC_TLS_CERT_FILE"
    | "SLUICE_GRPC_TLS_KEY_FILE"
  >;
  hub: AgentHub;
  handlers?: Partial<
    Pick<
      AgentServiceServer,
      "authorizeSession" | "uploadRecording" | "issueCertificate" | "requestStatementReview" | "getReview"
    >
  >;
}

function credentials(config: GrpcDeps["config"]): ServerCredentials {
  if (config.SLUICE_GRPC_INSECURE) return ServerCredentials.createInsecure();
  const cert = readFileSync(config.SLUICE_GRPC_TLS_CERT_FILE as string);
  const key = readFileSync(config.SLUICE_GRPC_TLS_KEY_FILE as string);
  return ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false);
}

const unavailable = { code: status.UNIMPLEMENTED, details: "not served by this control plane" };

/** Starts the agent-facing gRPC server and returns it with its bound port. */
export async function startGrpcServer(deps: GrpcDeps): Promise<{ server: Server; port: number }> {
  const server = new Server({
    "grpc.max_receive_message_length": 8 * 1024 * 1024,
    "grpc.max_send_message_length": 16 * 1024 * 1024,
    "grpc.keepalive_time_ms": 20_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    // grpc-js lifts Node's per-connection HTTP/2 memory cap unless told; bound it (MiB).
    "grpc-node.max_session_memory": 64,
  });
  const impl: AgentServiceServer = {
    link: (call) => {
      void deps.hub.handleLink(call);
    },
    authorizeSession: deps.handlers?.authorizeSession ?? ((_call, cb) => cb(unavailable)),
    uploadRecording: deps.handlers?.uploadRecording ?? ((call) => call.emit("error", unavailable)),
    issueCertificate: deps.handlers?.issueCertificate ?? ((_call, cb) => cb(unavailable)),
    requestStatementReview: deps.handlers?.requestStatementReview ?? ((_call, cb) => cb(unavailable)),
    getReview: deps.handlers?.getReview ?? ((_call, cb) => cb(unavailable)),
  };
  server.addService(AgentServiceService, impl);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${deps.config.SLUICE_GRPC_HOST}:${deps.config.SLUICE_GRPC_PORT}`,
      credentials(deps.config),
      (err, p) => (err ? reject(err) : resolve(p)),
    );
  });
  return { server, port };
}
