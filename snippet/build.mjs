// Builds the snippet served by the Python package, reports its sizes, and fails over budget.
// `--check`: fails if the committed files are not a fresh build.
//
// - callpool.js: src/index.js, what every visitor loads (with the inline stub, src/stub.js);
//   esbuild bundles it into one self-invoking script, terser minifies it (about 3 % smaller
//   gzipped than esbuild's own minifier: the budget is tight).
// - callpool-debug.js: src/debug/view.js, the debug view, fetched only in debug mode.
// - callpool-stub.js: the stub, one line, which the install tag inlines.
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { minify } from 'terser';

const STATIC = new URL('../src/callpool/static/', import.meta.url);
// Bytes, minified + gzip, of the stub and the script together: everything a visitor loads.
// The stub is counted raw: it is inline in the site's HTML, compressed or not.
const BUDGET = 2000;

async function bundle(entry) {
  const result = await build({
    entryPoints: [new URL(entry, import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    target: ['es2020'],
    legalComments: 'none',
    write: false,
  });
  const { code } = await minify(result.outputFiles[0].text, {
    ecma: 2020,
    toplevel: true,
    compress: { passes: 3, unsafe: true, unsafe_arrows: true, pure_getters: true },
    mangle: { toplevel: true },
  });
  return code;
}

const gzip = (code) => gzipSync(code, { level: 9 }).length;
const stub = readFileSync(new URL('src/stub.js', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line && !line.startsWith('//'))
  .join('');
const outputs = {
  'callpool.js': await bundle('src/index.js'),
  'callpool-debug.js': await bundle('src/debug/view.js'),
  'callpool-stub.js': stub,
};

const script = outputs['callpool.js'];
const total = Buffer.byteLength(stub) + gzip(script);
console.log(`callpool.js: ${Buffer.byteLength(script)} bytes raw, ${gzip(script)} bytes min+gzip`);
console.log(`stub: ${Buffer.byteLength(stub)} bytes; a visitor loads ${total} bytes (budget ${BUDGET})`);
const view = outputs['callpool-debug.js'];
console.log(`callpool-debug.js (debug mode only): ${Buffer.byteLength(view)} bytes raw, ${gzip(view)} min+gzip`);
if (total > BUDGET) {
  console.error(`the snippet is over budget by ${total - BUDGET} bytes`);
  process.exit(1);
}

let stale = false;
for (const [name, code] of Object.entries(outputs)) {
  const path = new URL(name, STATIC);
  if (!process.argv.includes('--check')) {
    writeFileSync(path, code);
    continue;
  }
  let committed = '';
  try {
    committed = readFileSync(path, 'utf8');
  } catch {}
  if (committed !== code) {
    console.error(`src/callpool/static/${name} is not the build of snippet/src: run \`npm run build\` in snippet/`);
    stale = true;
  }
}
if (stale) process.exit(1);
