import { describe, expect, it } from "vitest";
import { detect } from "../masking.testing";
import { ipAddressDetector, isIpv6 } from "./ip-address";

const find = (text: string) => detect(ipAddressDetector, text);

describe("IP address detector", () => {
  it("finds IPv4 addresses with valid octets", () => {
    expect(find("192.168.1.1")).toEqual(["192.168.1.1"]);
    expect(find("from 10.0.0.255, to 8.8.8.8:53.")).toEqual(["10.0.0.255", "8.8.8.8"]);
    expect(find("cidr 172.16.0.0/12")).toEqual(["172.16.0.0"]);
  });

  it("finds IPv6 addresses, full and compressed, with zones, ports and IPv4 tails", () => {
    expect(find("2001:db8::1")).toEqual(["2001:db8::1"]);
    expect(find("2001:0db8:85a3:0000:0000:8a2e:0370:7334")).toEqual([
      "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    ]);
    expect(find("::1")).toEqual(["::1"]);
    expect(find("fe80::1%eth0")).toEqual(["fe80::1"]);
    expect(find("[2001:db8::ff00:42:8329]:443")).toEqual(["2001:db8::ff00:42:8329"]);
    expect(find("at 2001:db8::1.")).toEqual(["2001:db8::1"]);
    expect(find("::ffff:192.168.1.1")).toEqual(["::ffff:192.168.1.1"]);
  });

  it("rejects out-of-range octets, versions, times, MACs and code", () => {
    for (const text of [
      "256.1.1.1",
      "1.2.3",
      "1.2.3.4.5",
      "01.02.03.04",
      "12:30:45",
      "std::vector",
      "Foo::Bar",
      "a::b",
      "00:1A:2B:3C:4D:5E",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "::",
    ]) {
      expect(find(text), text).toEqual([]);
    }
  });

  it("validates IPv6 group counts", () => {
    expect(isIpv6("1:2:3:4:5:6:7:8")).toBe(true);
    expect(isIpv6("1:2:3:4:5:6:7")).toBe(false);
    expect(isIpv6("1:2:3:4:5:6:1.2.3.4")).toBe(true);
    expect(isIpv6("1:2:3:4:5:6:7:1.2.3.4")).toBe(false);
    expect(isIpv6("::1.2.3.4")).toBe(true);
    expect(isIpv6("12345::1")).toBe(false);
    expect(isIpv6(":::1")).toBe(false);
  });
});
