// Factory's dashboard: keeps a page the server rendered current, without reloading it.
//
// It follows the event stream (/api/v1/events/stream, from the sequence number the page
// was rendered at; the browser resumes with Last-Event-ID by itself after a break) and,
// when an event concerns the page, fetches the page again and patches what changed in
// place: elements are matched by id, so rows move, appear and go without the rest of
// the page being redrawn, and focus and open panels stay. Fetches are debounced (at most
// about one a second, whatever the rate of events). A build's log grows from the
// stream's build.log events. Markup only ever comes from the server, which escapes it;
// what this script writes itself (log text, the why panel's reasons) goes in as text.
'use strict';

(() => {
  const body = document.body;
  const data = (document.getElementById('page-data') || {}).dataset || {};
  const status = document.getElementById('live-status');

  function setStatus(state, text) {
    if (!status) return;
    status.dataset.state = state;
    status.querySelector('.text').textContent = text;
  }

  // ---- Fetching the page again, debounced ----

  const QUIET_MS = 250; // let a burst of events settle
  const GAP_MS = 1000; // never more often than this
  const TICK_MS = 10000; // durations of what runs go stale without events
  let timer = null;
  let inFlight = false;
  let again = false;
  let lastRun = 0;

  function schedule() {
    if (inFlight) {
      again = true;
      return;
    }
    if (timer) return;
    timer = setTimeout(refresh, Math.max(QUIET_MS, lastRun + GAP_MS - Date.now()));
  }

  async function refresh() {
    timer = null;
    inFlight = true;
    lastRun = Date.now();
    try {
      const response = await fetch(location.href, { headers: { Accept: 'text/html' }, cache: 'no-store' });
      if (response.ok) patch(await response.text());
    } catch (_) {
      // The server is away; the stream's reconnection brings the next refresh.
    }
    inFlight = false;
    if (again) {
      again = false;
      schedule();
    }
  }

  function patch(html) {
    const fresh = new DOMParser().parseFromString(html, 'text/html');
    const main = document.querySelector('main');
    const next = fresh.querySelector('main');
    if (!main || !next) return;
    morph(main, next);
    document.title = fresh.title;
    body.dataset.follow = fresh.body.dataset.follow;
    body.dataset.refreshed = String(Number(body.dataset.refreshed || 0) + 1);
    for (const panel of document.querySelectorAll('details.why[open]')) probe(panel);
    if (body.dataset.follow === '0') stop();
  }

  // ---- Patching in place ----

  function morph(old, fresh) {
    if (old.nodeType !== fresh.nodeType || old.nodeName !== fresh.nodeName) {
      old.replaceWith(document.importNode(fresh, true));
      return;
    }
    if (old.nodeType !== Node.ELEMENT_NODE) {
      if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue;
      return;
    }
    // What this script fills in itself (the log, the why panel's reasons) is its own.
    if (old.hasAttribute('data-keep')) return;
    // A panel the reader opened stays open.
    if (old.tagName === 'DETAILS') fresh.open = old.open;
    for (const { name } of [...old.attributes]) {
      if (!fresh.hasAttribute(name)) old.removeAttribute(name);
    }
    for (const { name, value } of [...fresh.attributes]) {
      if (old.getAttribute(name) !== value) old.setAttribute(name, value);
    }
    morphChildren(old, fresh);
  }

  const isKeyed = (node) => node && node.nodeType === Node.ELEMENT_NODE && node.id !== '';

  function morphChildren(old, fresh) {
    const keyed = new Map();
    for (const child of old.children) if (child.id) keyed.set(child.id, child);
    let cursor = old.firstChild;
    for (const next of [...fresh.childNodes]) {
      let match = null;
      if (isKeyed(next)) {
        match = keyed.get(next.id) || null;
        keyed.delete(next.id);
      } else if (cursor && !isKeyed(cursor) && cursor.nodeName === next.nodeName) {
        match = cursor;
      }
      if (!match) {
        old.insertBefore(document.importNode(next, true), cursor);
        continue;
      }
      if (match === cursor) cursor = cursor.nextSibling;
      else old.insertBefore(match, cursor);
      morph(match, next);
    }
    while (cursor) {
      const after = cursor.nextSibling;
      cursor.remove();
      cursor = after;
    }
  }

  // ---- The event stream ----

  const TOPICS = [
    'change.detected', 'wave.planned', 'wave.finished', 'build.queued', 'build.blocked',
    'build.started', 'build.log', 'build.succeeded', 'build.failed', 'build.cancelled',
    'build.reused', 'build.cut_off', 'artifact.stored',
  ];
  let source = null;
  let lastId = body.dataset.after || '';
  let opened = false;
  let ticker = null;

  function concerns(event) {
    const follow = body.dataset.follow;
    if (follow === 'always' || follow === '1') return true;
    return data.build !== undefined && String(event.build) === data.build;
  }

  function onEvent(message) {
    if (message.lastEventId) lastId = message.lastEventId;
    let event;
    try {
      event = JSON.parse(message.data);
    } catch (_) {
      return;
    }
    if (message.type === 'build.log') appendLog(event);
    else if (concerns(event)) schedule();
  }

  function connect() {
    const query = lastId ? '?after=' + encodeURIComponent(lastId) : '';
    source = new EventSource('/api/v1/events/stream' + query);
    source.onopen = () => {
      setStatus('live', 'live');
      // After a break, what happened meanwhile comes from the stream; the page is fetched
      // again anyway, in case the server itself was replaced.
      if (opened) schedule();
      opened = true;
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused outright (not a dropped connection): try again later, from where it was.
        setStatus('reconnecting', 'reconnecting…');
        source = null;
        setTimeout(() => source || connect(), 5000);
      } else {
        setStatus('reconnecting', 'reconnecting…');
      }
    };
    for (const topic of TOPICS) source.addEventListener(topic, onEvent);
    if (!ticker) ticker = setInterval(schedule, TICK_MS);
  }

  function stop() {
    if (source) source.close();
    source = null;
    if (ticker) clearInterval(ticker);
    ticker = null;
    setStatus('off', 'finished: nothing more to follow');
  }

  // ---- The live log ----

  function appendLog(event) {
    const pre = document.getElementById('log');
    if (!pre || String(event.build) !== pre.dataset.build) return;
    if (event.seq <= Number(pre.dataset.logSeq || 0)) return;
    pre.dataset.logSeq = String(event.seq);
    const chunk = (event.data && event.data.chunk) || '';
    const stream = event.data && event.data.stream;
    const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 32;
    const text = document.createTextNode(chunk);
    if (stream === 'stderr' || stream === 'factory') {
      const span = document.createElement('span');
      span.className = 'log-' + stream;
      span.append(text);
      pre.append(span);
    } else {
      pre.append(text);
    }
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  // ---- The why panel: GET /api/v1/builds/{id}/why, where the server has it ----

  let whyAbsent = false;
  const KIND_WORDS = {
    waiting_for_input: 'waiting for an input',
    no_free_slot: 'no free build slot',
    blocked_by: 'blocked by',
    reused: 'reused',
    cut_off: 'cut off',
    changed: 'changed',
  };

  async function probe(panel) {
    const id = panel.dataset.whyBuild;
    if (!id || whyAbsent) return;
    let response;
    try {
      response = await fetch('/api/v1/builds/' + encodeURIComponent(id) + '/why', {
        headers: { Accept: 'application/json' },
        cache: 'no-store',
      });
    } catch (_) {
      return;
    }
    if (response.status === 404) {
      // The server's answer for a route it does not have (an older server, or one without
      // the why engine): stop asking. Any other 404 concerns this build only.
      const problem = await response.json().catch(() => ({}));
      if (problem.detail === 'no such route') whyAbsent = true;
      return;
    }
    if (!response.ok) return;
    try {
      showWhy(panel, await response.json());
    } catch (_) {
      // Not the JSON expected: the server-rendered explanation stays.
    }
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function link(href, text) {
    const a = element('a', '', text);
    a.href = href;
    return a;
  }

  function field(key, value) {
    const span = element('span', 'reason-field');
    const plain = key === 'detail' || key === 'message' || key === 'text';
    if (!plain) span.append(key.replaceAll('_', ' ') + ': ');
    const one = (v) => {
      // The why engine names builds by number under these keys (root, path, holders...).
      const buildKeys = ['build', 'by', 'root', 'from', 'previous', 'holders', 'path', 'blocked'];
      if ((buildKeys.includes(key) || key.endsWith('_build')) && Number.isInteger(v)) {
        return link('/builds/' + v, 'b' + v);
      }
      const componentKeys = ['component', 'input', 'job', 'root_component'];
      if (componentKeys.includes(key) && typeof v === 'string') {
        return link('/components/' + encodeURIComponent(v), v);
      }
      return document.createTextNode(typeof v === 'string' ? v : JSON.stringify(v));
    };
    const values = Array.isArray(value) ? value : [value];
    values.forEach((v, i) => {
      if (i > 0) span.append(', ');
      span.append(one(v));
    });
    return span;
  }

  function showWhy(panel, why) {
    const box = panel.querySelector('.why-api');
    const fallback = panel.querySelector('.why-fallback');
    if (!box || !why || typeof why !== 'object') return;
    const list = element('ul', 'reasons');
    for (const reason of Array.isArray(why.reasons) ? why.reasons : []) {
      const item = element('li');
      const kind = String(reason.kind || 'reason');
      item.append(element('span', 'reason-kind', KIND_WORDS[kind] || kind.replaceAll('_', ' ')));
      for (const [key, value] of Object.entries(reason)) {
        if (key !== 'kind') item.append(' · ', field(key, value));
      }
      list.append(item);
    }
    box.replaceChildren(element('p', 'summary', String(why.summary || '')), list);
    box.hidden = false;
    box.dataset.keep = '';
    box.dataset.source = 'api';
    if (fallback) {
      fallback.hidden = true;
      fallback.dataset.keep = '';
    }
  }

  document.addEventListener(
    'toggle',
    (e) => {
      if (e.target.matches && e.target.matches('details.why') && e.target.open) probe(e.target);
    },
    true,
  );

  for (const panel of document.querySelectorAll('details.why[open]')) probe(panel);

  if (!window.EventSource) {
    setStatus('off', 'not live: this browser cannot follow events');
  } else if (body.dataset.follow === '0' || body.dataset.after === undefined) {
    setStatus('off', body.dataset.page === 'error' ? 'not live' : 'finished: nothing more to follow');
  } else {
    setStatus('reconnecting', 'connecting…');
    connect();
  }
})();
