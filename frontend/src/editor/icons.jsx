// Kind icons (registry "icon" names, lucide-style strokes). Unknown names fall back to a box.
const P = {
  bot: ["M12 8V4H8", "M4 8h16v12H4z", "M2 14h2", "M20 14h2", "M15 13v2", "M9 13v2"],
  box: ["M21 8l-9-5-9 5v8l9 5 9-5z", "M3 8l9 5 9-5", "M12 13v8"],
  "git-branch": ["M6 3v12", "M18 9a3 3 0 1 0 0-6 3 3 0 0 0 0 6z", "M6 21a3 3 0 1 0 0-6 3 3 0 0 0 0 6z", "M18 9a9 9 0 0 1-9 9"],
  split: ["M16 3h5v5", "M8 3H3v5", "M12 22v-8.3a4 4 0 0 0-1.2-2.9L3 3", "M21 3l-7.8 7.8"],
  users: ["M16 21v-2a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v2", "M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M22 21v-2a4 4 0 0 0-3-3.9", "M16 3.1a4 4 0 0 1 0 7.8"],
  vote: ["M9 12l2 2 4-4", "M5 7c0-1.1.9-2 2-2h10a2 2 0 0 1 2 2v12H5z", "M22 19H2"],
  shield: ["M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z"],
  "life-buoy": ["M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "M12 16a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M4.9 4.9l4.3 4.3", "M14.8 14.8l4.3 4.3", "M14.8 9.2l4.3-4.3", "M4.9 19.1l4.3-4.3"],
  "list-checks": ["M10 6h11", "M10 12h11", "M10 18h11", "M3 6l1 1 2-2", "M3 12l1 1 2-2", "M3 18l1 1 2-2"],
  repeat: ["M17 1l4 4-4 4", "M3 11V9a4 4 0 0 1 4-4h14", "M7 23l-4-4 4-4", "M21 13v2a4 4 0 0 1-4 4H3"],
  database: ["M12 8c4.4 0 8-1.3 8-3s-3.6-3-8-3-8 1.3-8 3 3.6 3 8 3z", "M4 5v14c0 1.7 3.6 3 8 3s8-1.3 8-3V5", "M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3"],
  wrench: ["M14.7 6.3a1 1 0 0 0 0 1.4l1.6 1.6a1 1 0 0 0 1.4 0l3.8-3.8a6 6 0 0 1-7.9 7.9l-6.9 6.9a2.1 2.1 0 0 1-3-3l6.9-6.9a6 6 0 0 1 7.9-7.9z"],
  "message-square": ["M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"],
  filter: ["M22 3H2l8 9.5V19l4 2v-8.5z"],
  merge: ["M8 6l4-4 4 4", "M12 2v10.3a4 4 0 0 1-1.2 2.9L4 22", "M20 22l-5-5"],
  code: ["M16 18l6-6-6-6", "M8 6l-6 6 6 6"],
  sparkles: ["M12 3l1.9 5.8L20 11l-6.1 2.2L12 19l-1.9-5.8L4 11l6.1-2.2z"],
  brain: ["M12 5a3 3 0 1 0-6 .1 4 4 0 0 0-2.5 5.8A4 4 0 0 0 6 18a4 4 0 0 0 6 1z", "M12 5a3 3 0 1 1 6 .1 4 4 0 0 1 2.5 5.8A4 4 0 0 1 18 18a4 4 0 0 1-6 1z"],
  search: ["M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16z", "M21 21l-4.3-4.3"],
  check: ["M20 6L9 17l-5-5"],
  "check-circle": ["M22 11.1V12a10 10 0 1 1-5.9-9.1", "M22 4L12 14l-3-3"],
  clock: ["M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "M12 6v6l4 2"],
  zap: ["M13 2L3 14h9l-1 8 10-12h-9z"],
  "log-in": ["M15 3h4a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2h-4", "M10 17l5-5-5-5", "M15 12H3"],
  "log-out": ["M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4", "M16 17l5-5-5-5", "M21 12H9"],
  target: ["M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "M12 18a6 6 0 1 0 0-12 6 6 0 0 0 0 12z", "M12 14a2 2 0 1 0 0-4 2 2 0 0 0 0 4z"],
  eye: ["M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12z", "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z"],
  "alert-triangle": ["M10.3 3.9L1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z", "M12 9v4", "M12 17h.01"],
};

export function Icon({ name, size = 16, className = "" }) {
  const paths = P[name] || P.box;
  return (
    <svg className={`kz-icon ${className}`} width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor"
      strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
      {paths.map((d) => <path key={d} d={d} />)}
    </svg>
  );
}

/** The accent colours of editor.css's .cat-0 … .cat-5 (and the io nodes'), for icons drawn as images. */
const ACCENTS = ["#3b5bdb", "#0c8599", "#e8590c", "#7048e8", "#2b8a3e", "#c2255c"];
const IO_ACCENT = "#495057";
const srcCache = new Map();

/** A node's icon as an <img> of an SVG data URI (one per icon and colour, cached): on the canvas an inline
 * <svg> per node is its own paint chunk with its own transform, which a pan over hundreds of mounted nodes
 * re-layerizes on every frame; an image is one draw. img-src allows data: (settings.py's CSP). */
export function NodeIcon({ name, accent, size = 15 }) {
  const color = accent === "io" ? IO_ACCENT : ACCENTS[Number(String(accent).replace("cat-", ""))] || IO_ACCENT;
  const key = `${name}|${color}`;
  let src = srcCache.get(key);
  if (!src) {
    const paths = (P[name] || P.box).map((d) => `<path d='${d}'/>`).join("");
    src = `data:image/svg+xml,${encodeURIComponent(`<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' fill='none' stroke='${color}' stroke-width='2' stroke-linecap='round' stroke-linejoin='round'>${paths}</svg>`)}`;
    srcCache.set(key, src);
  }
  return <img className="kz-icon" src={src} width={size} height={size} alt="" draggable={false} />;
}

/** A stable accent class per category, so all kinds of one category share a color. */
export function categoryClass(category) {
  const s = String(category || "");
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  const known = { agents: 0, control: 1, flow: 1, reliability: 2, planning: 3, human: 3, memory: 4, tools: 5 };
  return `cat-${s in known ? known[s] : h % 6}`;
}
