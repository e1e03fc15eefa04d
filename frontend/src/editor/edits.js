// Edits of nodes and graph settings from the inspector, each one undoable step through `change`
// (history.js): config (keeping edges on renamed ports, dropping those to deleted ones), label, id,
// deletion, the graph's input/output fields, name and description.
import { useCallback } from "react";
import { INPUTS, OUTPUTS, edgeId } from "./model.js";

export function useGraphEdits(change, graphRef, portsFor, toast) {
  const reconcile = useCallback((g, id, before) => {
    // keep edges attached when a port is renamed in place; drop edges to ports that are gone
    const node = g.nodes.find((n) => n.id === id);
    if (!node) return g;
    const after = portsFor(node, g.meta);
    const renames = { inputs: new Map(), outputs: new Map() };
    for (const side of ["inputs", "outputs"]) {
      if (before[side].length === after[side].length) {
        before[side].forEach((p, i) => { if (p.name !== after[side][i].name) renames[side].set(p.name, after[side][i].name); });
      }
    }
    const hasIn = new Set(after.inputs.map((p) => p.name)), hasOut = new Set(after.outputs.map((p) => p.name));
    let dropped = 0;
    const edges = [];
    for (let e of g.edges) {
      if (e.data?.kind !== "error") {
        if (e.target === id && renames.inputs.has(e.targetHandle)) e = { ...e, targetHandle: renames.inputs.get(e.targetHandle) };
        if (e.source === id && renames.outputs.has(e.sourceHandle)) e = { ...e, sourceHandle: renames.outputs.get(e.sourceHandle) };
        if ((e.target === id && !hasIn.has(e.targetHandle)) || (e.source === id && !hasOut.has(e.sourceHandle))) { dropped++; continue; }
        e = e.id === edgeId(e) ? e : { ...e, id: edgeId(e) };
      }
      edges.push(e);
    }
    if (dropped) toast(`Removed ${dropped} edge${dropped > 1 ? "s" : ""} to a deleted port (Ctrl+Z to undo)`, "info");
    return edges.length === g.edges.length && edges.every((e, i) => e === g.edges[i]) ? g : { ...g, edges };
  }, [portsFor, toast]);

  const setConfig = useCallback((id, cfg) => {
    change(`cfg:${id}`, (g) => {
      const old = g.nodes.find((n) => n.id === id);
      const before = portsFor(old, g.meta);
      const next = { ...g, nodes: g.nodes.map((n) => (n.id === id ? { ...n, data: { ...n.data, config: cfg } } : n)) };
      return reconcile(next, id, before);
    });
  }, [change, portsFor, reconcile]);
  const setLabel = useCallback((id, label) => {
    change(`label:${id}`, (g) => ({ ...g, nodes: g.nodes.map((n) => (n.id === id ? { ...n, data: { ...n.data, label } } : n)) }));
  }, [change]);
  const renameNode = useCallback((id, to) => {
    if (graphRef.current.nodes.some((n) => n.id === to)) return `${to} is taken`;
    change(null, (g) => ({ ...g,
      nodes: g.nodes.map((n) => (n.id === id ? { ...n, id: to } : n)),
      edges: g.edges.map((e) => {
        if (e.source !== id && e.target !== id) return e;
        const ne = { ...e, source: e.source === id ? to : e.source, target: e.target === id ? to : e.target };
        return { ...ne, id: edgeId(ne) };
      }) }));
    return null;
  }, [change]);
  const deleteSelection = useCallback(() => {
    change(null, (g) => {
      const gone = new Set(g.nodes.filter((n) => n.selected && n.deletable !== false).map((n) => n.id));
      return { ...g, nodes: g.nodes.filter((n) => !gone.has(n.id)),
        edges: g.edges.filter((e) => !e.selected && !gone.has(e.source) && !gone.has(e.target)) };
    });
  }, [change]);
  const setFields = useCallback((side, fields, rename) => {
    change(`fields:${side}`, (g) => {
      const io = side === "inputs" ? INPUTS : OUTPUTS;
      const end = side === "inputs" ? ["source", "sourceHandle"] : ["target", "targetHandle"];
      let edges = g.edges;
      if (rename) {
        edges = edges.flatMap((e) => {
          if (e[end[0]] !== io || e[end[1]] !== rename.from) return [e];
          if (!rename.to) return [];
          const ne = { ...e, [end[1]]: rename.to };
          return [{ ...ne, id: edgeId(ne) }];
        });
      }
      return { ...g, edges, meta: { ...g.meta, [side]: fields } };
    });
  }, [change]);
  const setName = useCallback((name) => change("name", (g) => ({ ...g, name })), [change]);
  const setDescription = useCallback((description) => change("desc", (g) => ({ ...g, meta: { ...g.meta, description } })), [change]);

  return { setConfig, setLabel, renameNode, deleteSelection, setFields, setName, setDescription };
}
