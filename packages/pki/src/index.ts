export * from "./ca";
