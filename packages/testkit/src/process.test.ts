import { describe, expect, it } from "vitest";
import { startProcess } from "./process";

describe("startProcess", () => {
  it("resolves waitForOutput when the line appears", async () => {
    const proc = startProcess(process.execPath, [
      "-e",
      "console.log('listening on 1234'); setTimeout(() => {}, 5000)",
    ]);
    const m = await proc.waitForOutput(/listening on (\d+)/);
    expect(m[1]).toBe("1234");
    await proc.stop();
  });

  it("rejects at once, with the output, when the process ends without printing the line", async () => {
    const started = Date.now();
    const proc = startProcess(process.execPath, [
      "-e",
      "console.error('bind: address in use'); process.exit(3)",
    ]);
    await expect(proc.waitForOutput(/listening/, 20_000)).rejects.toThrow(
      /process ended \(code 3\) before printing \/listening\/; output:\n.*bind: address in use/s,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
