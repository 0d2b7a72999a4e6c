export { type ApiClient, type ApiClientOptions, apiPath, createApiClient } from "@sluice/client";
export { ApiError, CliError, ExitCode } from "./cli-error";
export type { CliIo } from "./context";
export { runCli } from "./run";
