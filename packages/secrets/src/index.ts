export * from "./env-provider";
export * from "./file-provider";
export * from "./reference";
export * from "./resolver";
export * from "./vault-client";
export * from "./vault-errors";
export * from "./vault-kv";
export * from "./vault-provider";
