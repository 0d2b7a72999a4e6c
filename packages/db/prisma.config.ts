import { defineConfig } from "prisma/config";
import { MigratePrismaPg } from "./src/migrate-adapter";

export default defineConfig({
  engine: "js",
  experimental: { adapter: true },
  schema: "../../prisma/schema.prisma",
  migrations: { path: "../../prisma/migrations" },
  async adapter() {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error("DATABASE_URL is not set");
    return new MigratePrismaPg(url);
  },
});
