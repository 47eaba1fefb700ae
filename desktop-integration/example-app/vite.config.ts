import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  resolve: {
    // the kit is a `file:` dependency (a symlink) whose own node_modules hold React and
    // Tauri's API too (its dev dependencies): without this the bundle took a second
    // react/jsx-runtime from there; one copy of each is what React's hooks need
    dedupe: ["react", "react-dom", "@tauri-apps/api"],
  },
  clearScreen: false,
  server: { host: "127.0.0.1", port: 1420, strictPort: true },
  build: { outDir: "dist", emptyOutDir: true },
});
