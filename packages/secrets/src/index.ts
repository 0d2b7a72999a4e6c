export * from "./env-provider";
export * from "./file-provider";
export * from "./reference";
export * from "./resolver";
