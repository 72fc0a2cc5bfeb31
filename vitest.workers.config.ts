// Unit tests inside workerd (the Workers vitest pool), against the catalog worker's settings.
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./workers/catalog/wrangler.toml" },
      miniflare: { bindings: { IDENTITY_SECRET: "unit-test-identity-secret-0123456789abcdef" } },
    }),
  ],
  test: {
    include: ["test/unit/**/*.test.ts", "shared/middleware/**/*.test.ts"],
  },
});
