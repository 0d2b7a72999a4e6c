export * from "./reference";
export * from "./resolver";
export * from "./env-provider";
export * from "./file-provider";
