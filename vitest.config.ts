import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The heap-flatness test needs gc().
    pool: "forks",
    execArgv: ["--expose-gc"],
  },
});
