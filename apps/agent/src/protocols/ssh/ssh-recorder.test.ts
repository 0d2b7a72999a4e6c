import { compileCommandGuard } from "@sluice/policy";
import { describe, expect, it } from "vitest";
import { createSshRecorder, type SshRecorderSession } from "./ssh-recorder";

function memorySink() {
  const events: { kind: string; payload: Record<string, unknown> }[] = [];
  const sink: SshRecorderSession = {
    record: (kind, payload) => void events.push({ kind, payload }),
    started: () => undefined,
    end: async () => undefined,
  };
  return { sink, events };
}

describe("ssh recorder", () => {
  it("records terminal input, but not what is typed after a password prompt", () => {
    const { sink, events } = memorySink();
    const rec = createSshRecorder(sink, {
      target: "10.0.0.1:22",
      user: "deploy",
      rules: compileCommandGuard([]),
      batchMs: 1,
    });
    const ch = rec.channel();
    ch.pty?.({ cols: 80, rows: 24, term: "xterm", width: 0, height: 0, modes: {} } as never);
    ch.start?.("shell", "", true);
    ch.input?.(Buffer.from("sudo id\r"));
    ch.output?.(Buffer.from("[sudo] password for deploy: "), false);
    ch.input?.(Buffer.from("hunter2-typed"));
    ch.input?.(Buffer.from("\r"));
    ch.input?.(Buffer.from("ls\r"));
    ch.close?.();
    const typed = events
      .filter((e) => e.kind === "ssh.data" && e.payload.stream === "i")
      .map((e) => e.payload.data)
      .join("");
    expect(typed).toContain("sudo id");
    expect(typed).toContain("ls");
    expect(typed).toContain("[input after a password prompt not recorded]");
    expect(JSON.stringify(events)).not.toContain("hunter2");
  });
});
