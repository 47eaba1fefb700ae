// @ts-check
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig(
  // example-app is a separate package (its own lock file and tsconfig), built by scripts/build-example-app.sh
  { ignores: ["dist", "dist-dev", "node_modules", "coverage", "example-app"] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.browser },
      parserOptions: {
        projectService: { allowDefaultProject: ["eslint.config.js"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      // numbers in template strings (progress, seconds) are intended and readable
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
    },
  },
  {
    // the browser tests' driver runs under Node; its page script runs in Chromium
    files: ["e2e/driver.mjs"],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ["src/**/*.test.{ts,tsx}", "src/testing/**"],
    rules: {
      // tests reach into fakes with non-null assertions on what they just arranged
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
);
