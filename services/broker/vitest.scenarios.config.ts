import { defineConfig } from "vitest/config"

/** Long, not yet reliable scenarios kept out of `vitest run` (see README, "Known issues"). */
export default defineConfig({
  test: {
    include: ["test/**/*.scenario.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
