// Builds the graph editor island into static/build/editor/ with fixed names ({% static %} refers to them).
import { resolve } from "node:path";
import { defineConfig } from "vite";

export default defineConfig({
  root: resolve(import.meta.dirname, "src"),
  publicDir: false,
  esbuild: { jsx: "automatic", jsxImportSource: "react" },
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  build: {
    outDir: resolve(import.meta.dirname, "../static/build/editor"),
    emptyOutDir: true,
    modulePreload: false,
    cssCodeSplit: false,
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 900,
    rollupOptions: {
      input: resolve(import.meta.dirname, "src/editor/main.jsx"),
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
      output: {
        format: "es",
        entryFileNames: "editor.js",
        chunkFileNames: "editor-[name].js",
        assetFileNames: "editor.[ext]",
        inlineDynamicImports: true,
      },
    },
  },
});
