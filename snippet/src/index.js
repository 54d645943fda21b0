// The callpool snippet: one global, `callpool`, replacing the stub that queued earlier calls.
//
//   <script>window.callpool=window.callpool||function(){(callpool.q=callpool.q||[]).push(arguments)}</script>
//   <script async src="https://calls.example.com/s/callpool.<hash>.js" data-key="SITE_KEY"></script>
//
// First pageview of a session: one request, then the swap. Later pageviews: the swap runs at
// once from first-party storage, before any request, then a beacon records the pageview.
// Every way in (the load itself, events, timers, the request's answer, the public API) goes
// through `safe`: the host page never sees an error of ours.
import { debug, note, trail } from './debug.js';
import { beacon, post } from './net.js';
import { load, save } from './store.js';
import { TEL, digits, swap } from './swap.js';

const w = window;
const d = document;
const now = Date.now;

// Any error is noted (in debug mode) and swallowed: the host page must never break.
// (`let` where `const` would read as well: the snippet's size is budgeted, see build.mjs.)
const safe =
  (f) =>
  (...a) => {
    try {
      return f(...a);
    } catch (e) {
      note(e);
    }
  };
// Capture phase (1: true, a byte shorter): a page that stops propagation still lets us see its
// tel: clicks.
const on = (target, type, f) => target.addEventListener(type, safe(f), 1);

safe(() => {
  // Set while a classic script first runs, async or not. A tag without its data-key gets a 400
  // from the server (seen in the console), never an error.
  let script = d.currentScript;
  let cfg = script.dataset;
  // The debug view comes from where the script came from, whatever server it talks to.
  let home = new URL(script.src).origin;
  let server = cfg.server || home;
  let storeKey = 'callpool:' + cfg.key;
  // `data-consent` ("required"): nothing is stored until `callpool('consent', true)`.
  let consent = !cfg.consent;
  // The visit answer {v, s, exp, hb, src, numbers, bot}, plus `l`: the lease length in ms.
  let state;
  let shown = {};
  let seen;
  let timer;
  let beating;
  // Places the current page shows a tracking number in (the last full pass), sent with the
  // pageview and heartbeats: "the number does not swap" shows on the server as zeros.
  let count;

  debug(home);

  let live = () => state?.exp > now();
  let keep = () => consent && save(storeKey, state);
  // What every request carries: the site, the session, and the site's own `_ga…` cookies (a
  // call's GA4 event joins the visitor's GA session by them; the server keeps GA's ids and drops
  // the rest). Beacons carry them too: GA's tag may write its cookie after the first request.
  let base = (body) => ({ k: cfg.key, s: state?.s, g: d.cookie.match(/_ga\w*=[^;]*/g), ...body });
  let send = (path, body) => beacon(server + '/t/' + path, base(body));

  // Watches the whole document from the start: the rest of the page as it is parsed, what
  // scripts render later, and single-page apps' navigations (pushState, popstate), which all
  // redraw the page: a new URL is a new pageview, the same one a new swap.
  let observer = new MutationObserver(() => {
    clearTimeout(timer);
    timer = setTimeout(safe(() => (location.href != seen ? page() : apply())), 100);
  });

  function apply(root) {
    if (!state || !d.body) return;
    let n = swap(root || d.body, state.numbers, shown);
    root || (count = n);
    note('swapped', n);
    // Our own writes are not DOM changes to react to.
    observer.takeRecords();
    if (!beating && state.hb) beating = setInterval(beat, state.hb * 1e3);
  }

  // The server extends the lease on each pageview and heartbeat; storage keeps the same expiry.
  function extend(path, body) {
    if (!live()) return;
    state.exp = now() + state.l;
    keep();
    send(path, { w: count, ...body });
  }

  // While the page is visible: the visitor still has the number in front of them.
  let beat = safe(() => !d.hidden && extend('heartbeat'));

  function page() {
    seen = location.href;
    if (live()) {
      apply();
      return extend('pageview', { u: seen, t: d.title });
    }
    // The visitor and session of an expired state, if any (absent keys are null to the server).
    let body = base({ v: state?.v, u: seen, r: d.referrer, t: d.title });
    post(
      server + '/t/visit',
      body,
      safe((status, r) => {
        // Anything but a visit answer (an error, a proxy's page, nothing) leaves the page as it is.
        note(status, r, body);
        if (status != 200 || !r?.numbers) return;
        state = r;
        r.l = r.exp - now();
        keep();
        apply();
      }),
    );
  }

  let commands = {
    swap: apply,
    // Withdrawn consent also forgets what was stored.
    consent: (yes) => save(storeKey, (consent = !!yes) && state),
  };

  let api = safe((name, arg) => commands[name](arg));
  let queued = w.callpool?.q;
  w.callpool = api;
  api.t = trail; // the debug view reads it
  // Consent given before the script loaded must apply before storage is first read.
  queued?.forEach((args) => api(...args));

  if (consent) state = load(storeKey);
  page();
  observer.observe(d.documentElement, { childList: 1, subtree: 1, characterData: 1 });
  // A page restored from the back/forward cache is a new pageview, maybe of an expired session.
  on(w, 'pageshow', (e) => e.persisted && page());
  // Hidden (another tab or app, or leaving: the last event a mobile browser reliably fires)
  // marks the time of the last activity. Visible again: the lease is extended at once, or, if
  // it ended meanwhile (its number may be someone else's now), the server is asked again.
  on(d, 'visibilitychange', () => (d.hidden || live() ? extend('heartbeat') : page()));
  // A tel: link in any written form: its digits end with the last 7 of one number shown. (No
  // state yet: `state.numbers` throws, and `safe` swallows it.)
  on(d, 'click', (e) => {
    let a = e.target.closest?.(TEL);
    let hit = a && state.numbers.find((x) => digits(a.href).endsWith(digits(x.number).slice(-7)));
    hit && send('event', { e: 'tel_click', n: hit.number });
  });
})();
