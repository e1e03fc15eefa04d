// The editor's keyboard: shortcuts on the window, and paste of copied nodes (from the system clipboard
// when the browser hands it over, else from the editor's own copy in localStorage).
import { useEffect } from "react";
import { readClipboard } from "./clipboard.js";

export const TYPING = "input, textarea, select, [contenteditable='true']";

/** actions: a ref to {save, undo, redo, copy, duplicate, selectAll, clearSelection, layout, paste, modal,
 * toggleSnap, help}, refreshed on every render (so the listeners, added once, see the current ones). */
export function useKeyboard(actions, rf) {
  useEffect(() => {
    let pastedByEvent = false;
    const onPaste = (e) => {
      if (e.target.closest?.(TYPING) || actions.current.modal) return;
      const payload = readClipboard(e.clipboardData?.getData("text/plain"));
      if (payload) { e.preventDefault(); pastedByEvent = true; actions.current.paste(payload); }
    };
    const onKey = (e) => {
      const a = actions.current;
      const mod = e.ctrlKey || e.metaKey;
      const k = e.key.toLowerCase();
      if (a.modal?.type === "subgraph") return; // the nested editor has the keyboard
      if (mod && k === "s") { e.preventDefault(); a.save(); return; }
      if (e.target.closest?.(TYPING) || a.modal) return;
      if (mod && k === "z") { e.preventDefault(); if (e.shiftKey) a.redo(); else a.undo(); }
      else if (mod && k === "y") { e.preventDefault(); a.redo(); }
      else if (mod && k === "c") a.copy();
      else if (mod && k === "v") {
        pastedByEvent = false;
        setTimeout(() => { if (!pastedByEvent) a.paste(readClipboard(localStorage.getItem("kaizen-clipboard"))); }, 80);
      } else if (mod && k === "d") { e.preventDefault(); a.duplicate(); }
      else if (mod && k === "a") { e.preventDefault(); a.selectAll(); }
      else if (mod || e.altKey) return;
      else if (k === "f") rf.fitView({ duration: 250, padding: 0.15 });
      else if (k === "l") a.layout();
      else if (k === "g") a.toggleSnap();
      else if (e.key === "?") a.help();
      else if (k === "escape") a.clearSelection();
    };
    window.addEventListener("keydown", onKey);
    document.addEventListener("paste", onPaste);
    return () => { window.removeEventListener("keydown", onKey); document.removeEventListener("paste", onPaste); };
  }, [actions, rf]);
}
