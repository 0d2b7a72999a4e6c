import type { Duplex } from "node:stream";
import { connectionTypeSpecs } from "@sluice/connection-types";
import { type AppError, toAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import type { AuthorizedSession } from "../../core/authorizer";
import type { SessionBroker } from "../../core/broker";
import type { ClientStream, ProtocolHandler } from "../../core/protocol";
import { relayTcp } from "./tcp-relay";

/** Raw TCP connections: relayed unchanged through the tunnel, recorded as metadata and byte counts. */
export function createTcpHandler(deps: { broker: SessionBroker; logger: Logger }): ProtocolHandler {
  return {
    type: "tcp",
    enforces: connectionTypeSpecs.tcp.enforces,
    serve(session: AuthorizedSession, client: ClientStream): void {
      deps.broker.open(session, { type: "tcp", via: "tunnel", clientAddress: client.clientAddress }).then(
        (ctx) => relayTcp({ client: client.socket, initial: client.initial, session: ctx }),
        (err: unknown) => {
          deps.logger.info({ code: toAppError(err).code }, "tcp session refused");
          client.socket.destroy();
        },
      );
    },
    refuse(client: Duplex, _err: AppError): void {
      client.destroy();
    },
  };
}
