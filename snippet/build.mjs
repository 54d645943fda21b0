// Builds src/ into one self-invoking script served by the Python package, reports its raw and
// gzip sizes, and fails over budget. `--check`: fails if the committed file is not a fresh build.
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const OUT = new URL('../src/callpool/static/callpool.js', import.meta.url);
const BUDGET = 2500; // bytes, minified + gzip; we aim for 2,000

const result = await build({
  entryPoints: [new URL('src/index.js', import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  legalComments: 'none',
  write: false,
});
const code = result.outputFiles[0].text;
const raw = Buffer.byteLength(code);
const gzip = gzipSync(code, { level: 9 }).length;
console.log(`callpool.js: ${raw} bytes raw, ${gzip} bytes min+gzip (budget ${BUDGET})`);
if (gzip > BUDGET) {
  console.error(`callpool.js is over budget by ${gzip - BUDGET} bytes`);
  process.exit(1);
}

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(OUT, 'utf8');
  } catch {}
  if (committed !== code) {
    console.error('src/callpool/static/callpool.js is not the build of snippet/src: run `npm run build` in snippet/');
    process.exit(1);
  }
} else {
  writeFileSync(OUT, code);
}
