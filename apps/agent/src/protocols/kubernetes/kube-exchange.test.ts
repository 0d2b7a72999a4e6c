import { describe, expect, it } from "vitest";
import { createdName, jsonAccept } from "./kube-exchange";

/** A length-delimited protobuf field. */
function field(n: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(n << 3) | 2, value.length]), value]);
}

function protobufObject(name: string, extraMeta: Buffer = Buffer.alloc(0)): Buffer {
  const typeMeta = Buffer.concat([field(1, Buffer.from("v1")), field(2, Buffer.from("Namespace"))]);
  const meta = Buffer.concat([extraMeta, field(1, Buffer.from(name))]);
  const raw = field(1, meta);
  return Buffer.concat([Buffer.from("k8s\0", "latin1"), field(1, typeMeta), field(2, raw)]);
}

const complete = (buf: Buffer) => ({ buf, complete: true });

describe("the name of an object being created", () => {
  it("is read from JSON and from kubectl's protobuf envelope", () => {
    expect(createdName(complete(Buffer.from('{"metadata":{"name":"staging"}}')))).toBe("staging");
    expect(createdName(complete(protobufObject("prod-2")))).toBe("prod-2");
    // generateName (field 2) before the name does not confuse the reader.
    expect(createdName(complete(protobufObject("web", field(2, Buffer.from("web-")))))).toBe("web");
  });

  it("is unknown (rules on names then match) when the body cannot be read whole or is not a valid name", () => {
    expect(
      createdName({ buf: Buffer.from('{"metadata":{"name":"staging"}}'), complete: false }),
    ).toBeUndefined();
    expect(createdName(complete(Buffer.from("not json")))).toBeUndefined();
    expect(createdName(complete(Buffer.from('{"metadata":{"name":"Bad Name"}}')))).toBeUndefined();
    expect(createdName(complete(protobufObject("x").subarray(0, 12)))).toBeUndefined();
    expect(createdName(undefined)).toBeUndefined();
  });
});

describe("the Accept header for responses the agent reads", () => {
  it("drops protobuf and keeps the rest, or asks for JSON", () => {
    expect(jsonAccept("application/vnd.kubernetes.protobuf, application/json")).toBe("application/json");
    expect(jsonAccept("application/vnd.kubernetes.protobuf")).toBe("application/json");
    expect(jsonAccept("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")).toBe(
      "application/json;as=Table;v=v1;g=meta.k8s.io, application/json",
    );
  });
});
