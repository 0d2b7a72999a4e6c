export * from "./db";
export * from "./pki";
export * from "./process";
