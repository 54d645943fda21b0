// Transports, each chosen on purpose:
// - the visit needs an answer: a text/plain POST (a "simple" request, so no CORS preflight),
//   given up after 2 s so a slow server leaves the original number in place;
// - pageviews, heartbeats and clicks need none: sendBeacon, which also survives `pagehide`.

export function post(url, body, done, fail) {
  const x = new XMLHttpRequest();
  x.open('POST', url);
  x.timeout = 2e3;
  x.onload = () => (x.status == 200 ? done(JSON.parse(x.response)) : fail(x.status));
  x.onerror = x.ontimeout = fail;
  x.send(JSON.stringify(body));
}

export function beacon(url, body) {
  try {
    navigator.sendBeacon(url, JSON.stringify(body));
  } catch (e) {}
}
