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
  el.style.cssText = 'position:fixed;bottom:0;z-index:2147483647;margin:0;background:#ffd';
  el.textContent =
    'callpool ' +
    JSON.stringify(
      { numbers: state.numbers, source: state.src, session: state.s, expires: new Date(state.exp), crawler: state.bot },
      0,
      1,
    );
}
