// Text widths measured with the page's own fonts (a canvas 2D context, cached per string), so that a
// node is drawn exactly wide enough for its title and port names: nothing is cut, and the width is
// the same in full and in low detail (edges keep their ends), with no DOM measuring.

let ctx = null;
let current = ""; // the context's font: setting ctx.font parses the string, so only when it changes
const fonts = {};
const cache = new Map();

const FONTS = {};
function font(kind) {
  if (FONTS[kind]) return FONTS[kind];
  if (!fonts.sans) {
    const root = getComputedStyle(document.documentElement);
    const sans = getComputedStyle(document.body).fontFamily || "sans-serif";
    const mono = root.getPropertyValue("--mono").trim() || "monospace";
    Object.assign(fonts, { sans, mono });
  }
  Object.assign(FONTS, { title: `600 13px ${fonts.sans}`, port: `12.5px ${fonts.sans}`, tag: `10px ${fonts.mono}`, kind: `10.5px ${fonts.mono}`,
    member: `600 11.5px ${fonts.sans}`, detail: `10.5px ${fonts.mono}` });
  return FONTS[kind];
}

/** Width in CSS pixels of `text` in one of the node's fonts (title, port, tag, kind, member, detail). */
export function textWidth(text, kind) {
  const key = `${kind}\u0000${text}`;
  let w = cache.get(key);
  if (w === undefined) {
    ctx ||= document.createElement("canvas").getContext("2d");
    if (current !== kind) { ctx.font = font(kind); current = kind; }
    w = Math.ceil(ctx.measureText(text).width);
    if (cache.size > 20000) cache.clear();
    cache.set(key, w);
  }
  return w;
}
