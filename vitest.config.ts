import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Two test files at a time, also on a 2-core machine (vitest's default there is one): most files wait
    // on sockets and timers, not the CPU, and one at a time kept the suite at ~5 minutes per Node line.
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ["default"]
  }
})
