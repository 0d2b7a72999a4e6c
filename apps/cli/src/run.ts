import pkg from "../package.json" with { type: "json" };
import { type CliIo, createContext } from "./context";
import { createProgram } from "./program";
import { renderError } from "./render-error";

export const CLI_VERSION: string = pkg.version;

/** Runs one `sluice` invocation (argv without node and script) and returns its exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const ctx = createContext(io, `sluice-cli/${CLI_VERSION}`);
  if (io.env.SLUICE_API_KEY) ctx.secrets.add(io.env.SLUICE_API_KEY);
  try {
    await createProgram(ctx, CLI_VERSION).parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    const rendered = renderError(err, { debug: io.env.SLUICE_DEBUG === "1", secrets: ctx.secrets });
    if (rendered.text) io.stderr(rendered.text);
    return rendered.exitCode;
  }
}
