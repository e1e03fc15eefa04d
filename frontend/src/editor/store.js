// A tiny external store: nodes subscribe to their own slice (issues, run status) so one change
// re-renders the nodes it concerns, not all 500.
import { useSyncExternalStore } from "react";

export function createStore(initial) {
  let state = initial;
  const listeners = new Set();
  return {
    get: () => state,
    set(patch) {
      state = { ...state, ...(typeof patch === "function" ? patch(state) : patch) };
      for (const l of listeners) l();
    },
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
}

export function useStore(store, select) {
  return useSyncExternalStore(store.subscribe, () => select(store.get()));
}
