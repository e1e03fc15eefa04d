// Builds the graph editor island into static/build/editor/ with fixed names ({% static %} refers to them).
import { resolve } from "node:path";
import { defineConfig } from "vite";

/** React Flow draws every edge in an <svg> of its own (so each can carry a z-index). At the graph limit
 * that is ~500 SVG roots in view, each a paint chunk the compositor re-layers on every frame of a pan
 * (the editor bench's trace: Layerize was the largest item). This puts all edges in one <svg>: each
 * edge is its <g> as before (same classes, handlers, test ids), drawn under every node. We elevate no
 * edge (elevateEdgesOnSelect is off; nested run-canvas edges lie under their group's open frame), so
 * nothing is lost. The build fails if React Flow's code changes shape, rather than silently not patching. */
function oneEdgeSvg() {
  const patches = [
    ['return (jsx("svg", { style: { zIndex }, children: jsxs("g", { className: cc([', 'return (jsxs("g", { className: cc(['],
    ["setReconnecting: setReconnecting }))] }) }));", "setReconnecting: setReconnecting }))] }));"],
    ['jsxs("div", { className: "react-flow__edges", children: [', 'jsxs("svg", { className: "react-flow__edges", children: ['],
  ];
  return {
    name: "kaizen-one-edge-svg",
    transform(code, id) {
      if (!id.replaceAll("\\", "/").includes("@xyflow/react/dist/esm/index")) return null;
      for (const [from, to] of patches) {
        if (code.split(from).length !== 2) throw new Error(`kaizen-one-edge-svg: React Flow changed; expected once: ${from}`);
        code = code.replace(from, to);
      }
      return { code, map: null };
    },
  };
}

export default defineConfig({
  root: resolve(import.meta.dirname, "src"),
  publicDir: false,
  plugins: [oneEdgeSvg()],
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
