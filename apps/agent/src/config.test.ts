import { describe, expect, it } from "vitest";
import { loadConfig } from "./config";

const base = { SLUICE_AGENT_TOKEN: `sat_${"x".repeat(40)}`, SLUICE_CA_FILE: "/etc/sluice/ca.pem" };

describe("SLUICE_CONTROL_PLANE_GRPC", () => {
  it("takes one address or several replicas separated by commas, in order", () => {
    expect(
      loadConfig({ ...base, SLUICE_CONTROL_PLANE_GRPC: "cp.internal:8443" }).SLUICE_CONTROL_PLANE_GRPC,
    ).toEqual(["cp.internal:8443"]);
    const cfg = loadConfig({ ...base, SLUICE_CONTROL_PLANE_GRPC: " cp-b:8443, cp-a:9443 ,," });
    expect(cfg.SLUICE_CONTROL_PLANE_GRPC).toEqual(["cp-b:8443", "cp-a:9443"]);
    expect(loadConfig(base).SLUICE_CONTROL_PLANE_GRPC).toEqual(["127.0.0.1:8443"]);
  });

  it("names the bad entry when one address has no port", () => {
    expect(() => loadConfig({ ...base, SLUICE_CONTROL_PLANE_GRPC: "cp-a:8443,cp-b" })).toThrow(
      /SLUICE_CONTROL_PLANE_GRPC.*host:port/,
    );
    expect(() => loadConfig({ ...base, SLUICE_CONTROL_PLANE_GRPC: " , " })).toThrow(
      /SLUICE_CONTROL_PLANE_GRPC/,
    );
  });

  it("allows plaintext only when every replica is on loopback", () => {
    const insecure = { SLUICE_AGENT_TOKEN: base.SLUICE_AGENT_TOKEN, SLUICE_GRPC_INSECURE: "true" };
    expect(() =>
      loadConfig({ ...insecure, SLUICE_CONTROL_PLANE_GRPC: "127.0.0.1:1,localhost:2" }),
    ).not.toThrow();
    expect(() =>
      loadConfig({ ...insecure, SLUICE_CONTROL_PLANE_GRPC: "127.0.0.1:1,cp.example.com:2" }),
    ).toThrow(/plaintext is only allowed to a loopback control plane/);
  });
});
