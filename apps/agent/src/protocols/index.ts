import type tls from "node:tls";
import type { Logger } from "@sluice/logger";
import type { SecretResolver } from "@sluice/secrets";
import type { AgentConfig } from "../config";
import type { Authorizer } from "../core/authorizer";
import type { SessionBroker } from "../core/broker";
import type { ProtocolHandler } from "../core/protocol";
import { createHttpHandler } from "./http/http-handler";
import { createKubeHandler } from "./kubernetes/kube-handler";
import { createMysqlHandler } from "./mysql/mysql-handler";
import { createPgHandler } from "./postgres/pg-handler";
import { createSshHandler } from "./ssh/ssh-handler";
import { createTcpHandler } from "./tcp/tcp-handler";

export interface HandlerDeps {
  config: AgentConfig;
  authorizer: Pick<Authorizer, "authorize">;
  broker: SessionBroker;
  /** The agent's TLS context for native listeners, once it has a certificate. */
  tls: () => tls.SecureContext | undefined;
  secrets: Pick<SecretResolver, "resolve">;
  logger: Logger;
}

/**
 * Every protocol the agent serves, one handler per connection type of the registry
 * (`@sluice/connection-types`). Adding a protocol is a folder here and a line below.
 */
export function createProtocolHandlers(deps: HandlerDeps) {
  const { config, authorizer, broker, tls } = deps;
  const log = (component: string) => deps.logger.child({ component });
  const ssh = createSshHandler({ config, authorizer, broker, logger: log("ssh") });
  const handlers: ProtocolHandler[] = [
    createPgHandler({ config, authorizer, broker, tls, logger: log("postgres") }),
    createMysqlHandler({ config, authorizer, broker, tls, logger: log("mysql") }),
    ssh,
    createHttpHandler({ config, authorizer, broker, tls, secrets: deps.secrets, logger: log("http") }),
    createKubeHandler({ config, authorizer, broker, tls, secrets: deps.secrets, logger: log("kubernetes") }),
    createTcpHandler({ broker, logger: log("tcp") }),
  ];
  return { handlers, sshHostKey: ssh.hostKey };
}
