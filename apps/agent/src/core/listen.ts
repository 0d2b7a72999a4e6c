import type net from "node:net";
import { splitHostPort } from "../config";

/** Binds a server to `host:port` and resolves with the port it got (port 0 picks one). */
export function listen(server: net.Server, hostPort: string): Promise<number> {
  const { host, port } = splitHostPort(hostPort);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
