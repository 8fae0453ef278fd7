// tailor console: a single page over the JSON API. It holds no data of its
// own: every figure comes from an API call made with the operator's token,
// kept in sessionStorage (or passed once as #token=... in the URL fragment).
// Plots are inline SVG drawn by the small functions below; text from the API
// is always set as text, never as markup.
'use strict';

(function () {
  const TOKEN_KEY = 'tailor.console.token';
  const SVGNS = 'http://www.w3.org/2000/svg';
  const FIRST_SCRAPE_GAP = 3000; // ms between the first two /metrics scrapes
  const SCRAPE_EVERY = 5000; // ms between later scrapes
  const MAX_PAGES = 20; // pages followed when listing campaigns or audiences
  const MAX_MEMBER_PAGES = 10; // pages of 1,000 followed when counting members

  // ---------------------------------------------------------------- DOM

  // h makes an HTML element: attributes from attrs (class, data-*, ...),
  // children as nodes or text.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  // s makes an SVG element the same way.
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVGNS, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  function $(id) { return document.getElementById(id); }

  // fill replaces el's children, skipping null and false as h does.
  function fill(el, ...children) { clear(el); append(el, children); return el; }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  // setMsg shows text in a message box; kind is 'error', 'ok' or ''.
  function setMsg(el, text, kind) {
    clear(el);
    el.className = 'msg' + (kind ? ' ' + kind : '');
    if (text) el.appendChild(document.createTextNode(text));
  }

  // ---------------------------------------------------------- formatting

  function num(x, digits) {
    if (x === null || x === undefined || Number.isNaN(x)) return '–';
    if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞';
    return x.toLocaleString('en-US', { maximumFractionDigits: digits === undefined ? 2 : digits });
  }

  function pct(x, digits) {
    if (x === null || x === undefined || !Number.isFinite(x)) return '–';
    return (x * 100).toFixed(digits === undefined ? 1 : digits) + '%';
  }

  function seconds(x) {
    if (x === null || x === undefined || !Number.isFinite(x)) return '–';
    if (x < 1e-3) return (x * 1e6).toFixed(0) + ' µs';
    if (x < 1) return (x * 1e3).toFixed(x < 0.01 ? 2 : 1) + ' ms';
    return x.toFixed(2) + ' s';
  }

  function when(t) {
    if (!t) return '–';
    const d = new Date(t);
    if (Number.isNaN(d.getTime())) return String(t);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function plural(n, noun) { return num(n, 0) + ' ' + noun + (n === 1 ? '' : 's'); }

  function money(x, cur) {
    return num(Number(x), 6) + (cur ? ' ' + cur : '');
  }

  // ------------------------------------------------------------------ API

  // ApiError is a failed API call: its HTTP status and the API's message.
  class ApiError extends Error {
    constructor(status, code, message, path) {
      super(message);
      this.status = status;
      this.code = code;
      this.path = path;
    }
  }

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage off: the token lives for this page only */ }
    memoryToken = t;
    showTokenState();
  }
  let memoryToken = '';

  // api calls the JSON API and returns the decoded answer; a failure throws
  // an ApiError with the API's own message.
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    const tok = token() || memoryToken;
    if (tok) headers.Authorization = 'Bearer ' + tok;
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', 'the server cannot be reached (' + e.message + ')', path);
    }
    const text = await resp.text();
    if (!resp.ok) {
      let code = '', message = resp.status + ' ' + resp.statusText;
      try {
        const j = JSON.parse(text);
        if (j && j.error) { code = j.error.code || ''; message = j.error.message || message; }
      } catch (e) { /* not JSON: keep the status line */ }
      throw new ApiError(resp.status, code, message, path);
    }
    if (path === '/metrics') return text;
    try {
      return text ? JSON.parse(text) : null;
    } catch (e) {
      throw new ApiError(resp.status, 'invalid_json', 'the answer is not JSON', path);
    }
  }

  // explain turns a failed call into a sentence for the operator; scope is
  // what the call needs.
  function explain(err, scope) {
    if (!(err instanceof ApiError)) return 'Error: ' + (err && err.message ? err.message : String(err));
    const where = err.path ? ' (' + err.path.split('?')[0] + ')' : '';
    if (err.status === 401) {
      return (token() ? 'The token was refused: ' : 'A token is needed: enter an API token with the ' + scope + ' scope above. ') +
        'The API says: ' + err.message + where;
    }
    if (err.status === 403) {
      return 'This token lacks the ' + scope + ' scope: ' + err.message + where;
    }
    return 'Error ' + (err.status || '') + where + ': ' + err.message;
  }

  // listAll follows a list route's pages ({name:[...], next}) up to
  // MAX_PAGES; it returns the records and whether more were left.
  async function listAll(path, name, limit) {
    let cursor = '', out = [], pages = 0;
    for (;;) {
      const sep = path.includes('?') ? '&' : '?';
      const page = await api('GET', path + sep + 'limit=' + limit + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      out = out.concat(page[name] || []);
      pages++;
      if (page.next === null || page.next === undefined) return { list: out, more: false };
      if (pages >= MAX_PAGES) return { list: out, more: true };
      cursor = page.next;
    }
  }

  // countMembers counts an audience's members, following next up to
  // MAX_MEMBER_PAGES pages of 1,000; capped tells that more remained.
  async function countMembers(name) {
    let cursor = '', n = 0;
    for (let i = 0; i < MAX_MEMBER_PAGES; i++) {
      const page = await api('GET', '/v1/audiences/' + encodeURIComponent(name) + '/users?limit=1000' +
        (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      n += (page.users || []).length;
      if (page.next === null || page.next === undefined) return { n, capped: false };
      cursor = page.next;
    }
    return { n, capped: true };
  }

  // pool runs fn over items with at most k calls in flight.
  async function pool(items, k, fn) {
    const results = new Array(items.length);
    let next = 0;
    async function worker() {
      while (next < items.length) {
        const i = next++;
        try { results[i] = { ok: true, value: await fn(items[i], i) }; } catch (e) { results[i] = { ok: false, error: e }; }
      }
    }
    await Promise.all(Array.from({ length: Math.min(k, items.length) }, worker));
    return results;
  }

  // --------------------------------------------------------------- plots

  // hbars draws horizontal bars: rows of {label, value, text?}.
  function hbars(rows, opts) {
    opts = opts || {};
    const width = opts.width || 380, labelW = opts.labelWidth || 140, valueW = 56, rowH = 20;
    const max = opts.max || Math.max(1e-12, ...rows.map(r => r.value));
    const barW = width - labelW - valueW;
    const svg = s('svg', { width, height: rows.length * rowH + 4, viewBox: '0 0 ' + width + ' ' + (rows.length * rowH + 4),
      role: 'img', 'aria-label': opts.title || 'bar chart', class: 'hbars' });
    rows.forEach((r, i) => {
      const y = i * rowH + 2;
      const w = Math.max(0, Math.min(1, r.value / max)) * barW;
      svg.appendChild(s('text', { x: labelW - 6, y: y + 13, 'text-anchor': 'end' }, clip(r.label, 24)));
      svg.appendChild(s('rect', { class: 'track', x: labelW, y: y + 3, width: barW, height: rowH - 6, rx: 2 }));
      svg.appendChild(s('rect', { class: 'bar ' + (r.cls || opts.cls || ''), x: labelW, y: y + 3, width: w.toFixed(1), height: rowH - 6, rx: 2 },
        s('title', null, r.label + ': ' + (r.text || num(r.value, 4)))));
      svg.appendChild(s('text', { x: labelW + barW + 6, y: y + 13 }, r.text || num(r.value, 3)));
    });
    return svg;
  }

  function clip(t, n) { t = String(t); return t.length > n ? t.slice(0, n - 1) + '…' : t; }

  // meter draws one value against a limit as a bar on a track.
  function meter(value, limit, cls, label) {
    const width = 220, height = 14;
    const frac = limit > 0 ? Math.max(0, Math.min(1, value / limit)) : 0;
    return s('svg', { width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': label || 'meter', class: 'meter' },
      s('rect', { class: 'track', x: 0, y: 2, width, height: height - 4, rx: 3 }),
      s('rect', { class: 'bar ' + (cls || ''), x: 0, y: 2, width: (frac * width).toFixed(1), height: height - 4, rx: 3 }),
      s('title', null, label || ''));
  }

  // sparkline draws a series of values as a line with its last value.
  function sparkline(values, label) {
    const width = 420, height = 70, pad = 4;
    const svg = s('svg', { width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': label, class: 'spark' });
    svg.appendChild(s('line', { class: 'axis', x1: 0, y1: height - pad, x2: width, y2: height - pad }));
    if (values.length < 2) {
      if (values.length) svg.appendChild(s('circle', { class: 'dot', cx: pad + 2, cy: height - pad - (height - 2 * pad - 10), r: 3 }));
      svg.appendChild(s('text', { x: 14, y: height / 2, class: 'muted' },
        values.length ? num(values[0], 2) + '/s; the line grows with every scrape' : 'collecting…'));
      return svg;
    }
    const max = Math.max(1e-9, ...values);
    const pts = values.map((v, i) => {
      const x = pad + (i / (values.length - 1)) * (width - 2 * pad - 60);
      const y = height - pad - (v / max) * (height - 2 * pad - 10);
      return x.toFixed(1) + ',' + y.toFixed(1);
    });
    svg.appendChild(s('polyline', { class: 'line', points: pts.join(' ') }));
    svg.appendChild(s('text', { x: width - 56, y: 14 }, 'max ' + num(max, 1)));
    svg.appendChild(s('text', { x: width - 56, y: height - 10 }, 'now ' + num(values[values.length - 1], 1)));
    return svg;
  }

  // heatmap draws a grid of counts, darker for more.
  function heatmap(rowLabels, colLabels, matrix, label) {
    const cell = 56, cellH = 34, left = 90, top = 22;
    const width = left + colLabels.length * cell + 2, height = top + rowLabels.length * cellH + 2;
    const max = Math.max(1, ...matrix.flat());
    const svg = s('svg', { width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': label, class: 'heatmap' });
    colLabels.forEach((c, j) => svg.appendChild(s('text', { x: left + j * cell + cell / 2, y: 14, 'text-anchor': 'middle' }, c)));
    rowLabels.forEach((r, i) => {
      svg.appendChild(s('text', { x: left - 8, y: top + i * cellH + cellH / 2 + 4, 'text-anchor': 'end' }, r));
      colLabels.forEach((c, j) => {
        const v = matrix[i][j], t = v / max;
        // from a pale to a deep blue
        const shade = 'rgb(' + Math.round(236 - t * 190) + ',' + Math.round(242 - t * 150) + ',' + Math.round(252 - t * 40) + ')';
        svg.appendChild(s('rect', { x: left + j * cell + 1, y: top + i * cellH + 1, width: cell - 2, height: cellH - 2, rx: 3, fill: shade },
          s('title', null, r + ' ' + c + ': ' + v)));
        svg.appendChild(s('text', { x: left + j * cell + cell / 2, y: top + i * cellH + cellH / 2 + 4, 'text-anchor': 'middle',
          class: t > 0.55 ? 'light' : '', 'data-cell': r + c }, num(v, 0)));
      });
    });
    return svg;
  }

  // funnel draws steps as centred bars, each as wide as its share of the first.
  function funnel(steps, label) {
    const width = 440, rowH = 30, labelW = 150;
    const max = Math.max(1, steps.length ? steps[0].value : 1, ...steps.map(x => x.value));
    const barArea = width - labelW - 10;
    const svg = s('svg', { width, height: steps.length * rowH + 4, viewBox: '0 0 ' + width + ' ' + (steps.length * rowH + 4),
      role: 'img', 'aria-label': label, class: 'funnel' });
    steps.forEach((st, i) => {
      const w = Math.max(2, (st.value / max) * barArea), y = i * rowH + 2;
      svg.appendChild(s('text', { x: labelW - 8, y: y + 18, 'text-anchor': 'end' }, st.label));
      svg.appendChild(s('rect', { class: 'bar ' + (i % 2 ? 'alt' : ''), x: labelW + (barArea - w) / 2, y: y + 3, width: w.toFixed(1), height: rowH - 6, rx: 3 }));
      svg.appendChild(s('text', { x: labelW + barArea / 2, y: y + 18, 'text-anchor': 'middle', class: w > 40 ? 'light' : '' }, num(st.value, 0)));
    });
    return svg;
  }

  // intervals draws each row's value as a dot with its interval as a
  // whisker, on a shared axis; zero draws the line at 0.
  function intervals(rows, opts) {
    const width = 520, rowH = 26, left = 120, right = 20, top = 6, axisH = 20;
    let lo = Math.min(...rows.map(r => r.lo), opts.zero ? 0 : Infinity);
    let hi = Math.max(...rows.map(r => r.hi), opts.zero ? 0 : -Infinity);
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) { hi = lo + 1e-3; }
    const X = v => left + ((v - lo) / (hi - lo)) * (width - left - right);
    const height = top + rows.length * rowH + axisH;
    const svg = s('svg', { width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': opts.label, class: 'intervals' });
    if (opts.zero) svg.appendChild(s('line', { class: 'zero', x1: X(0), y1: top, x2: X(0), y2: top + rows.length * rowH }));
    rows.forEach((r, i) => {
      const y = top + i * rowH + rowH / 2;
      svg.appendChild(s('text', { x: left - 8, y: y + 4, 'text-anchor': 'end' }, clip(r.label, 18)));
      svg.appendChild(s('line', { class: 'whisker', x1: X(r.lo).toFixed(1), y1: y, x2: X(r.hi).toFixed(1), y2: y }));
      svg.appendChild(s('line', { class: 'whisker', x1: X(r.lo).toFixed(1), y1: y - 5, x2: X(r.lo).toFixed(1), y2: y + 5 }));
      svg.appendChild(s('line', { class: 'whisker', x1: X(r.hi).toFixed(1), y1: y - 5, x2: X(r.hi).toFixed(1), y2: y + 5 }));
      svg.appendChild(s('circle', { class: 'dot', cx: X(r.value).toFixed(1), cy: y, r: 4 },
        s('title', null, r.label + ': ' + opts.fmt(r.value) + ' [' + opts.fmt(r.lo) + ', ' + opts.fmt(r.hi) + ']')));
    });
    const ay = top + rows.length * rowH + 2;
    svg.appendChild(s('line', { class: 'axis', x1: left, y1: ay, x2: width - right, y2: ay }));
    for (let k = 0; k <= 4; k++) {
      const v = lo + (k / 4) * (hi - lo);
      svg.appendChild(s('text', { x: X(v), y: ay + 14, 'text-anchor': 'middle', class: 'muted' }, opts.fmt(v)));
    }
    return svg;
  }

  const EVENT_TYPES = ['view', 'search', 'cart', 'purchase', 'click'];

  // timeline draws events as dots along time, one lane per event type.
  function timeline(events) {
    const width = 1180, laneH = 18, left = 70, right = 12, top = 4;
    const times = events.map(e => Date.parse(e.ts)).filter(Number.isFinite);
    const t0 = Math.min(...times), t1 = Math.max(...times);
    const span = Math.max(1, t1 - t0);
    const X = t => left + ((t - t0) / span) * (width - left - right);
    const height = top + EVENT_TYPES.length * laneH + 22;
    const svg = s('svg', { width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': 'event timeline', class: 'timeline' });
    EVENT_TYPES.forEach((t, i) => {
      const y = top + i * laneH + laneH / 2;
      svg.appendChild(s('text', { x: left - 8, y: y + 4, 'text-anchor': 'end' }, t));
      svg.appendChild(s('line', { class: 'axis', x1: left, y1: y, x2: width - right, y2: y }));
    });
    for (const e of events) {
      const t = Date.parse(e.ts);
      if (!Number.isFinite(t)) continue;
      let lane = EVENT_TYPES.indexOf(e.type);
      const cls = lane < 0 ? 'ev-other' : 'ev-' + e.type;
      if (lane < 0) lane = 0;
      const y = top + lane * laneH + laneH / 2;
      svg.appendChild(s('circle', { class: cls, cx: X(t).toFixed(1), cy: y, r: 5 },
        s('title', null, when(e.ts) + ' ' + e.type + ' ' + (e.item || e.query || ''))));
    }
    const ay = top + EVENT_TYPES.length * laneH + 14;
    svg.appendChild(s('text', { x: left, y: ay, class: 'muted' }, when(t0)));
    svg.appendChild(s('text', { x: width - right, y: ay, 'text-anchor': 'end', class: 'muted' }, when(t1)));
    return svg;
  }

  // pacingChart draws today's spend against the even-pacing line: the
  // daily budget spread straight through the day.
  function pacingChart(daily, spendToday, frac, label) {
    const width = 360, height = 130, left = 46, right = 10, top = 10, bottom = 22;
    const X = f => left + f * (width - left - right);
    const ymax = Math.max(daily, spendToday) || 1;
    const Y = v => height - bottom - (v / ymax) * (height - top - bottom);
    const svg = s('svg', { width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': label, class: 'pacing' });
    svg.appendChild(s('line', { class: 'axis', x1: left, y1: Y(0), x2: width - right, y2: Y(0) }));
    svg.appendChild(s('line', { class: 'axis', x1: left, y1: top, x2: left, y2: Y(0) }));
    svg.appendChild(s('line', { class: 'target', x1: X(0), y1: Y(0), x2: X(1), y2: Y(daily) }));
    svg.appendChild(s('line', { class: 'line', x1: X(0), y1: Y(0), x2: X(frac).toFixed(1), y2: Y(spendToday).toFixed(1) }));
    svg.appendChild(s('circle', { class: 'dot', cx: X(frac).toFixed(1), cy: Y(spendToday).toFixed(1), r: 4 },
      s('title', null, 'spent today ' + num(spendToday) + ' at ' + pct(frac) + ' of the day')));
    svg.appendChild(s('text', { x: left - 4, y: Y(daily) + 4, 'text-anchor': 'end', class: 'muted' }, num(daily, 0)));
    svg.appendChild(s('text', { x: left - 4, y: Y(0) + 4, 'text-anchor': 'end', class: 'muted' }, '0'));
    ['0h', '6h', '12h', '18h', '24h'].forEach((t, i) =>
      svg.appendChild(s('text', { x: X(i / 4), y: height - 6, 'text-anchor': 'middle', class: 'muted' }, t)));
    return svg;
  }

  // ------------------------------------------------------ common widgets

  function card(title, ...body) { return h('div', { class: 'card' }, title ? h('h3', null, title) : null, ...body); }

  function tile(label, value, sub, attrs) {
    return h('div', Object.assign({ class: 'tile' }, attrs || {}), h('div', { class: 'label' }, label),
      h('div', { class: 'value' }, value), sub ? h('div', { class: 'sub' }, sub) : null);
  }

  function kv(pairs) {
    const dl = h('dl', { class: 'kv' });
    for (const [k, v] of pairs) dl.append(h('dt', null, k), h('dd', null, v === undefined || v === null || v === '' ? '–' : v));
    return dl;
  }

  function table(head, rows, attrs) {
    return h('table', attrs || null,
      h('thead', null, h('tr', null, head.map(c => h('th', { class: c.startsWith('#') ? 'num' : '' }, c.replace(/^#/, ''))))),
      h('tbody', null, rows));
  }

  function td(v, numeric) { return h('td', { class: numeric ? 'num' : '' }, v); }

  function badge(text, cls) { return h('span', { class: 'badge ' + (cls || '') }, text); }

  // ---------------------------------------------------------------- pages

  let current = null; // the page shown: {name, gen}
  let gen = 0; // bumped on every page change: stale answers are dropped

  function stale(g) { return g !== gen; }

  function setState(name, state) { $('page-' + name).dataset.state = state; }

  // ============================================================ Overview

  // parseProm reads the Prometheus text format into samples by name.
  function parseProm(text) {
    const out = new Map();
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      if (m[2]) {
        const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
        let lm;
        while ((lm = re.exec(m[2])) !== null) labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
      }
      const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : parseFloat(m[3]);
      if (!out.has(m[1])) out.set(m[1], []);
      out.get(m[1]).push({ labels, value });
    }
    return out;
  }

  // total sums a metric's samples whose labels include match.
  function total(prom, name, match) {
    let sum = 0;
    for (const smp of prom.get(name) || []) {
      if (match && Object.entries(match).some(([k, v]) => smp.labels[k] !== v)) continue;
      sum += smp.value;
    }
    return sum;
  }

  // labelValues returns the values a label takes on a metric.
  function labelValues(prom, name, label) {
    const set = new Set();
    for (const smp of prom.get(name) || []) if (smp.labels[label] !== undefined) set.add(smp.labels[label]);
    return [...set].sort();
  }

  // buckets returns a histogram's cumulative bucket counts for a route,
  // ascending by bound, less prev's when given.
  function buckets(prom, prev, name, route) {
    const get = p => {
      const m = new Map();
      for (const smp of (p && p.get(name + '_bucket')) || []) {
        if (smp.labels.route !== route) continue;
        const le = smp.labels.le === '+Inf' ? Infinity : parseFloat(smp.labels.le);
        m.set(le, (m.get(le) || 0) + smp.value);
      }
      return m;
    };
    const cur = get(prom), old = prev ? get(prev) : new Map();
    return [...cur.entries()].map(([le, c]) => ({ le, count: c - (old.get(le) || 0) })).sort((a, b) => a.le - b.le);
  }

  // quantile estimates the q-quantile from cumulative buckets, interpolating
  // linearly within the bucket that holds it, as Prometheus'
  // histogram_quantile does; null without observations.
  function quantile(q, bs) {
    if (!bs.length) return null;
    const n = bs[bs.length - 1].count;
    if (!(n > 0)) return null;
    const rank = q * n;
    let lower = 0, below = 0;
    for (const b of bs) {
      if (b.count >= rank) {
        if (!Number.isFinite(b.le)) return lower; // past the largest bound: the largest bound
        if (b.count === below) return b.le;
        return lower + (b.le - lower) * (rank - below) / (b.count - below);
      }
      lower = b.le; below = b.count;
    }
    return lower;
  }

  const overview = {
    timer: null, prev: null, prevAt: 0, history: [],
    enter() {
      const g = gen;
      this.prev = null; this.history = [];
      setState('overview', 'loading');
      setMsg($('ov-msg'), 'Reading /metrics…', '');
      this.scrape(g, FIRST_SCRAPE_GAP);
    },
    leave() { clearTimeout(this.timer); this.timer = null; },
    async scrape(g, nextIn) {
      let prom;
      try {
        prom = parseProm(await api('GET', '/metrics'));
      } catch (e) {
        if (stale(g)) return;
        setMsg($('ov-msg'), explain(e, 'admin'), 'error');
        clear($('ov-body'));
        setState('overview', 'error');
        return;
      }
      if (stale(g)) return;
      const now = performance.now();
      const dt = this.prev ? (now - this.prevAt) / 1000 : 0;
      this.render(prom, this.prev, dt);
      setMsg($('ov-msg'), '', '');
      $('ov-when').textContent = 'as of ' + new Date().toLocaleTimeString('en-GB');
      setState('overview', this.prev ? 'ready' : 'partial');
      this.prev = prom; this.prevAt = now;
      this.timer = setTimeout(() => this.scrape(g, SCRAPE_EVERY), nextIn);
    },
    render(cur, prev, dt) {
      const body = clear($('ov-body'));
      const rate = (name, match) => prev && dt > 0 ? (total(cur, name, match) - total(prev, name, match)) / dt : null;
      const reqName = 'tailor_http_requests_total', durName = 'tailor_http_request_duration_seconds';
      const allRate = rate(reqName);
      if (allRate !== null) { this.history.push(allRate); if (this.history.length > 60) this.history.shift(); }

      const hits = total(cur, 'tailor_profile_cache_hits_total'), misses = total(cur, 'tailor_profile_cache_misses_total');
      const spendByCur = (cur.get('tailor_spend_micros_total') || []).filter(x => x.value > 0)
        .map(x => money(x.value / 1e6, x.labels.currency));
      const perSec = r => r === null ? 'rate after the next scrape' : num(r, 2) + '/s now';
      body.append(h('div', { class: 'tiles' },
        tile('Requests', num(total(cur, reqName), 0), perSec(allRate), { 'data-metric': 'requests' }),
        tile('Profile cache hit ratio', hits + misses > 0 ? pct(hits / (hits + misses)) : '–',
          num(hits, 0) + ' hits, ' + num(misses, 0) + ' misses', { 'data-metric': 'cache' }),
        tile('Events ingested', num(total(cur, 'tailor_events_ingested_total'), 0), perSec(rate('tailor_events_ingested_total')),
          { 'data-metric': 'events' }),
        tile('Bid requests', num(total(cur, 'tailor_bid_requests_total'), 0),
          num(total(cur, 'tailor_bid_requests_total', { outcome: 'bid' }), 0) + ' answered with a bid', { 'data-metric': 'bid-requests' }),
        tile('Bids sent', num(total(cur, 'tailor_bids_total', { test: 'false' }), 0), perSec(rate('tailor_bids_total', { test: 'false' })),
          { 'data-metric': 'bids' }),
        tile('Wins', num(total(cur, 'tailor_notices_total', { kind: 'win', outcome: 'applied' }), 0),
          plural(total(cur, 'tailor_notices_total', { kind: 'billing', outcome: 'applied' }), 'billed impression'),
          { 'data-metric': 'wins' }),
        tile('Spend', spendByCur.length ? spendByCur.join(', ') : '0', 'booked by billing notices', { 'data-metric': 'spend' }),
        tile('Active campaigns', num(total(cur, 'tailor_campaigns_active'), 0), null, { 'data-metric': 'campaigns' })));

      // Per route: rate, errors and latency quantiles.
      const routes = labelValues(cur, reqName, 'route').filter(r => total(cur, reqName, { route: r }) > 0);
      const rows = routes.map(r => {
        const n = total(cur, reqName, { route: r });
        let errs = 0;
        for (const smp of cur.get(reqName) || []) if (smp.labels.route === r && !/^2/.test(smp.labels.code)) errs += smp.value;
        const win = buckets(cur, prev, durName, r), all = buckets(cur, null, durName, r);
        const inWindow = prev && win.length && win[win.length - 1].count > 0;
        const bs = inWindow ? win : all;
        return { route: r, n, errs, rate: rate(reqName, { route: r }), p50: quantile(0.5, bs), p99: quantile(0.99, bs), inWindow };
      }).sort((a, b) => (b.rate || 0) - (a.rate || 0) || b.n - a.n);
      body.append(h('div', { class: 'grid wide' },
        card('Requests per second, all routes', sparkline(this.history, 'requests per second')),
        card('Requests per second by route',
          rows.some(r => r.rate > 0) ? hbars(rows.filter(r => r.rate > 0).slice(0, 10).map(r => ({ label: r.route, value: r.rate || 0, text: num(r.rate || 0, 2) + '/s' })), { title: 'requests per second by route' })
            : h('p', { class: 'muted' }, prev ? 'No requests in the last interval.' : 'Rates appear after the next scrape.'))));
      body.append(h('h2', null, 'Routes'),
        rows.length ? table(['route', '#requests/s', '#total', '#not 2xx', '#p50', '#p99', 'latency over'],
          rows.map(r => h('tr', { 'data-route': r.route }, td(r.route), td(r.rate === null ? '–' : num(r.rate, 2), true), td(num(r.n, 0), true),
            td(num(r.errs, 0), true), td(seconds(r.p50), true), td(seconds(r.p99), true),
            td(r.inWindow ? 'last ' + num(dt, 1) + ' s' : 'since start')))) : h('p', { class: 'muted' }, 'No requests yet.'));

      const evRows = labelValues(cur, 'tailor_events_ingested_total', 'type')
        .map(t => ({ label: t, value: total(cur, 'tailor_events_ingested_total', { type: t }) }));
      const nobid = labelValues(cur, 'tailor_bid_nobids_total', 'reason')
        .map(t => ({ label: t, value: total(cur, 'tailor_bid_nobids_total', { reason: t }) })).filter(r => r.value > 0);
      body.append(h('div', { class: 'grid wide' },
        card('Events ingested by type', evRows.length ? hbars(evRows, { title: 'events by type', labelWidth: 90 }) : h('p', { class: 'muted' }, 'None yet.')),
        card('No-bids by reason', nobid.length ? hbars(nobid, { title: 'no-bids by reason', labelWidth: 90, cls: 'warn' }) : h('p', { class: 'muted' }, 'None.'))));
    }
  };

  // ============================================================ Portrait

  // memberships lists the segment names a campaign's targeting.segments can
  // use that this profile is in (see service.BidSegments).
  function memberships(p) {
    const seg = p.segments || {}, m = new Set();
    if (seg.lifecycle) { m.add(seg.lifecycle); m.add('lifecycle:' + seg.lifecycle); }
    if (seg.value_tier) m.add('tier:' + seg.value_tier);
    const band = seg.price_band || (p.indicators || {}).price_band;
    if (band) m.add('price:' + band);
    for (const a of p.audiences || []) m.add('audience:' + (typeof a === 'string' ? a : a.name));
    return m;
  }

  // eligibility judges a campaign against a profile on what the profile
  // decides (status, segments, interests); the rest depends on the request.
  function eligibility(c, p, member) {
    const t = c.targeting || {};
    const why = [], needs = [];
    if (c.status === 'paused') return { ok: false, why: ['paused'] };
    if (t.segments && t.segments.length) {
      const hit = t.segments.filter(x => member.has(x));
      if (!hit.length) return { ok: false, why: ['segments: in none of ' + t.segments.join(', ')] };
      why.push('segment ' + hit.join(', '));
    }
    if (t.interests && t.interests.length) {
      const cats = ((p.interests || {}).categories || []);
      const strongest = Math.max(0, ...cats.map(c => c.weight));
      const hit = t.interests.map(path => path.join('/')).filter(path =>
        cats.some(c => (c.key === path || c.key.startsWith(path + '/')) && strongest > 0 && c.weight >= 0.25 * strongest));
      if (!hit.length) return { ok: false, why: ['interests: not strong in ' + t.interests.map(x => x.join('/')).join(', ')] };
      why.push('interest ' + hit.join(', '));
    }
    if (!why.length) why.push('no segment or interest targeting');
    for (const k of ['keywords', 'countries', 'regions', 'device_types', 'os', 'sites', 'apps', 'hours', 'deals']) {
      if (t[k] && (!Array.isArray(t[k]) || t[k].length)) needs.push(k);
    }
    return { ok: true, why, needs };
  }

  const portrait = {
    enter(arg) {
      $('pt-user').value = arg || $('pt-user').value || '';
      if (arg) this.load(arg, gen);
      else { setState('portrait', 'idle'); $('pt-user').focus(); }
    },
    leave() {},
    async load(id, g) {
      setState('portrait', 'loading');
      setMsg($('pt-msg'), 'Loading ' + id + '…', '');
      const body = clear($('pt-body'));
      let p;
      try {
        p = await api('GET', '/v1/users/' + encodeURIComponent(id));
      } catch (e) {
        if (stale(g)) return;
        setMsg($('pt-msg'), e.status === 404 ? 'No user with the id ' + JSON.stringify(id) + ' (the API says: ' + e.message + ').' : explain(e, 'read'), 'error');
        setState('portrait', 'error');
        return;
      }
      if (stale(g)) return;
      setMsg($('pt-msg'), '', '');
      this.render(body, p);
      const recCard = card('Live recommendation', h('p', { class: 'muted' }, 'Asking POST /v1/recommend…'));
      recCard.id = 'pt-rec';
      const campCard = card('Campaigns this user is eligible for', h('p', { class: 'muted' }, 'Reading GET /v1/campaigns…'));
      campCard.id = 'pt-campaigns';
      body.append(h('div', { class: 'grid two' }, recCard, campCard));
      const results = await Promise.allSettled([this.recommend(recCard, id, g), this.campaigns(campCard, p, g)]);
      if (stale(g)) return;
      setState('portrait', results.some(r => r.status === 'rejected' || r.value === false) ? 'partial' : 'ready');
    },
    render(body, p) {
      const seg = p.segments || {}, rfm = p.rfm || {}, ind = p.indicators || {}, attrs = p.attributes || {};
      const lifeCls = { loyal: 'good', active: 'good', new: 'good', at_risk: 'warn', lapsed: 'bad' }[seg.lifecycle] || 'grey';
      body.append(h('div', { class: 'tiles' },
        tile('User', h('span', { class: 'mono', 'data-user': p.user }, p.user), num(p.events, 0) + ' events'),
        tile('Lifecycle', h('span', { 'data-lifecycle': seg.lifecycle || '' }, seg.lifecycle || '–'),
          seg.due_wakeup ? 'due a wake-up' : null),
        tile('Value tier', seg.value_tier || '–', seg.value_tier ? 'from the last segment refresh' : 'no purchase scored yet'),
        tile('Price band', seg.price_band || ind.price_band || '–', ind.price_index ? 'price index ' + num(ind.price_index, 2) : null),
        tile('Lifetime value', num(rfm.lifetime_value, 2), num(rfm.purchases, 0) + (rfm.purchases === 1 ? ' purchase' : ' purchases')),
        tile('Purchase propensity', num(ind.purchase_propensity, 3), 'last 7 days of intent')));
      body.append(h('p', null, badge(seg.lifecycle || 'unknown', lifeCls),
        (p.audiences || []).map(a => badge('audience: ' + (typeof a === 'string' ? a : a.name))),
        (seg.replenish_due || []).map(c => badge('replenish: ' + c, 'warn'))));

      const interests = p.interests || {};
      const bars = (list, title) => list && list.length
        ? hbars(list.slice(0, 10).map(x => ({ label: x.key, value: x.weight })), { title, labelWidth: 170 })
        : h('p', { class: 'muted' }, 'None.');
      body.append(h('h2', null, 'Interests ', h('span', { class: 'muted small' }, 'time-decayed weights, as of now')),
        h('div', { class: 'grid wide' },
          card('Categories', h('div', { id: 'pt-categories' }, bars(interests.categories, 'category interests'))),
          card('Brands', bars(interests.brands, 'brand interests')),
          card('Search terms', bars(interests.terms, 'search term interests'))));

      const scoreBars = ['r', 'f', 'm'].map(k => ({ label: k.toUpperCase() + ' score', value: rfm[k] || 0, text: rfm[k] ? String(rfm[k]) : 'unscored' }));
      body.append(h('h2', null, 'Value and attributes'),
        h('div', { class: 'grid wide' },
          card('RFM', hbars(scoreBars, { max: 5, labelWidth: 80, width: 300, title: 'RFM scores' }),
            kv([['recency', rfm.recency_days === null || rfm.recency_days === undefined ? 'no purchase' : num(rfm.recency_days, 1) + ' days'],
              ['frequency', num(rfm.frequency, 0) + (rfm.frequency === 1 ? ' order' : ' orders') + ' in ' + num(rfm.window_days, 0) + ' days'],
              ['monetary', num(rfm.monetary, 2)], ['first purchase', when(rfm.first_purchase)], ['last purchase', when(rfm.last_purchase)]])),
          card('Attributes', kv(Object.entries(attrs).map(([k, v]) => [k, fmtValue(v)]))),
          card('Indicators', kv(Object.entries(ind).map(([k, v]) => [k.replace(/_/g, ' '), fmtValue(v)])))));

      const counts = p.counts || {};
      const recent = p.recent || [];
      body.append(h('h2', null, 'Event timeline ', h('span', { class: 'muted small' },
        'first seen ' + when(p.first_seen) + ', last seen ' + when(p.last_seen) + '; ' +
        Object.entries(counts).map(([k, v]) => v + ' ' + k).join(', '))),
        card(null, recent.length ? timeline(recent) : h('p', { class: 'muted' }, 'No events.'),
          h('p', { class: 'legend' }, EVENT_TYPES.map(t => h('span', null, h('i', { class: 'ev-' + t }), t))),
          recent.length ? table(['time', 'type', 'item or query', 'session', '#amount'], recent.slice(0, 15).map(e =>
            h('tr', null, td(when(e.ts)), td(e.type), td(e.item || e.query || (e.items ? e.items.join(', ') : '')),
              td(e.session || ''), td(e.amount === undefined ? '' : num(e.amount, 2), true))), { id: 'pt-recent' }) : null,
          recent.length > 15 ? h('p', { class: 'muted small' }, (recent.length - 15) + ' older events in the plot only.') : null));
    },
    async recommend(el, id, g) {
      let r;
      try {
        r = await api('POST', '/v1/recommend', { user: id, n: 6 });
      } catch (e) {
        if (stale(g)) return false;
        const msg = e.status === 403
          ? 'This token lacks the recommend scope, so the live recommendation cannot be shown (admin does not include recommend). The API says: ' + e.message
          : explain(e, 'recommend');
        fill(el, h('h3', null, 'Live recommendation'), h('div', { class: 'msg error', 'data-error': 'recommend' }, msg));
        return false;
      }
      if (stale(g)) return false;
      const items = r.items || [];
      const titles = await pool(items, 4, it => api('GET', '/v1/items/' + encodeURIComponent(it.id)));
      if (stale(g)) return false;
      const list = h('ol', { class: 'recs' }, items.map((it, i) => {
        const t = titles[i];
        return h('li', { 'data-item': it.id }, h('b', null, t.ok && t.value.title ? t.value.title : it.id), ' ',
          h('span', { class: 'mono muted' }, it.id), ' · score ', num(it.score, 3),
          t.ok ? null : h('span', { class: 'error small' }, ' (item not read: ' + t.error.message + ')'),
          h('div', { class: 'reasons' }, (it.reasons || []).map(reasonText).join('; ')));
      }));
      fill(el, h('h3', null, 'Live recommendation'),
        h('p', { class: 'muted small' }, (r.experiment ? 'experiment ' + r.experiment + ', ' : '') + 'arm ' + (r.arm || 'default') +
          (r.rec_id ? ', rec_id ' + r.rec_id : '') + ', ' + num(r.took_us, 0) + ' µs'),
        items.length ? list : h('p', { class: 'muted' }, 'The ranker had nothing to recommend.'));
      return true;
    },
    async campaigns(el, p, g) {
      let all;
      try {
        all = await listAll('/v1/campaigns', 'campaigns', 1000);
      } catch (e) {
        if (stale(g)) return false;
        fill(el, h('h3', null, 'Campaigns this user is eligible for'), h('div', { class: 'msg error' }, explain(e, 'read')));
        return false;
      }
      if (stale(g)) return false;
      const member = memberships(p);
      const yes = [], no = [];
      for (const c of all.list) {
        const e = eligibility(c, p, member);
        (e.ok ? yes : no).push({ c, e });
      }
      fill(el, h('h3', null, 'Campaigns this user is eligible for'),
        h('p', { class: 'muted small' }, 'Judged on what the profile decides: status, targeting.segments (in: ' +
          ([...member].join(', ') || 'none') + ') and interests. Keywords, geo, device, sites and hours are decided per bid request.'),
        yes.length ? h('ul', { class: 'plain', id: 'pt-eligible' }, yes.map(({ c, e }) => h('li', { 'data-campaign': c.id },
          h('b', null, c.id), ' ', h('span', { class: 'muted' }, c.advertiser || ''), ' ', e.why.map(w => badge(w, 'good')),
          e.needs.length ? h('span', { class: 'muted small' }, ' also needs: ' + e.needs.join(', ')) : null)))
          : h('p', { class: 'muted', id: 'pt-eligible' }, 'None of the ' + all.list.length + ' campaigns.'),
        no.length ? h('details', null, h('summary', null, no.length + ' not eligible'),
          h('ul', { class: 'plain' }, no.map(({ c, e }) => h('li', { 'data-campaign-no': c.id }, h('b', null, c.id), ' ', e.why.map(w => badge(w, 'grey'))))))
          : null,
        all.more ? h('p', { class: 'muted small' }, 'Only the first ' + all.list.length + ' campaigns were read.') : null);
      return true;
    }
  };

  function fmtValue(v) {
    if (v === null || v === undefined) return '–';
    if (Array.isArray(v)) return v.length ? v.join(', ') : '–';
    if (typeof v === 'object') { const e = Object.entries(v); return e.length ? e.map(([k, x]) => k + ': ' + x).join(', ') : '–'; }
    if (typeof v === 'number') return num(v, 4);
    return String(v);
  }

  function reasonText(r) {
    const detail = r.item || r.query || r.category || '';
    return r.code.replace(/_/g, ' ') + (detail ? ' ' + detail : '');
  }

  // ============================================================ Segments

  const LIFECYCLE = ['prospect', 'new', 'active', 'loyal', 'at_risk', 'lapsed'];

  const segments = {
    audiences: [],
    enter() {
      const g = gen;
      setState('segments', 'loading');
      Promise.all([this.loadSegments(g), this.loadAudiences(g)]).then(oks => {
        if (!stale(g)) setState('segments', oks.every(Boolean) ? 'ready' : 'error');
      });
    },
    leave() {},
    async loadSegments(g) {
      const body = clear($('sg-body'));
      let seg;
      try {
        seg = await api('GET', '/v1/segments');
      } catch (e) {
        if (stale(g)) return false;
        const refresh = h('button', { type: 'button', class: 'ghost', onclick: () => this.refresh(g) }, 'Refresh segments now (admin)');
        setMsg($('sg-msg'), e.status === 404 ? e.message : explain(e, 'read'), 'error');
        if (e.status === 404) body.append(refresh);
        return e.status === 404; // no segmentation yet is a state, not a failure
      }
      if (stale(g)) return false;
      setMsg($('sg-msg'), '', '');
      this.renderSegments(body, seg);
      return true;
    },
    async refresh(g) {
      setMsg($('sg-msg'), 'Refreshing…', '');
      try {
        await api('POST', '/v1/segments/refresh');
      } catch (e) {
        if (!stale(g)) setMsg($('sg-msg'), explain(e, 'admin'), 'error');
        return;
      }
      if (!stale(g)) { gen++; this.enter(); }
    },
    renderSegments(body, seg) {
      const tiers = seg.tiers || [];
      body.append(h('div', { class: 'tiles' },
        tile('Profiles scanned', num(seg.profiles, 0), null, { 'data-metric': 'profiles' }),
        tile('Purchasers scored', num(seg.purchasers, 0), null, { 'data-metric': 'purchasers' }),
        tile('As of', when(seg.as_of_time), 'window ' + num(seg.window_days, 0) + ' days'),
        h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Refresh'),
          h('button', { type: 'button', class: 'ghost', onclick: () => this.refresh(gen) }, 'Recompute now (admin)'))));
      // The R x F grid, best recency on top; a segmentation from before the
      // grid existed falls back to the sizes of each score.
      const grid = Array.isArray(seg.rf_grid) && seg.rf_grid.length === 5 ? seg.rf_grid.slice().reverse() : null;
      const matrix = grid || [seg.r_sizes || [0, 0, 0, 0, 0], seg.f_sizes || [0, 0, 0, 0, 0], seg.m_sizes || [0, 0, 0, 0, 0]];
      const stages = seg.lifecycle && Object.keys(seg.lifecycle).length ? seg.lifecycle : null;
      this.stagesFromAPI = !!stages;
      const cuts = (name, c, unit) => h('tr', null, td(name), (c || []).map(x => td(num(x, 2) + unit, true)));
      const good = tiers.filter((t, i) => i < tiers.length - 1).reduce((a, t) => a + t.users, 0);
      const top = tiers.length ? tiers[0] : null;
      body.append(h('div', { class: 'grid wide' },
        card(grid ? 'RFM grid: purchasers by R and F score' : 'RFM grid: purchasers by score', h('div', { id: 'sg-heatmap' },
          grid ? heatmap(['R 5', 'R 4', 'R 3', 'R 2', 'R 1'], ['F 1', 'F 2', 'F 3', 'F 4', 'F 5'], matrix, 'RFM heat map')
            : heatmap(['Recency', 'Frequency', 'Monetary'], ['1', '2', '3', '4', '5'], matrix, 'RFM heat map')),
          h('p', { class: 'muted small' }, grid
            ? 'Rows: recency score (5: bought most recently); columns: frequency score (5: most orders). Champions sit top right, those slipping away bottom right.'
            : 'Each row counts purchasers by that score (5 is best).'),
          table(['cut points', '#20%', '#40%', '#60%', '#80%'], [cuts('recency', seg.recency_days_cuts, ' d'),
            cuts('frequency', seg.frequency_cuts, ''), cuts('monetary', seg.monetary_cuts, '')])),
        card('Value tiers', tiers.length ? hbars(tiers.map(t => ({ label: t.name + ' (≥' + t.min_score + ')', value: t.users, text: num(t.users, 0) })),
          { title: 'tier sizes', labelWidth: 130 }) : h('p', { class: 'muted' }, 'No tiers.'),
          h('p', { class: 'muted small' }, tiers.map(t => t.name + ' aims at ' + pct(t.target_share, 0)).join(', ') + ' of purchasers, on R+F+M.')),
        card('Value funnel', funnel([{ label: 'profiles', value: seg.profiles }, { label: 'purchasers', value: seg.purchasers }]
          .concat(top && tiers.length > 1 ? [{ label: tiers.slice(0, -1).map(t => t.name).join(' + '), value: good },
            { label: top.name, value: top.users }] : []), 'value funnel')),
        h('div', { class: 'card', id: 'sg-lifecycle' }, h('h3', null, 'Lifecycle funnel'), stages
          ? [funnel(LIFECYCLE.filter(st => st in stages).map(st => ({ label: st, value: stages[st] })), 'lifecycle funnel'),
            h('p', { class: 'muted small' }, 'Profiles by lifecycle stage at the segmentation\'s time.')]
          : h('p', { class: 'muted' }, 'Counting…'))));
    },
    async loadAudiences(g) {
      const body = clear($('au-body'));
      let all;
      try {
        all = await listAll('/v1/audiences', 'audiences', 100);
      } catch (e) {
        if (stale(g)) return false;
        setMsg($('au-msg'), explain(e, 'read'), 'error');
        this.lifecycle(g, null);
        return false;
      }
      if (stale(g)) return false;
      setMsg($('au-msg'), all.list.length ? '' : 'No audiences yet: define one below.', '');
      this.audiences = all.list;
      const cells = new Map();
      const rows = all.list.map(a => {
        const cell = h('td', { class: 'num', 'data-count': '' }, '…');
        cells.set(a.name, cell);
        const hook = a.trigger && a.trigger.webhook;
        return h('tr', { 'data-audience': a.name }, td(h('b', null, a.name)), td(h('code', null, a.expression)), td(a.description || ''),
          td(hook ? badge('webhook', 'warn') : ''), cell,
          td(h('span', { class: 'row-actions' }, h('button', { type: 'button', class: 'ghost', onclick: () => this.edit(a) }, 'Edit'))));
      });
      if (rows.length) body.append(table(['name', 'expression', 'description', 'trigger', '#members', ''], rows, { id: 'au-table' }));
      if (all.more) body.append(h('p', { class: 'muted small' }, 'Only the first ' + all.list.length + ' audiences are listed.'));
      const counts = await pool(all.list, 2, a => countMembers(a.name));
      if (stale(g)) return false;
      let ok = true;
      all.list.forEach((a, i) => {
        const cell = cells.get(a.name), r = counts[i];
        if (r.ok) { cell.textContent = (r.value.capped ? '≥ ' : '') + num(r.value.n, 0); cell.dataset.count = String(r.value.n); }
        else { ok = false; cell.textContent = ''; cell.appendChild(h('span', { class: 'error small' }, explain(r.error, 'read'))); }
      });
      this.lifecycle(g, all.list.map((a, i) => ({ a, r: counts[i] })));
      return ok;
    },
    // lifecycle fills the lifecycle funnel from audiences defined as one
    // lifecycle test: the API counts no stages by itself.
    lifecycle(g, counted) {
      const el = $('sg-lifecycle');
      if (!el || stale(g) || this.stagesFromAPI) return;
      const byStage = new Map();
      for (const { a, r } of counted || []) {
        const m = /^\s*lifecycle\s*=\s*"?([a-z_]+)"?\s*$/i.exec(a.expression || '');
        if (m && r.ok) byStage.set(m[1].toLowerCase(), r.value.n);
      }
      const steps = LIFECYCLE.filter(st => byStage.has(st)).map(st => ({ label: st, value: byStage.get(st) }));
      fill(el, h('h3', null, 'Lifecycle funnel'), steps.length ? funnel(steps, 'lifecycle funnel') : null,
        h('p', { class: 'muted small' }, steps.length
          ? 'From the audiences defined as a single lifecycle test.'
          : 'This segmentation counts no lifecycle stages (it predates them): recompute it, or define audiences such as "lifecycle = active" and their member counts appear here.'));
    },
    edit(a) {
      $('au-name').value = a.name;
      $('au-expr').value = a.expression || '';
      $('au-desc').value = a.description || '';
      setMsg($('au-edit-msg'), '', '');
      $('au-expr').focus();
    },
    async save() {
      const name = $('au-name').value.trim(), expression = $('au-expr').value, description = $('au-desc').value;
      const msg = $('au-edit-msg');
      if (!name) { setMsg(msg, 'Give the audience a name.', 'error'); return; }
      const old = this.audiences.find(a => a.name === name);
      if (old && old.trigger && old.trigger.webhook) {
        setMsg(msg, 'The audience ' + name + ' has a webhook trigger whose secret the API never shows; saving here would drop the trigger. Change it through the API with its trigger.', 'error');
        return;
      }
      setMsg(msg, 'Saving…', '');
      msg.dataset.state = 'saving';
      try {
        await api('PUT', '/v1/audiences/' + encodeURIComponent(name), { expression, description });
      } catch (e) {
        setMsg(msg, e.status === 400 ? 'The API refused it: ' + e.message : explain(e, 'admin'), 'error');
        msg.dataset.state = 'error';
        return;
      }
      setMsg(msg, 'Saved ' + name + '.', 'ok');
      msg.dataset.state = 'saved';
      if (current && current.name === 'segments') {
        const g = gen;
        setState('segments', 'loading');
        const ok = await this.loadAudiences(g);
        if (!stale(g)) setState('segments', ok ? 'ready' : 'error');
      }
    }
  };

  // ============================================================ Campaigns

  const campaigns = {
    async enter(arg) {
      const g = gen;
      setState('campaigns', 'loading');
      const body = clear($('cp-body'));
      setMsg($('cp-msg'), 'Reading GET /v1/campaigns…', '');
      let all;
      try {
        all = await listAll('/v1/campaigns', 'campaigns', 100);
      } catch (e) {
        if (stale(g)) return;
        setMsg($('cp-msg'), explain(e, 'read'), 'error');
        setState('campaigns', 'error');
        return;
      }
      if (stale(g)) return;
      const list = arg ? all.list.filter(c => c.id === arg) : all.list;
      if (arg && !list.length) {
        setMsg($('cp-msg'), 'No campaign with the id ' + JSON.stringify(arg) + '.', 'error');
        setState('campaigns', 'error');
        return;
      }
      setMsg($('cp-msg'), list.length ? '' : 'No campaigns yet: POST /v1/campaigns stores them.', '');
      const stats = await pool(list.slice(0, 200), 4, c => api('GET', '/v1/campaigns/' + encodeURIComponent(c.id) + '/stats'));
      if (stale(g)) return;
      let ok = true;
      const rows = list.map((c, i) => {
        const r = stats[i];
        const link = h('a', { href: '#campaigns/' + encodeURIComponent(c.id) }, c.id);
        if (!r) return h('tr', { 'data-campaign': c.id }, td(link), td(c.advertiser || ''), h('td', { colspan: 8, class: 'muted' }, 'stats not read (list too long)'));
        if (!r.ok) { ok = false; return h('tr', { 'data-campaign': c.id }, td(link), td(c.advertiser || ''), h('td', { colspan: 8, class: 'error' }, explain(r.error, 'read'))); }
        const st = r.value, cur = st.currency;
        const total = Number(st.budget.total), daily = Number(st.budget.daily), spend = Number(st.spend), today = Number(st.spend_today);
        return h('tr', { 'data-campaign': c.id }, td(link), td(c.advertiser || ''), td(badge(st.status, st.status === 'active' ? 'good' : 'grey')),
          td(h('div', null, money(st.spend, cur) + (total ? ' of ' + money(total, cur) : '')),
            total ? meter(spend, total, 'spend', 'spend against the total budget') : null, true),
          td(h('div', null, money(st.spend_today, cur) + (daily ? ' of ' + money(daily, cur) : '')),
            daily ? meter(today, daily, 'spend', 'spend today against the daily budget') : null, true),
          td(paceBadge(st.pacing.state)), td(num(st.bids, 0), true), td(num(st.wins, 0), true),
          td(st.bids ? pct(st.wins / st.bids) : '–', true), td(num(st.impressions, 0), true));
      });
      if (rows.length) {
        body.append(table(['campaign', 'advertiser', 'status', '#spend', '#today', 'pacing', '#bids', '#wins', '#win rate', '#impressions'], rows, { id: 'cp-table' }));
      }
      if (all.more) body.append(h('p', { class: 'muted small' }, 'Only the first ' + all.list.length + ' campaigns are listed.'));
      const details = list.slice(0, arg ? 1 : 12).map((c, i) => stats[i] && stats[i].ok ? this.detail(c, stats[i].value) : null).filter(Boolean);
      if (details.length) body.append(h('h2', null, arg ? 'Campaign ' + arg : 'Details'), h('div', { class: 'grid wide' }, details));
      setState('campaigns', ok ? 'ready' : 'error');
    },
    leave() {},
    detail(c, st) {
      const cur = st.currency, daily = Number(st.budget.daily), today = Number(st.spend_today), target = Number(st.pacing.target_today);
      let chart = null;
      if (daily > 0 && st.pacing.mode === 'even') {
        const frac = Math.max(0, Math.min(1, target / daily));
        chart = h('div', null, pacingChart(daily, today, frac, 'pacing of ' + c.id),
          h('p', { class: 'muted small' }, 'Dashed: the even-pacing line through the day from ' + when(st.pacing.day_start) +
            '; solid: spent today. Target by now ' + money(target, cur) + ', pass rate ' + pct(st.pacing.rate, 0) + '.'));
      } else if (daily > 0) {
        chart = h('p', { class: 'muted small' }, 'As soon as possible pacing: ' + money(today, cur) + ' of the daily ' + money(daily, cur) + ' spent today.');
      }
      const fc = c.frequency_cap;
      const t = c.targeting || {};
      const targeting = Object.entries(t).filter(([, v]) => v && (!Array.isArray(v) || v.length))
        .map(([k, v]) => k + ': ' + (Array.isArray(v) ? v.map(x => Array.isArray(x) ? x.join('/') : (typeof x === 'object' ? JSON.stringify(x) : x)).join(', ') : JSON.stringify(v)));
      return h('div', { class: 'card', 'data-detail': c.id }, h('h3', null, c.id + ' ', h('span', { class: 'muted small' }, c.advertiser || '')),
        chart,
        kv([['bid', (c.bid || {}).strategy === 'cpc' ? 'CPC ' + money((c.bid || {}).cpc, cur) + ', at most ' + money((c.bid || {}).max_cpm, cur) + ' CPM'
          : 'CPM ' + money((c.bid || {}).max_cpm, cur)],
        ['spend', money(st.spend, cur) + ' (reserved ' + money(st.reserved, cur) + ')'],
        ['win rate', st.bids ? pct(st.wins / st.bids) + ' (' + st.wins + ' of ' + st.bids + ' bids; ' + st.losses + ' losses)' : 'no bids yet'],
        ['impressions', num(st.impressions, 0)],
        ['CTR', 'not measured: the stats count no ad clicks'],
        ['frequency', fc ? 'capped at ' + fc.impressions + ' per ' + fc.per + ' per user' : 'no cap'],
        ['targeting', targeting.length ? targeting.join('; ') : 'anyone'],
        ['creatives', (c.creatives || []).map(x => x.id + ' (' + x.format + (x.w ? ' ' + x.w + '×' + x.h : '') + ')').join(', ') ||
          (c.items ? 'sponsored items' : '–')]]));
    }
  };

  function paceBadge(state) {
    const cls = { on_track: 'good', behind: 'warn', ahead: 'warn', exhausted: 'bad' }[state] || 'grey';
    return badge((state || 'unknown').replace('_', ' '), cls);
  }

  // ============================================================ Experiments

  const experiments = {
    async enter(arg) {
      const g = gen;
      setState('experiments', 'loading');
      const body = clear($('ex-body'));
      setMsg($('ex-msg'), 'Reading GET /v1/experiments…', '');
      let conf;
      try {
        conf = await api('GET', '/v1/experiments');
      } catch (e) {
        if (stale(g)) return;
        setMsg($('ex-msg'), explain(e, 'read'), 'error');
        setState('experiments', 'error');
        return;
      }
      if (stale(g)) return;
      const model = conf.model || {};
      const ids = [];
      for (const x of conf.experiments || []) if (!ids.includes(x.id)) ids.push(x.id);
      for (const a of conf.arms || []) if (a.experiment && !ids.includes(a.experiment)) ids.push(a.experiment);
      setMsg($('ex-msg'), ids.length ? '' : 'No experiments: PUT /v1/experiments sets them.', '');
      body.append(h('div', { class: 'tiles' },
        tile('Click model', model.warm ? 'warm' : 'cold', 'version ' + num(model.version, 0)),
        tile('Labels learned', num(model.labels, 0), num(model.clicks, 0) + ' clicks'),
        tile('Experiments', num((conf.experiments || []).length, 0), 'configured now')));
      const arms = conf.arms || [];
      if (arms.length) {
        body.append(h('h2', null, 'Every arm\'s counters'), table(['experiment', 'arm', '#decisions', '#impressions', '#clicks', '#conversions', '#revenue'],
          arms.map(a => h('tr', null, td(a.experiment || '(outside experiments)'), td(a.arm), td(num(a.decisions, 0), true),
            td(num(a.impressions, 0), true), td(num(a.clicks, 0), true), td(num(a.conversions, 0), true), td(num(a.revenue, 2), true)))));
      }
      const shown = arg ? ids.filter(x => x === arg) : ids;
      if (shown.length) body.append(h('h2', null, 'Reports'));
      const reports = await pool(shown, 3, id => api('GET', '/v1/experiments/' + encodeURIComponent(id)));
      if (stale(g)) return;
      let ok = true;
      shown.forEach((id, i) => {
        const r = reports[i];
        if (!r.ok) { ok = false; body.append(card('Experiment ' + id, h('div', { class: 'msg error' }, explain(r.error, 'read')))); return; }
        body.append(this.report(r.value));
      });
      setState('experiments', ok ? 'ready' : 'error');
    },
    leave() {},
    report(x) {
      const arms = x.arms || [], diffs = x.differences || [];
      const ctrRows = arms.filter(a => a.ctr_ci95).map(a => ({ label: a.name, value: a.ctr, lo: a.ctr_ci95[0], hi: a.ctr_ci95[1] }));
      const diffRows = diffs.filter(d => d.ctr_diff_ci95).map(d => ({ label: d.arm + ' − ' + (x.baseline || 'baseline'), value: d.ctr_diff, lo: d.ctr_diff_ci95[0], hi: d.ctr_diff_ci95[1] }));
      const convRows = diffs.filter(d => d.conversion_rate_diff_ci95).map(d => ({ label: d.arm + ' − ' + (x.baseline || 'baseline'), value: d.conversion_rate_diff,
        lo: d.conversion_rate_diff_ci95[0], hi: d.conversion_rate_diff_ci95[1] }));
      const f = v => pct(v, 1);
      return h('div', { class: 'card', 'data-experiment': x.id },
        h('h3', null, 'Experiment ' + x.id + ' ', badge(x.active ? 'active' : 'ended', x.active ? 'good' : 'grey'),
          h('span', { class: 'muted small' }, ' traffic ' + pct(x.traffic, 0) + ', baseline ' + (x.baseline || '–'))),
        table(['arm', '#weight', '#decisions', '#impressions', '#clicks', '#CTR', '#95% interval', '#conversions', '#conv. rate', '#revenue', '#rev./impr.'],
          arms.map(a => h('tr', { 'data-arm': a.name }, td(a.name), td(num(a.weight, 2), true), td(num(a.decisions, 0), true), td(num(a.impressions, 0), true),
            td(num(a.clicks, 0), true), td(pct(a.ctr, 2), true), td(a.ctr_ci95 ? pct(a.ctr_ci95[0], 1) + ' to ' + pct(a.ctr_ci95[1], 1) : '–', true),
            td(num(a.conversions, 0), true), td(pct(a.conversion_rate, 2), true), td(num(a.revenue, 2), true), td(num(a.revenue_per_impression, 4), true)))),
        h('div', { class: 'grid wide' },
          h('div', null, h('h3', null, 'CTR by arm'), ctrRows.length ? intervals(ctrRows, { label: 'CTR by arm with 95% intervals', fmt: f }) : h('p', { class: 'muted' }, 'No impressions yet.')),
          h('div', null, h('h3', null, 'CTR difference from the baseline'), diffRows.length ? intervals(diffRows, { label: 'CTR differences', fmt: f, zero: true }) : h('p', { class: 'muted' }, 'No difference to show yet.')),
          convRows.length ? h('div', null, h('h3', null, 'Conversion rate difference'), intervals(convRows, { label: 'conversion rate differences', fmt: f, zero: true })) : null),
        x.interval ? h('p', { class: 'muted small' }, x.interval) : null);
    }
  };

  // ================================================================ router

  const pages = { overview, portrait, segments, campaigns, experiments };

  // route reads the fragment: "#page[/arg][&token=...]". A token found
  // there is stored and taken out of the address bar.
  function route() {
    const raw = location.hash.replace(/^#/, '');
    const parts = [];
    let tok = null;
    for (const part of raw.split('&')) {
      if (part.startsWith('token=')) tok = decodeURIComponent(part.slice(6));
      else if (part) parts.push(part);
    }
    const rest = parts.join('&');
    if (tok !== null) {
      setToken(tok);
      history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
    }
    const slash = rest.indexOf('/');
    let name = slash < 0 ? rest : rest.slice(0, slash);
    let arg = '';
    if (slash >= 0) { try { arg = decodeURIComponent(rest.slice(slash + 1)); } catch (e) { arg = rest.slice(slash + 1); } }
    if (!pages[name]) { name = 'overview'; arg = ''; }
    show(name, arg);
  }

  function show(name, arg) {
    if (current) pages[current.name].leave();
    gen++;
    current = { name, arg };
    for (const n of Object.keys(pages)) $('page-' + n).hidden = n !== name;
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === name);
    document.title = 'tailor console · ' + name;
    pages[name].enter(arg);
  }

  function showTokenState() {
    const has = !!(token() || memoryToken);
    $('token-state').textContent = has ? 'token set' : 'no token';
    const n = $('notice');
    n.hidden = has;
    n.textContent = has ? '' : 'Enter an API token above: the pages read the API with it (read scope; admin for the overview and for changes; recommend for live recommendations). It is kept in this tab only.';
  }

  function init() {
    memoryToken = token();
    $('token-form').addEventListener('submit', ev => {
      ev.preventDefault();
      const v = $('token-input').value.trim();
      $('token-input').value = '';
      setToken(v);
      if (current) show(current.name, current.arg);
    });
    $('token-forget').addEventListener('click', () => { setToken(''); if (current) show(current.name, current.arg); });
    $('pt-form').addEventListener('submit', ev => {
      ev.preventDefault();
      const id = $('pt-user').value.trim();
      if (!id) return;
      const target = '#portrait/' + encodeURIComponent(id);
      if (location.hash === target) show('portrait', id); else location.hash = target;
    });
    $('au-form').addEventListener('submit', ev => { ev.preventDefault(); segments.save(); });
    window.addEventListener('hashchange', route);
    showTokenState();
    route();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
