// Finding the business number in the page and writing the tracking number in its place.
// The site's own formatting is kept: only digits are replaced, separators stay where they were.
// (`let` where `const` would read as well: the snippet's size is budgeted, see build.mjs.)

// Country codes are prefix-free: 1 and 7 have one digit, these have two, all others three.
const CC2 = /^(2[07]|3[0-469]|4[013-9]|5[1-8]|6[0-6]|8[1246]|9[0-58])/;
// What may stand between two digits of one written number: spaces, dots, dashes, brackets,
// slashes, and the edges of elements (`<span>(512)</span> 555`), marked by a NUL (see `rewrite`).
export const SEP = '[\\0\\s.()/\\-\u2010-\u2015]{0,4}';
// Text that is never changed: code, styles, fields (inputs have no text nodes, their values are
// never touched), what the site marks, what a visitor may be editing.
export const NOSWAP = 'script,style,textarea,[data-callpool-noswap],[contenteditable]';
export const TEL = 'a[href^="tel:" i]';

export const digits = (text) => text.replace(/\D/g, '');

// The national significant number: the digits after the country code.
export const national = (d) => d.slice(/^[17]/.test(d) ? 1 : CC2.test(d) ? 2 : 3);

// Each written form of `from` (E.164 digits) mapped to the same form of `to`:
// international (+1 555…, 1-555…), national with trunk prefix (020 7946…), national (555…).
export function forms(map, from, to) {
  from = digits(from);
  to = digits(to);
  let a = national(from);
  let b = national(to);
  map[from] = to;
  map['0' + a] = '0' + b;
  map[a] = b;
}

// A target that is only a CSS selector: the element's own digits are the number to replace,
// by as many trailing digits of the tracking number (a leading trunk 0 is kept).
function selected(map, text, to) {
  let d = digits(text);
  to = digits(to);
  if (d.length > 5) map[d] = d[0] == 0 ? '0' + to.slice(1 - d.length) : to.slice(-d.length);
}

// No digit may follow a number (`5125550000123` is an order number), but one may come before it:
// the page's text is read as one string (see `swapIn`), and `78701` then `512-555-0000` in two
// blocks of minified HTML read `78701512-555-0000`. Digits right before it are kept.
export function matcher(map) {
  let keys = Object.keys(map);
  return keys.length && RegExp('(' + keys.map((k) => k.split('').join(SEP)).join('|') + ')(?!\\d)', 'g');
}

// Places where a tracking number is shown, counted by the swap in progress (see `swap`).
let found;

// Rewrites numbers in a run of strings read as one text; returns the new strings, or 0 if none changed.
// The strings are joined with a NUL between them: no digit of the next node ends a number
// (`512-555-0000` then `24/7` in the next block).
function rewrite(parts, re, map) {
  let text = parts.join('\0');
  let chars;
  let m;
  // No reset of `re.lastIndex`: a new matcher starts at 0, and the loop ends when `exec` finds
  // nothing, which sets it back to 0.
  while ((m = re.exec(text))) {
    let from = digits(m[1]);
    let to = map[from];
    chars = chars || text.split('');
    found++;
    // Same length: digit for digit. Otherwise the last digit takes the rest (or gives up its own).
    for (let i = m.index, x = 0; i < re.lastIndex; i++)
      if (/\d/.test(chars[i])) chars[i] = ++x < from.length ? to[x - 1] || '' : to.slice(x - 1);
  }
  let at = 0;
  // Each string's characters, then past the NUL after it (`at++`: evaluated, not passed on).
  return chars && parts.map((p) => chars.slice(at, (at += p.length), at++).join(''));
}

function swapIn(root, map) {
  let re = matcher(map);
  let skipped = (el) => el.closest?.(NOSWAP);
  if (!re || skipped(root)) return;
  // All the text under `root`, read as one string: a number split across elements
  // (`<span>(555)</span> 000-1234`) is found, and the digits written back into each node.
  let nodes = [];
  // No filter callback: a JS callback per node is ~17× slower than checking the parent here.
  let walker = document.createTreeWalker(root, 4);
  let node, parent, skip;
  while ((node = walker.nextNode())) {
    if (node.parentNode != parent) skip = skipped((parent = node.parentNode));
    skip || nodes.push(node);
  }
  let out = rewrite(nodes.map((n) => n.data), re, map);
  out && nodes.forEach((n, i) => n.data != out[i] && (n.data = out[i]));
  for (let a of [root, ...root.querySelectorAll(TEL)])
    a.matches?.(TEL) &&
      !skipped(a) &&
      (out = rewrite([a.getAttribute('href')], re, map)) &&
      a.setAttribute('href', out[0]);
}

// Returns how many places show a tracking number: the business number just replaced, and, from
// the second pass on (`shown` then maps each number to itself), those replaced before.
export function swap(root, numbers, shown) {
  let map = {};
  found = 0;
  for (let e of numbers) {
    if (e.selector) {
      root.querySelectorAll(e.selector).forEach((el) => {
        let own = {};
        if (e.target) forms(own, e.target, e.number);
        else selected(own, el.textContent, e.number);
        swapIn(el, own);
      });
    } else if (e.target) {
      forms(map, e.target, e.number);
      if (shown[e.pool]) forms(map, shown[e.pool], e.number);
    }
    shown[e.pool] = e.number;
  }
  swapIn(root, map);
  return found;
}
