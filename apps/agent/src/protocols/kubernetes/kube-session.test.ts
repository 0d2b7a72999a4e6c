import type { ConnectionSpec, KubernetesSettings } from "@sluice/proto";
import { describe, expect, it } from "vitest";
import { kubeIdentity } from "./kube-session";

const conn = (settings: Partial<KubernetesSettings>) =>
  ({
    settings: {
      $case: "kubernetes",
      value: {
        disableImpersonation: false,
        groupMappingJson: "",
        groupPrefix: "",
        clientCertificateRef: "",
        ...settings,
      },
    },
  }) as ConnectionSpec;

describe("the identity upstream requests impersonate", () => {
  const who = { name: "dev@example.com", groups: ["eng", "sre"] };

  it("is the Sluice name with its groups prefixed sluice: by default", () => {
    expect(kubeIdentity(conn({}), who)).toEqual({
      user: "dev@example.com",
      groups: ["sluice:eng", "sluice:sre"],
    });
  });

  it("maps groups the connection names and prefixes the rest with its own prefix", () => {
    const mapped = conn({
      groupMappingJson: JSON.stringify({ sre: "platform-admins" }),
      groupPrefix: "corp:",
    });
    expect(kubeIdentity(mapped, who)).toEqual({
      user: "dev@example.com",
      groups: ["corp:eng", "platform-admins"],
    });
  });

  it("is absent when the connection sends requests as the agent's own credential", () => {
    expect(kubeIdentity(conn({ disableImpersonation: true }), who)).toBeUndefined();
  });

  it("ignores a mapping it cannot read rather than send unmapped names", () => {
    expect(kubeIdentity(conn({ groupMappingJson: "{not json" }), who)?.groups).toEqual([
      "sluice:eng",
      "sluice:sre",
    ]);
    expect(kubeIdentity(conn({ groupMappingJson: "[1]" }), who)?.groups).toEqual([
      "sluice:eng",
      "sluice:sre",
    ]);
  });
});
