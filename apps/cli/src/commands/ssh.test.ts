import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { shellWord, sshArguments } from "./ssh";
import { parseDuration } from "./ssh-identity";

describe("sluice ssh arguments", () => {
  const self = ["/usr/bin/node", "/opt/sluice/bin/sluice.js"];

  it("runs sluice as the ProxyCommand and passes the remote command after --", () => {
    const args = sshArguments("prod-web", ["echo", "hi"], { tty: true, reason: "incident 42" }, self);
    expect(args).toContain(
      "ProxyCommand=/usr/bin/node /opt/sluice/bin/sluice.js proxy ssh prod-web --reason 'incident 42'",
    );
    expect(args.slice(-5)).toEqual(["-tt", "prod-web@prod-web", "--", "echo", "hi"]);
    expect(args).toContain("PasswordAuthentication=no");
  });

  it("quotes words so the shell ssh runs the ProxyCommand with gets them back unchanged", () => {
    const words = ["/tmp/o'dd dir/node", "50%", "a b", "$(rm -rf /)", "plain-word_1.2"];
    const line = words.map(shellWord).join(" ").replace(/%%/g, "%");
    const echoed = execFileSync("sh", ["-c", `printf '%s\\n' ${line}`], { encoding: "utf8" });
    expect(echoed.trimEnd().split("\n")).toEqual(words);
    expect(shellWord("50%")).toBe("50%%");
  });

  it("reads certificate validity as seconds, minutes or hours", () => {
    expect(parseDuration("90")).toBe(90);
    expect(parseDuration("30m")).toBe(1800);
    expect(parseDuration("12h")).toBe(43_200);
    expect(() => parseDuration("1d")).toThrow(/duration/);
  });
});
