export * from "../generated/prisma/client";
export { type CreateDbOptions, createDb, type Db } from "./client";
export { migrateDeploy, migrationsDir } from "./prisma-cli";
