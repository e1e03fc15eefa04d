// A tiny external store: nodes subscribe to their own slice (issues, run status) so one change
// re-renders the nodes it concerns, not all 500.
import { useRef, useSyncExternalStore } from "react";

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

function shallowEqual(a, b) {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.is(a[k], b[k]));
}

/** Several values in one subscription (one per node instead of one per value); re-renders on a shallow change. */
export function useStoreShallow(store, select) {
  const last = useRef(null);
  const get = () => {
    const next = select(store.get());
    if (last.current && shallowEqual(last.current, next)) return last.current;
    last.current = next;
    return next;
  };
  return useSyncExternalStore(store.subscribe, get);
}
