export * from "./db";
export * from "./pki";
export * from "./private-cluster";
export * from "./process";
