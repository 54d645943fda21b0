// First-party storage. Every access is wrapped: private modes and blocked cookies throw here,
// and the current page must still work without it.

export function load(key) {
  try {
    return JSON.parse(localStorage.getItem(key));
  } catch (e) {}
}

export function save(key, value) {
  try {
    value ? localStorage.setItem(key, JSON.stringify(value)) : localStorage.removeItem(key);
  } catch (e) {}
}
