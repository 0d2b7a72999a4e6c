import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { openTunnel, TunnelRefusedError } from "@sluice/client";
import type { PemPair } from "@sluice/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../cli-error";
import { createTestCa, startTunnelPeer, TEST_CONNECTION, TEST_GRANT } from "../tunnel-peer.testing";

let ca: PemPair;
beforeAll(async () => {
  ca = await createTestCa();
});

const target = (port: number, overrides: Partial<Parameters<typeof openTunnel>[0]> = {}) => ({
  agentName: "a1",
  host: "127.0.0.1",
  port,
  caPem: ca.certPem,
  connection: TEST_CONNECTION,
  grant: TEST_GRANT,
  ...overrides,
});

function readSome(socket: NodeJS.ReadableStream, bytes: number): Promise<string> {
  return new Promise((resolve) => {
    let seen = "";
    socket.on("data", (d: Buffer) => {
      seen += d.toString();
      if (seen.length >= bytes) resolve(seen);
    });
    socket.resume();
  });
}

describe("openTunnel", () => {
  const peers: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.close()));
  });

  it("keeps protocol bytes that arrive with the OK line", async () => {
    const peer = await startTunnelPeer({ ca, target: "echo", answer: () => "OK s-9\nearly" });
    peers.push(peer);
    const { socket, sessionId } = await openTunnel(target(peer.port));
    expect(sessionId).toBe("s-9");
    const received = readSome(socket, "early-ping".length);
    socket.write("-ping");
    expect(await received).toBe("early-ping");
    expect(peer.requests).toEqual([{ connection: TEST_CONNECTION, grant: TEST_GRANT }]);
    socket.destroy();
  });

  it("turns ERR into a TunnelRefusedError with the agent's message", async () => {
    const peer = await startTunnelPeer({ ca, answer: () => "ERR auth.expired grant has expired\n" });
    peers.push(peer);
    const err = await openTunnel(target(peer.port)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TunnelRefusedError);
    expect(err).toMatchObject({
      code: "auth.expired",
      message: "agent a1 refused the tunnel: grant has expired",
      exitCode: ExitCode.unreachable,
    });
  });

  it("trusts only the given CA", async () => {
    const peer = await startTunnelPeer({ ca: await createTestCa("other CA") });
    peers.push(peer);
    await expect(openTunnel(target(peer.port))).rejects.toThrow(/is not trusted .*control plane's CA/);
    expect(peer.requests).toEqual([]);
  });

  it("checks the certificate's name", async () => {
    const peer = await startTunnelPeer({ ca, hosts: ["agent.example"] });
    peers.push(peer);
    await expect(openTunnel(target(peer.port))).rejects.toThrow(
      /agent a1 at 127\.0\.0\.1:\d+ is not trusted .*IP: 127\.0\.0\.1 is not in the cert's list/,
    );
  });

  it("explains an unreachable agent and one that hangs up or stays silent", async () => {
    await expect(openTunnel(target(1))).rejects.toThrow(
      "cannot reach agent a1 at 127.0.0.1:1: connection refused (ECONNREFUSED)",
    );
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const { port } = silent.address() as AddressInfo;
    await expect(openTunnel(target(port, { timeoutMs: 300 }))).rejects.toThrow(
      `agent a1 at 127.0.0.1:${port} did not answer within 0.3s`,
    );
    silent.close();
    const hangUp = await startTunnelPeer({ ca, answer: () => "" });
    peers.push(hangUp);
    await expect(openTunnel(target(hangUp.port))).rejects.toThrow("closed the tunnel before answering");
  });
});
