import { toApiError } from "@sluice/client";
import { CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { CliError, ExitCode, usageError } from "./cli-error";
import { redact, renderError } from "./render-error";

const quiet = { debug: false, secrets: [] as string[] };

describe("renderError", () => {
  it("prints the server message, code and validation issues", () => {
    const err = toApiError(400, "Bad Request", {
      error: {
        code: "request.invalid",
        message: "invalid request body",
        details: {
          issues: [
            { path: "port", message: "Too big" },
            { path: ["tls", "mode"], message: "Invalid" },
          ],
        },
      },
    });
    expect(renderError(err, quiet)).toEqual({
      text: "error: invalid request body (request.invalid)\n  - port: Too big\n  - tls.mode: Invalid\n",
      exitCode: ExitCode.failure,
    });
  });

  it("adds a hint to a 401 and describes a non-contract error body", () => {
    const unauth = renderError(
      toApiError(401, "", { error: { code: "auth.invalid_credentials", message: "no" } }),
      quiet,
    );
    expect(unauth.text).toContain("hint: the API key was rejected");
    expect(renderError(toApiError(502, "Bad Gateway", undefined), quiet).text).toBe(
      "error: the control plane answered HTTP 502 Bad Gateway (http.502)\n",
    );
  });

  it("never prints a known API key, even inside a message or stack", () => {
    const key = "slk_super_secret_value";
    const err = new CliError(`something echoed ${key}`);
    const out = renderError(err, { debug: true, secrets: [key] });
    expect(out.text).not.toContain(key);
    expect(out.text).toContain("something echoed ***");
  });

  it("prints a stack trace only in debug mode", () => {
    const err = new Error("boom", { cause: new Error("root cause") });
    expect(renderError(err, quiet).text).toBe("error: boom\n");
    const debug = renderError(err, { debug: true, secrets: [] }).text;
    expect(debug).toContain("at ");
    expect(debug).toContain("caused by:");
    expect(debug).toContain("root cause");
  });

  it("maps usage errors to 2 and leaves commander's own messages alone", () => {
    expect(renderError(usageError("bad flag"), quiet)).toEqual({ text: "error: bad flag\n", exitCode: 2 });
    expect(renderError(new CommanderError(1, "commander.unknownOption", "x"), quiet)).toEqual({
      text: "",
      exitCode: 2,
    });
    expect(renderError(new CommanderError(0, "commander.helpDisplayed", "x"), quiet)).toEqual({
      text: "",
      exitCode: 0,
    });
  });
});

describe("redact", () => {
  it("replaces every occurrence and ignores too-short values", () => {
    expect(redact("a KEY1 b KEY1", ["KEY1"])).toBe("a *** b ***");
    expect(redact("abc", ["ab"])).toBe("abc");
  });
});
