// First-party storage. Every access is wrapped: private modes and blocked cookies throw here,
// and the current page must still work without it.

export function load(key) {
  try {
    return JSON.parse(localStorage[key]);
  } catch {}
}

export function save(key, value) {
  try {
    value ? (localStorage[key] = JSON.stringify(value)) : delete localStorage[key];
  } catch {}
}
