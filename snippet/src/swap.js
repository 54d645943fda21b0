// Finding the business number in the page and writing the tracking number in its place.
// The site's own formatting is kept: only digits are replaced, separators stay where they were.

// Country codes are prefix-free: 1 and 7 have one digit, these have two, all others three.
const CC2 = /^(2[07]|3[0-469]|4[013-9]|5[1-8]|6[0-6]|8[1246]|9[0-58])/;
// What may stand between two digits of one written number: spaces, dots, dashes, brackets, slashes.
const SEP = '[\\s.()/\\-\u2010-\u2015]{0,3}';
// Inline elements do not end a number: `<span>(555)</span> 000-1234` is read as one string.
const INLINE = new Set('A ABBR B CODE EM FONT I LABEL MARK SMALL SPAN STRONG SUB SUP U'.split(' '));
// Elements whose text is never changed; inputs have no text nodes, their values are never touched.
const RAW = /^(SCRIPT|STYLE|TEXTAREA)$/;
const NOSWAP = '[data-callpool-noswap],[contenteditable]';
export const TEL = 'a[href^="tel:" i]';

export const digits = (text) => text.replace(/\D/g, '');

// The national significant number: the digits after the country code.
const national = (d) => d.slice(d[0] == 1 || d[0] == 7 ? 1 : CC2.test(d) ? 2 : 3);

// Each written form of `from` (E.164 digits) mapped to the same form of `to`:
// international (+1 555…, 1-555…), national with trunk prefix (020 7946…), national (555…).
function forms(map, from, to) {
  from = digits(from);
  to = digits(to);
  const a = national(from);
  const b = national(to);
  map[from] = to;
  map['0' + a] = '0' + b;
  map[a] = b;
}

// A target that is only a CSS selector: the element's own digits are the number to replace,
// by as many trailing digits of the tracking number (a leading trunk 0 is kept).
function selected(map, text, to) {
  const d = digits(text);
  to = digits(to);
  if (d.length > 5) map[d] = d[0] == 0 ? '0' + to.slice(1 - d.length) : to.slice(-d.length);
}

function matcher(map) {
  const keys = Object.keys(map).sort((a, b) => b.length - a.length);
  // `(^|\D)` rather than a lookbehind, which older Safari cannot parse.
  return keys.length && RegExp('(^|\\D)(' + keys.map((k) => k.split('').join(SEP)).join('|') + ')(?!\\d)', 'g');
}

// Rewrites numbers in a run of strings read as one text; returns the new strings, or 0 if none changed.
function rewrite(parts, re, map) {
  const text = parts.join('');
  let chars;
  let m;
  re.lastIndex = 0;
  while ((m = re.exec(text))) {
    const to = map[digits(m[2])];
    const slots = [];
    chars = chars || text.split('');
    for (let i = m.index + m[1].length; i < re.lastIndex; i++) if (chars[i] >= '0' && chars[i] <= '9') slots.push(i);
    // Same length: digit for digit. Otherwise the last slot takes the rest (or gives up its digit).
    slots.forEach((p, x) => (chars[p] = x < slots.length - 1 ? to[x] || '' : to.slice(x)));
  }
  let at = 0;
  return chars && parts.map((p) => chars.slice(at, (at += p.length)).join(''));
}

function swapIn(root, map) {
  const re = matcher(map);
  if (!re || root.closest?.(NOSWAP)) return;
  // Few on any page: a parent inside one of them is skipped.
  const skips = [...root.querySelectorAll(NOSWAP)];
  const skipped = (el) => RAW.test(el.tagName) || skips.some((s) => s.contains(el));
  // A run of text nodes in one block is read as one text, from its first digit on.
  let group = [];
  const flush = () => {
    const out = group[0] && rewrite(
      group.map((n) => n.data),
      re,
      map,
    );
    if (out) group.forEach((n, i) => n.data != out[i] && (n.data = out[i]));
    group = [];
  };
  // No filter callback: a JS callback per node is ~17× slower than checking the parent here.
  const walker = document.createTreeWalker(root, 4);
  let node, parent, skip, container, b;
  while ((node = walker.nextNode())) {
    if (node.parentNode != parent) {
      parent = b = node.parentNode;
      skip = skipped(parent);
      while (INLINE.has(b.tagName) && b.parentNode) b = b.parentNode;
    }
    if (skip) continue;
    if (b != container) flush(), (container = b);
    // Most text has no digit at all: such a run is never joined nor matched.
    if (group[0] || /\d/.test(node.data)) group.push(node);
  }
  flush();
  for (const a of [root, ...root.querySelectorAll(TEL)]) {
    if (a.matches?.(TEL) && !skipped(a)) {
      const out = rewrite([a.getAttribute('href')], re, map);
      if (out) a.setAttribute('href', out[0]);
    }
  }
}

export function swap(root, numbers, shown) {
  const map = {};
  for (const e of numbers) {
    if (e.selector) {
      root.querySelectorAll(e.selector).forEach((el) => {
        const own = {};
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
}
