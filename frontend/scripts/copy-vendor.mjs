// Copies vendored browser assets from node_modules into static/build (served by the app itself).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, "../../static/build");
mkdirSync(out, { recursive: true });
copyFileSync(resolve(here, "../node_modules/htmx.org/dist/htmx.min.js"), resolve(out, "htmx.min.js"));
console.log("vendor assets copied to", out);
// audit dashboard charts
copyFileSync(resolve(here, "../node_modules/chart.js/dist/chart.umd.min.js"), resolve(out, "chart.umd.min.js"));
