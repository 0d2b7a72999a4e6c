import { nodeIo } from "./context";
import { runCli } from "./run";

process.exitCode = await runCli(process.argv.slice(2), nodeIo());
