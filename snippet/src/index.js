// The callpool snippet: one global, `callpool`, replacing the stub that queued earlier calls.
//
//   <script>window.callpool=window.callpool||function(){(callpool.q=callpool.q||[]).push(arguments)}</script>
//   <script async src="https://calls.example.com/s/callpool.<hash>.js" data-key="SITE_KEY"></script>
//
// First pageview of a session: one request, then the swap. Later pageviews: the swap runs at
// once from first-party storage, before any request, then a beacon records the pageview.
import { log, mark, overlay } from './debug.js';
import { beacon, post } from './net.js';
import { load, save } from './store.js';
import { TEL, digits, swap } from './swap.js';

const w = window;
const d = document;
const now = Date.now;

// Any error is logged (in debug mode) and swallowed: the host page must never break.
const safe =
  (f) =>
  (...a) => {
    try {
      return f(...a);
    } catch (e) {
      log(e);
    }
  };
// Capture phase: a page that stops propagation still lets us see its tel: clicks.
const on = (target, type, f) => target.addEventListener(type, safe(f), true);

mark('start');
// A tag without its data-key gets a 400 from the server (seen in the console), never an error.
const script = d.currentScript || d.querySelector('script[data-key]') || d.createElement('script');
const cfg = script.dataset;
const server = cfg.server || new URL(script.src, location).origin;
const storeKey = 'callpool:' + cfg.key;
let consent = cfg.consent != 'required';
// The visit answer {v, s, exp, hb, src, numbers, bot}, plus `l`: the lease length in ms.
let state;
const shown = {};
let seen;
let timer;
let beating;

const live = () => state && state.s && state.exp > now();
const keep = () => consent && save(storeKey, state);
const send = (path, body) => beacon(server + '/t/' + path, { k: cfg.key, s: state.s, ...body });

const observer = new MutationObserver(() => {
  clearTimeout(timer);
  timer = setTimeout(safe(apply), 100);
});

function apply(root) {
  if (!state || !d.body) return;
  mark('swap');
  swap(root || d.body, state.numbers, shown);
  mark('swapped');
  overlay(state);
  // Our own writes are not DOM changes to react to.
  observer.takeRecords();
  observer.observe(d.documentElement, { childList: 1, subtree: 1, characterData: 1 });
  if (!beating && state.hb)
    beating = setInterval(safe(() => !d.hidden && extend('heartbeat')), state.hb * 1e3);
}

// The server extends the lease on each pageview and heartbeat; storage keeps the same expiry.
function extend(path, body) {
  if (!live()) return;
  state.exp = now() + state.l;
  keep();
  send(path, body);
  log(path);
}

function page() {
  seen = location.href;
  if (live()) {
    log('stored', state);
    apply();
    return extend('pageview', { u: seen, t: d.title });
  }
  const old = state || {};
  post(
    server + '/t/visit',
    { k: cfg.key, v: old.v || null, s: old.s || null, u: seen, r: d.referrer, t: d.title },
    safe((r) => {
      log('visit', r);
      state = r;
      r.l = r.exp - now();
      keep();
      apply();
    }),
    (why) => log('no answer', why),
  );
}

const navigated = safe(() => location.href != seen && page());

const commands = {
  swap: (node) => apply(node),
  // Withdrawn consent also forgets what was stored.
  consent: (yes) => save(storeKey, (consent = !!yes) && state),
};

const api = safe((name, arg) => commands[name](arg));
const queued = w.callpool?.q || [];
w.callpool = api;
// Consent given before the script loaded must apply before storage is first read.
queued.forEach((args) => api(...args));

safe(() => {
  if (consent) state = load(storeKey);
  page();
  if (d.readyState == 'loading') on(d, 'DOMContentLoaded', () => apply());
  for (const name of ['pushState', 'replaceState']) {
    const original = history[name];
    history[name] = (...args) => {
      const result = original.apply(history, args);
      navigated();
      return result;
    };
  }
  w.addEventListener('popstate', navigated);
  // A page restored from the back/forward cache is a new pageview, maybe of an expired session.
  on(w, 'pageshow', (e) => e.persisted && page());
  on(d, 'visibilitychange', () => !d.hidden && extend('heartbeat'));
  // Leaving: one last beacon marks the time of the last activity.
  on(w, 'pagehide', () => extend('heartbeat'));
  on(d, 'click', (e) => {
    const a = e.target.closest?.(TEL);
    if (!a || !live()) return;
    const h = digits(a.getAttribute('href')).replace(/^0/, '');
    const hit = state.numbers.find((x) => digits(x.number).endsWith(h));
    send('event', { e: 'tel_click', n: hit ? hit.number : '+' + h });
  });
})();
