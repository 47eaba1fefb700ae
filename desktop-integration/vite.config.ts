/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// One config for the dev page (`npm run dev`, root dev/) and the tests (`npm test`).
export default defineConfig({
  root: "dev",
  plugins: [react()],
  server: {
    host: "127.0.0.1",
    port: 5173,
    strictPort: true,
  },
  build: {
    outDir: "../dist-dev",
    emptyOutDir: true,
  },
  test: {
    root: ".",
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
    globals: true,
    restoreMocks: true,
    pool: "threads",
    maxWorkers: 2,
  },
});
