// Debug mode, for the people installing the snippet: `?callpool_debug=1` turns it on for the tab
// (sessionStorage), `?callpool_debug=0` off. Only then does the snippet keep a trail of what it
// did and fetch the debug view (`debug/view.js`, served as /s/callpool-debug.js): visitors
// download none of it.
//
// The trail (`callpool.t`), one entry per step, each [performance.now(), …]:
//   [t, 'swapped', places]                a swap pass done: the places showing a tracking number
//   [t, status, answer, request]          the visit request's outcome (status 0: no answer)
//   [t, error]                            an error caught and swallowed

export let trail;

export const note = (...a) => trail?.push([performance.now(), ...a]);

export function debug(server) {
  try {
    let m = /callpool_debug=(.)/.exec(location.search);
    let s = sessionStorage; // blocked storage throws: no debug mode then
    if (m) s.callpool_debug = m[1];
    if (s.callpool_debug == 1) {
      trail = [];
      // import(), not a <script>: shorter, and its failure is a promise we can catch.
      import(server + '/s/callpool-debug.js').catch(note);
    }
  } catch {}
}
