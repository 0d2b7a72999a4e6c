import { describe, expect, it } from "vitest";
import { kubeImpersonationOf } from "./impersonation";

describe("kubeImpersonationOf", () => {
  it("is undefined for a request that impersonates no one", () => {
    expect(kubeImpersonationOf({ authorization: "Bearer x", accept: "application/json" })).toBeUndefined();
  });

  it("reads kubectl --as, --as-group (repeated), --as-uid and extra fields", () => {
    expect(
      kubeImpersonationOf({
        "impersonate-user": "alice",
        "impersonate-group": ["sre", "system:masters"],
        "impersonate-uid": "42",
        "impersonate-extra-scopes": ["view"],
      }),
    ).toEqual({ user: "alice", groups: ["sre", "system:masters"], uid: "42", extra: ["scopes"] });
  });

  it("counts an unknown Impersonate-* header as impersonation, so it cannot slip through", () => {
    expect(kubeImpersonationOf({ "Impersonate-Something": "x" })).toEqual({
      groups: [],
      extra: ["impersonate-something"],
    });
  });

  it("refuses a repeated user and too many values", () => {
    expect(() => kubeImpersonationOf({ "impersonate-user": ["a", "b"] })).toThrow(/repeated/);
    expect(() => kubeImpersonationOf({ "impersonate-group": Array(101).fill("g") })).toThrow(/too many/);
  });
});
