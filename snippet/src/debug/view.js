// The debug view: what the snippet decided on this page, in words, for the person installing it.
// Fetched only in debug mode (see ../debug.js), so its size costs visitors nothing. It reads the
// snippet's trail (`callpool.t`) and redraws on each new entry. In a shadow root: the page's
// styles do not reach it, and the snippet neither swaps nor counts the numbers it shows.
import { digits, forms, matcher, national } from '../swap.js';

const script = document.querySelector('script[data-key]');
const key = script?.dataset.key;
const trail = window.callpool?.t || [];
const LANDING = 'callpool_debug_landing:' + key;

const esc = (text) =>
  String(text ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
const stored = () => {
  try {
    return JSON.parse(localStorage['callpool:' + key]);
  } catch {}
};

// The business number written the way the site writes its tracking number (same country).
function written(number, display) {
  const shown = digits(display);
  let own = national(digits(number));
  if (shown.length == own.length + 1 && shown[0] == '0') own = '0' + own; // a trunk prefix
  let i = 0;
  return shown.length == own.length ? display.replace(/\d/g, () => own[i++]) : number;
}

// The last visit request's outcome in this page: [t, status, answer, request].
const lastVisit = () => trail.filter((e) => typeof e[1] == 'number').pop();

// Places where one of `numbers` (E.164) is written in the page's visible text or tel: links.
function places(numbers) {
  const map = {};
  numbers.forEach((n) => forms(map, n, n));
  const re = matcher(map);
  if (!re) return 0;
  const tels = [...document.querySelectorAll('a[href^="tel:" i]')].map((a) => a.getAttribute('href'));
  return [document.body.innerText, ...tels].reduce((sum, text) => sum + (text.match(re) || []).length, 0);
}

// Why the server chose this source / medium, from the landing page's address and referrer
// (the rules of callpool.visits.classify, in their order).
function why(src, landing) {
  if (!landing) return 'decided on the session\u2019s first page, before debug mode was on in this tab';
  let params;
  try {
    params = new URL(landing.u).searchParams;
  } catch {
    params = new URLSearchParams();
  }
  const utm = ['utm_source', 'utm_medium', 'utm_campaign'].filter((n) => params.get(n));
  if (utm.length) return utm.map((n) => `${n}=${params.get(n)}`).join(', ') + ' in the landing page\u2019s address';
  const ads = { gclid: 'Google Ads', gbraid: 'Google Ads', wbraid: 'Google Ads', msclkid: 'Microsoft Ads', ttclid: 'TikTok Ads' };
  for (const id in ads) if (params.get(id)) return `a ${ads[id]} click id (${id}) in the landing page\u2019s address`;
  if (params.get('fbclid'))
    return 'fbclid in the address: Facebook adds it to every link, paid or not, so it counts as social (tag paid ads with utm_ parameters)';
  let host = '';
  try {
    host = new URL(landing.r).hostname;
  } catch {}
  if (!host) return 'no referrer and no campaign tags: typed, bookmarked, or the referrer was withheld';
  const kind = { organic: 'a search engine', social: 'a social site', referral: 'another website' }[src.medium];
  return kind ? `came from ${host}, ${kind}` : `the referrer, ${host}, is this site itself: a visit continued, not a new source`;
}

// Why a bot got no number: the server's crawler check on the user agent.
function botReason() {
  const agent = navigator.userAgent;
  const hit = /[\w-]*(bot|crawl|spider|slurp|headless|lighthouse|preview|python|curl|wget)[\w-]*/i.exec(agent);
  return (
    'The server took this browser for a bot or crawler, ' +
    (hit ? `from \u201c${esc(hit[0])}\u201d in its user agent` : 'from its user agent') +
    `: <code>${esc(agent)}</code>. Bots get no number and see the business\u2019s own, so search engines index the real one.`
  );
}

function refusal(status, answer, server) {
  const detail = answer?.detail ? ` The server said: \u201c${esc(answer.detail)}\u201d.` : '';
  if (status == 403)
    return (
      `<p class="bad">The server refused this page\u2019s address, <b>${esc(location.origin)}</b>, so nothing was swapped.</p>` +
      `<p>Add it where the site\u2019s addresses are listed: <b>Dashboard \u2192 site \u2192 allowed origins</b>.${detail}</p>`
    );
  if (status == 0)
    return `<p class="bad">No answer from ${esc(server)}: it is unreachable, took over 2 s, or refused without saying why (an unknown site key, <code>${esc(key)}</code>, is answered so). The browser console says which.</p>`;
  if (status == 200)
    return '<p class="bad">The server\u2019s answer was not a visit answer (a proxy or captive portal page?): the page keeps its own number.</p>';
  return `<p class="bad">The server answered ${status}: the page keeps its own number.${detail}</p>`;
}

function render(root) {
  const visit = lastVisit();
  const server = script ? script.dataset.server || new URL(script.src).origin : '';
  const answered = visit?.[1] == 200 && Array.isArray(visit[2]?.numbers);
  const state = answered ? visit[2] : stored();
  if (answered && visit[3].s != state.s) sessionStorage[LANDING] = JSON.stringify(visit[3]);
  let html = '';
  if (visit && !answered) html += refusal(visit[1], visit[2], server);
  if (state?.s) {
    let landing;
    try {
      landing = JSON.parse(sessionStorage[LANDING]);
    } catch {}
    const src = state.src || {};
    html +=
      `<dl><dt>Visitor</dt><dd><code>${esc(state.v)}</code></dd><dt>Session</dt><dd><code>${esc(state.s)}</code>` +
      (answered ? ' (asked the server on this page)' : ' (from this browser\u2019s storage)') +
      `</dd><dt>Source</dt><dd><b>${esc(src.source)} / ${esc(src.medium)}</b>` +
      (src.campaign ? `, campaign <b>${esc(src.campaign)}</b>` : '') +
      `<br><small>${esc(why(src, landing))}</small></dd></dl>`;
    if (state.bot) html += `<p class="bad">${botReason()}</p>`;
    const swaps = trail.filter((e) => e[1] == 'swapped').pop();
    if (swaps) html += `<p>A tracking number is shown in <b>${swaps[2]}</b> place${swaps[2] == 1 ? '' : 's'} on this page.</p>`;
    for (const n of Array.isArray(state.numbers) ? state.numbers : []) {
      const shown = places([n.number]);
      const left = n.target ? places([n.target]) : 0;
      const selected = n.selector ? document.querySelectorAll(n.selector).length : null;
      html +=
        `<section><b>${esc(n.pool_name)}</b>: shows <b>${esc(n.display)}</b>` +
        (n.target ? ` in place of ${esc(written(n.target, n.display))}` : '') +
        (selected != null ? `, in elements matching <code>${esc(n.selector)}</code> (${selected} on this page)` : '') +
        `<br>${shown ? `Shown in ${shown} place${shown == 1 ? '' : 's'}` : '<span class="bad">Not found on this page</span>'}` +
        (left ? `; the business number is still written in ${left} (marked no-swap, in a field, or written in a form not recognised)` : '') +
        '.</section>';
    }
    if (state.exp && state.numbers?.length)
      html += `<p>Number kept until <b>${time(state.exp)}</b>, and longer while the page stays open.</p>`;
  }
  const errors = trail.filter((e) => e[1] instanceof Error);
  if (errors.length) html += `<p class="bad">Errors caught (the page did not see them): ${errors.map((e) => esc(e[1].message)).join('; ')}</p>`;
  if (!html) html = '<p>Waiting for the server\u2019s answer\u2026</p>';
  root.querySelector('.body').innerHTML = html;
}

const STYLE = `
:host { all: initial; }
.panel { position: fixed; z-index: 2147483647; right: 8px; bottom: 8px; box-sizing: border-box;
  width: min(420px, calc(100vw - 16px)); max-height: 60vh; overflow: auto; padding: 10px 12px;
  font: 13px/1.45 system-ui, sans-serif; color: #111; background: #fff; border: 1px solid #888;
  border-radius: 8px; box-shadow: 0 4px 16px rgba(0,0,0,.2); overflow-wrap: anywhere; }
header { display: flex; gap: 8px; align-items: center; justify-content: space-between; margin-bottom: 6px; }
button { font: inherit; padding: 2px 8px; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 8px; margin: 0 0 6px; }
dt { color: #555; } dd { margin: 0; min-width: 0; }
section { margin: 6px 0; } p { margin: 6px 0; } code { font-size: 12px; }
.bad { color: #a40000; } small { color: #555; }
.panel.closed .body { display: none; } .panel.closed { width: auto; }`;

function show() {
  const host = document.createElement('div');
  host.id = 'callpool-debug';
  host.setAttribute('data-callpool-noswap', '');
  const root = host.attachShadow({ mode: 'open' });
  root.innerHTML =
    `<style>${STYLE}</style><div class="panel" role="region" aria-label="callpool debug">` +
    '<header><b>callpool debug</b><span><button class="hide">Hide</button> <button class="end">End debug mode</button></span></header>' +
    '<div class="body"></div></div>';
  const panel = root.querySelector('.panel');
  root.querySelector('.hide').onclick = (e) => {
    e.target.textContent = panel.classList.toggle('closed') ? 'Show' : 'Hide';
  };
  root.querySelector('.end').onclick = () => {
    try {
      sessionStorage.callpool_debug = 0;
    } catch {}
    host.remove();
  };
  document.body.appendChild(host);
  const draw = () => {
    try {
      render(root);
    } catch (error) {
      console.log('callpool debug view', error);
    }
  };
  // Redrawn on each step the snippet notes.
  const push = trail.push;
  trail.push = (...entries) => {
    const length = push.apply(trail, entries);
    draw();
    return length;
  };
  draw();
  console.log('callpool debug: trail', trail);
}

try {
  show();
} catch (error) {
  console.log('callpool debug view', error);
}
