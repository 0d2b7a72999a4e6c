export * from "./bridge";
export * from "./host-key";
export * from "./host-key-check";
export * from "./server";
export * from "./sftp-observer";
export * from "./upstream";
