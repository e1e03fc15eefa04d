// Undo/redo for the editor: snapshots of the whole graph (nodes, edges, meta, name) taken before each
// change; a burst of the same change (typing in one field, nudging with the keyboard) is one step.
import { useCallback, useRef, useState } from "react";

/** Undo/redo restore the graph, not the selection: keep what is selected now (when it still exists). */
export function keepSelection(target, current) {
  const selNodes = new Set(current.nodes.filter((n) => n.selected).map((n) => n.id));
  const selEdges = new Set(current.edges.filter((e) => e.selected).map((e) => e.id));
  const fix = (list, sel) => list.map((x) => (Boolean(x.selected) === sel.has(x.id) ? x : { ...x, selected: sel.has(x.id) }));
  return { ...target, nodes: fix(target.nodes, selNodes), edges: fix(target.edges, selEdges) };
}

/** graphRef: the current graph (a ref the editor keeps in step with its state); update(fn): replaces it.
 * Returns {hist, record(key?, windowMs?), change(key, fn), undo(), redo()}; `hist.current` holds the
 * stacks, and the editor re-renders when they change (the toolbar's buttons). */
export function useHistory(graphRef, update) {
  const hist = useRef({ undo: [], redo: [], key: null, at: 0, counter: 0 });
  const [, setHistTick] = useState(0);

  /** Remember the current graph for undo; `key` merges a burst of the same change (typing) into one step. */
  const record = useCallback((key = null, windowMs = 1200) => {
    const h = hist.current, now = Date.now();
    if (key && h.key === key && now - h.at < windowMs) { h.at = now; return; }
    h.undo.push(graphRef.current);
    if (h.undo.length > 300) h.undo.shift();
    h.redo = [];
    h.key = key; h.at = now;
    graphRef.current = { ...graphRef.current, rev: ++h.counter };
    setHistTick((t) => t + 1);
  }, []);
  const change = useCallback((key, fn) => { record(key); update(fn); }, [record, update]);

  const undo = useCallback(() => {
    const h = hist.current;
    if (!h.undo.length) return;
    h.redo.push(graphRef.current);
    h.key = null;
    update((g) => keepSelection(h.undo.pop(), g));
    setHistTick((t) => t + 1);
  }, [update]);
  const redo = useCallback(() => {
    const h = hist.current;
    if (!h.redo.length) return;
    h.undo.push(graphRef.current);
    h.key = null;
    update((g) => keepSelection(h.redo.pop(), g));
    setHistTick((t) => t + 1);
  }, [update]);

  return { hist, record, change, undo, redo };
}
