// Builds the graph editor island into static/build/editor/ with fixed names ({% static %} refers to them).
import { resolve } from "node:path";
import { defineConfig } from "vite";

/** Patches of React Flow, applied at build time. (1) React Flow draws every edge in an <svg> of its own
 * (so each can carry a z-index). At the graph limit that is ~500 SVG roots in view, each a paint chunk
 * the compositor re-layers on every frame of a pan (the editor bench's trace: Layerize was the largest
 * item). This puts all edges in one <svg>: each edge is its <g> as before (same classes, handlers,
 * test ids), drawn under every node. We elevate no edge (elevateEdgesOnSelect is off; nested run-canvas
 * edges lie under their group's open frame), so nothing is lost. (2) Nodes near the view stay mounted
 * (below). The build fails if React Flow's code changes shape, rather than silently not patching. */
function reactFlowPatches() {
  const patches = [
    ['return (jsx("svg", { style: { zIndex }, children: jsxs("g", { className: cc([', 'return (jsxs("g", { className: cc(['],
    ["setReconnecting: setReconnecting }))] }) }));", "setReconnecting: setReconnecting }))] }));"],
    ['jsxs("div", { className: "react-flow__edges", children: [', 'jsxs("svg", { className: "react-flow__edges", children: ['],
    // (onlyRenderVisibleElements) A node that leaves the view stays mounted until it is KEEP_NEAR px
    // (of the screen) outside it: a pan back and forth, or a drag that wobbles, does not unmount and
    // remount the nodes along the edge of the view on every turn. Mounting nodes is what the late frames
    // of a pan over a big graph spend their time on (bench/pan_trace.py). One set per NodeRenderer; the
    // selector gives the same answer when React calls it twice for one state.
    [`const selector$c = (onlyRenderVisible) => (s) => {
    return onlyRenderVisible
        ? getNodesInside(s.nodeLookup, { x: 0, y: 0, width: s.width, height: s.height }, s.transform, true).map((node) => node.id)
        : Array.from(s.nodeLookup.keys());
};`, `const KEEP_NEAR = 200;
const selector$c = (onlyRenderVisible) => {
    let kept = new Set();
    return (s) => {
        if (!onlyRenderVisible)
            return Array.from(s.nodeLookup.keys());
        const near = getNodesInside(s.nodeLookup, { x: -KEEP_NEAR, y: -KEEP_NEAR, width: s.width + 2 * KEEP_NEAR, height: s.height + 2 * KEEP_NEAR }, s.transform, true);
        const inView = new Set(getNodesInside(new Map(near.map((node) => [node.id, node])), { x: 0, y: 0, width: s.width, height: s.height }, s.transform, true).map((node) => node.id));
        const ids = near.filter((node) => inView.has(node.id) || kept.has(node.id)).map((node) => node.id);
        kept = new Set(ids);
        return ids;
    };
};`],
  ];
  return {
    name: "kaizen-react-flow-patches",
    transform(code, id) {
      if (!id.replaceAll("\\", "/").includes("@xyflow/react/dist/esm/index")) return null;
      for (const [from, to] of patches) {
        if (code.split(from).length !== 2) throw new Error(`kaizen-react-flow-patches: React Flow changed; expected once: ${from}`);
        code = code.replace(from, to);
      }
      return { code, map: null };
    },
  };
}

export default defineConfig({
  root: resolve(import.meta.dirname, "src"),
  publicDir: false,
  plugins: [reactFlowPatches()],
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
