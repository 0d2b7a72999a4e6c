export * from "./gen/sluice/agent/v1/agent";
