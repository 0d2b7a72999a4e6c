export * from "./certificate";
export * from "./private-key";
export * from "./public-key";
export { packStrings, SshFormatError, SshReader, SshWriter } from "./wire";
