export * from "./load-config";
