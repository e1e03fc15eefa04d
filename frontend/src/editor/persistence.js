// Persistence helpers of the editor: the live check against the server while drawing, the local draft
// that survives a crash or a closed tab, and the warning before leaving with unsaved changes. (Saving
// itself stays in Editor.jsx: it needs the dialogs and the toasts.)
import { useEffect } from "react";
import { flowToSpec, mapIssues, serverPorts } from "./model.js";

/** Problems show up while drawing, not only on save: 600 ms after the last change, the server checks
 * the document; its answer also carries each node's exact ports (computed by the engine). */
export function useLiveCheck(rev, graphRef, api, checkUrl, store, setIssues) {
  useEffect(() => {
    if (rev === 0) return undefined;
    const t = setTimeout(async () => {
      const snapshot = graphRef.current;
      const { spec, edgeIds } = flowToSpec(snapshot);
      try {
        const res = await api.post(checkUrl, { spec });
        const ports = { ...store.get().ports };
        for (const n of snapshot.nodes) if (res.ports[n.id]) ports[n.id] = { config: n.data.config, ports: serverPorts(res.ports[n.id]) };
        store.set({ ports });
        if (graphRef.current.rev === rev) setIssues(mapIssues(res.errors, edgeIds, graphRef.current.nodes, graphRef.current.edges), "live check");
      } catch { /* offline: the save will tell */ }
    }, 600);
    return () => clearTimeout(t);
  }, [rev, graphRef, api, checkUrl, setIssues, store]);
}

/** Unsaved work survives a crash or a closed tab: a local draft (1 s after the last change) until the
 * next successful save. */
export function useDraftAutosave(draftKey, rev, savedRev, graphRef, infoRef) {
  useEffect(() => {
    if (!draftKey || rev === savedRev) return undefined;
    const t = setTimeout(() => {
      try {
        localStorage.setItem(draftKey, JSON.stringify({ base_version: infoRef.current.version, name: graphRef.current.name,
          saved_at: new Date().toISOString(), spec: flowToSpec(graphRef.current).spec }));
      } catch { /* storage full or disabled */ }
    }, 1000);
    return () => clearTimeout(t);
  }, [rev, savedRev, draftKey, graphRef, infoRef]);
}

/** The browser asks before leaving the page with unsaved changes. */
export function useLeaveWarning(enabled, graphRef, infoRef) {
  useEffect(() => {
    if (!enabled) return undefined;
    const warn = (e) => { if (graphRef.current.rev !== infoRef.current.savedRev) { e.preventDefault(); e.returnValue = ""; } };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [enabled, graphRef, infoRef]);
}
