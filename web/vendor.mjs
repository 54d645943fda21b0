// Copy the dashboard's front-end libraries from node_modules into the Python package.
// The copies are committed: `callpool serve` needs no Node. With --check, fail if a copy
// differs from the installed package (a version bump without `npm run vendor`).
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "src", "callpool", "dashboard", "static", "vendor");
const files = {
  "htmx.org/dist/htmx.min.js": "htmx.min.js",
  "uplot/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
  "uplot/dist/uPlot.min.css": "uPlot.min.css",
};

const check = process.argv.includes("--check");
mkdirSync(target, { recursive: true });
let stale = 0;
for (const [source, name] of Object.entries(files)) {
  const from = join(here, "node_modules", source);
  const to = join(target, name);
  if (check) {
    if (!existsSync(to) || !readFileSync(from).equals(readFileSync(to))) {
      console.error(`stale: ${name} (run npm run vendor in web/)`);
      stale += 1;
    }
  } else {
    copyFileSync(from, to);
    console.log(`vendored ${name}`);
  }
}
process.exit(stale ? 1 : 0);
