export * from "./tunnel-protocol";
