export * from "./db";
export * from "./deploy-files";
export * from "./fake-vault";
export * from "./oidc-provider";
export * from "./pki";
export * from "./private-cluster";
export * from "./process";
export * from "./sshd";
