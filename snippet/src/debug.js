// `?callpool_debug=1`: an overlay with what the snippet decided, and a log of each step.

export const debug = /[?&]callpool_debug=1/.test(location.search);

export const log = (...args) => debug && console.log('callpool', ...args);

export function mark(name) {
  debug && performance.mark('callpool:' + name);
}

export function overlay(state) {
  if (!debug) return;
  const id = 'callpool-debug';
  const el = document.getElementById(id) || document.body.appendChild(document.createElement('pre'));
  el.id = id;
  // The overlay shows numbers; it must never be swapped itself.
  el.setAttribute('data-callpool-noswap', '');
  el.style.cssText = 'position:fixed;bottom:0;right:0;max-height:50vh;overflow:auto;z-index:999999;margin:0;background:#ffd';
  // Everything the visit API answered: numbers and pools, source, session, lease expiry.
  el.textContent = 'callpool ' + JSON.stringify({ ...state, exp: new Date(state.exp) }, 0, 1);
}
