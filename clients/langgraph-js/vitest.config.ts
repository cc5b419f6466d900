import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globals: true,
    testTimeout: 60000,
    hookTimeout: 60000,
    // Each file starts its own server; run them one after the other.
    fileParallelism: false,
  },
});
