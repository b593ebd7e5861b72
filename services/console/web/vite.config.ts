import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The console's browser app, built offline into dist/ (served by
// services/console). Generated descriptors come from gen/ through the
// package's "#gen/*" import alias, the same files the services use.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    // The page's Content-Security-Policy allows no inline script or style.
    assetsInlineLimit: 0,
  },
});
