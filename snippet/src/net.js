// Transports, each chosen on purpose:
// - the visit needs an answer: a text/plain POST (a "simple" request, so no CORS preflight),
//   given up after 2 s so a slow server leaves the original number in place;
// - pageviews, heartbeats and clicks need none: sendBeacon, which also survives leaving the page.

// `done(status, answer)` whatever happens: `answer` is the parsed JSON, or null for anything else
// (a proxy's or captive portal's HTML page: `responseType` parses without ever throwing);
// `status` is 0 when nothing readable came back (network error, timeout, CORS refusal).
export function post(url, body, done) {
  let x = new XMLHttpRequest();
  x.open('POST', url);
  x.timeout = 2e3;
  x.responseType = 'json';
  x.onloadend = () => done(x.status, x.response);
  x.send(JSON.stringify(body));
}

export function beacon(url, body) {
  try {
    navigator.sendBeacon(url, JSON.stringify(body));
  } catch {}
}
