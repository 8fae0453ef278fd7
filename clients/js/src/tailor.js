// tailor website client: batched events, recommendation slots rendered
// safely, impressions and clicks reported with the answer's rec_id.
//
// One ES module without dependencies and without side effects on import:
// nothing happens until createTailor is called. See ../README.md.

/** The event types a page tracks; impressions are reported by slots. */
const EVENT_TYPES = new Set(["view", "search", "cart", "purchase", "click"]);

/** The server takes at most this many events a request. */
const MAX_BATCH = 10000;

/**
 * Browsers cap the bytes of keepalive requests and beacons in flight at
 * 64 KiB; bodies are kept below this so that one fits beside the headers.
 */
const KEEPALIVE_BYTES = 60000;

/** Longest wait between retries of a failed batch, in milliseconds. */
const MAX_BACKOFF_MS = 60000;

const DEFAULTS = {
  flushInterval: 5000,
  flushAt: 20,
  maxBatch: 500,
  maxQueue: 10000,
  slotTimeout: 3000,
  storageKey: "tailor.user",
};

/**
 * createTailor returns a client for the tailor server at options.endpoint
 * (options and methods: tailor.d.ts and the README). It listens for the
 * page being hidden, to hand what is queued to sendBeacon, until close.
 */
export function createTailor(options) {
  if (!options || typeof options.endpoint !== "string" || options.endpoint === "") {
    throw new TypeError("tailor: endpoint is required");
  }
  const opts = { ...DEFAULTS, ...options };
  const endpoint = opts.endpoint.replace(/\/+$/, "");
  const maxBatch = clamp(opts.maxBatch, 1, MAX_BATCH);
  const fetchFn = opts.fetch || globalThis.fetch.bind(globalThis);
  const onErrorFn = opts.onError || ((err) => console.warn(err));
  const storage = opts.storage === undefined ? defaultStorage() : opts.storage;

  let user = opts.user ? String(opts.user) : anonymousUser(storage, opts.storageKey);
  /** Events waiting to be sent, oldest first. */
  let queue = [];
  /** The flush in progress; flushes run one after the other. */
  let flushing = Promise.resolve();
  let timer = 0;
  /** Consecutive failed attempts, for the backoff. */
  let failures = 0;
  /** Until when (Date.now()) automatic flushes wait after a failure. */
  let backoffUntil = 0;
  let closed = false;
  /** rec_ids whose impression was reported. */
  const seen = new Set();
  /** The IntersectionObserver of each container whose impression is awaited. */
  const observers = new WeakMap();
  /** The containers whose clicks are listened to. */
  const listened = new WeakSet();
  /** The latest slot call of each container: only it renders. */
  const latest = new WeakMap();

  /** onError reports err; the page's handler cannot break the queue. */
  function onError(err) {
    try {
      onErrorFn(err);
    } catch (e) {
      console.warn(e);
    }
  }

  function url(route) {
    const u = endpoint + route;
    return opts.token ? u + "?access_token=" + encodeURIComponent(opts.token) : u;
  }

  function enqueue(event) {
    if (closed) {
      return;
    }
    queue.push(event);
    if (queue.length > opts.maxQueue) {
      const dropped = queue.splice(0, queue.length - opts.maxQueue);
      onError(new TailorError(`tailor: queue full, ${dropped.length} oldest events dropped`, 0, "queue_full"));
    }
    if (queue.length >= opts.flushAt && Date.now() >= backoffUntil) {
      flush();
    } else {
      schedule(opts.flushInterval);
    }
  }

  function schedule(delay) {
    if (!timer && !closed && queue.length > 0) {
      timer = setTimeout(() => {
        timer = 0;
        flush();
      }, delay);
    }
  }

  function flush() {
    flushing = flushing.then(drain).catch((err) => onError(new TailorError(`tailor: flush: ${err}`, 0, "internal")));
    return flushing;
  }

  async function drain() {
    clearTimeout(timer);
    timer = 0;
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      const retry = await send(batch);
      if (retry) {
        queue = retry.concat(queue);
        // The first retry after flushInterval (1 s at least), then doubling.
        const delay = Math.min(Math.max(opts.flushInterval, 1000) * 2 ** failures, MAX_BACKOFF_MS);
        failures++;
        backoffUntil = Date.now() + delay;
        schedule(delay);
        return;
      }
      failures = 0;
      backoffUntil = 0;
    }
  }

  /**
   * send posts one batch. It returns the events to send again later, or
   * null when the batch is done with (accepted, or refused for good).
   */
  async function send(batch) {
    const body = JSON.stringify(batch);
    let resp;
    try {
      // A CORS "simple" request (text/plain, token in the query): no
      // preflight, and the same request a beacon makes.
      resp = await fetchFn(url("/v1/events"), {
        method: "POST",
        headers: { "Content-Type": "text/plain;charset=UTF-8" },
        body,
        keepalive: byteLength(body) <= KEEPALIVE_BYTES,
        credentials: "omit",
        mode: "cors",
      });
    } catch (err) {
      onError(new TailorError(`tailor: events not sent, will retry: ${err.message}`, 0, "network"));
      return batch;
    }
    if (resp.ok) {
      return null;
    }
    const err = await responseError(resp, "events");
    if (resp.status === 408 || resp.status === 429 || resp.status >= 500) {
      onError(err);
      return batch;
    }
    // Batches are all-or-nothing: without the one bad event the rest goes.
    if (resp.status === 400 && err.index >= 0 && err.index < batch.length) {
      err.events = batch.splice(err.index, 1);
      onError(err);
      return batch.length > 0 ? send(batch) : null;
    }
    err.events = batch;
    onError(err);
    return null;
  }

  /**
   * beaconFlush hands what is queued to the browser with sendBeacon, in
   * chunks a beacon may carry; what the browser refuses stays queued.
   */
  function beaconFlush() {
    if (queue.length === 0 || typeof navigator === "undefined" || !navigator.sendBeacon) {
      return;
    }
    const target = url("/v1/events");
    while (queue.length > 0) {
      let n = 0;
      let bytes = 2;
      while (n < queue.length && n < maxBatch) {
        const b = byteLength(JSON.stringify(queue[n])) + 1;
        if (n > 0 && bytes + b > KEEPALIVE_BYTES) {
          break;
        }
        bytes += b;
        n++;
      }
      // A string body is sent as text/plain;charset=UTF-8.
      if (!navigator.sendBeacon(target, JSON.stringify(queue.slice(0, n)))) {
        return;
      }
      queue.splice(0, n);
    }
    clearTimeout(timer);
    timer = 0;
  }

  function onVisibility() {
    if (document.visibilityState === "hidden") {
      beaconFlush();
    }
  }

  if (typeof window !== "undefined" && typeof document !== "undefined") {
    document.addEventListener("visibilitychange", onVisibility);
    window.addEventListener("pagehide", beaconFlush);
  }

  function track(type, fields) {
    if (!EVENT_TYPES.has(type)) {
      throw new TypeError(`tailor: unknown event type ${JSON.stringify(type)} (view, search, cart, purchase, click)`);
    }
    enqueue({ id: newID(), user, ...fields, type });
  }

  function impression(recID, items) {
    if (seen.has(recID) || items.length === 0) {
      return false;
    }
    seen.add(recID);
    enqueue({ id: newID(), type: "impression", user, rec_id: recID, items: items.slice(0, 100) });
    return true;
  }

  async function slot(container, slotOptions) {
    if (!(container instanceof Element)) {
      throw new TypeError("tailor: slot needs a container element");
    }
    const so = slotOptions || {};
    const render = templateRenderer(so.template);
    const call = {};
    latest.set(container, call);
    const request = { user };
    for (const k of ["n", "context", "exclude", "filter", "boost"]) {
      if (so[k] !== undefined) {
        request[k] = so[k];
      }
    }
    if (!so.details) {
      // Without the site's own product data, the answer brings the catalog's.
      request.details = true;
    }
    const controller = new AbortController();
    const deadline = setTimeout(() => controller.abort(), so.timeout || opts.slotTimeout);
    let resp;
    let answer;
    try {
      resp = await fetchFn(url("/v1/recommend"), {
        method: "POST",
        headers: { "Content-Type": "text/plain;charset=UTF-8" },
        body: JSON.stringify(request),
        credentials: "omit",
        mode: "cors",
        signal: controller.signal,
      });
      if (resp.ok) {
        answer = await resp.json();
      }
    } catch (err) {
      const timeout = controller.signal.aborted;
      throw new TailorError(`tailor: recommend: ${timeout ? "timed out" : err.message}`, 0, timeout ? "timeout" : "network");
    } finally {
      clearTimeout(deadline);
    }
    if (!answer) {
      throw await responseError(resp, "recommend");
    }
    const details = so.details ? (await so.details(answer.items.map((it) => it.id))) || {} : {};
    const result = { recId: answer.rec_id, arm: answer.arm, experiment: answer.experiment, items: answer.items, elements: [] };
    if (latest.get(container) !== call) {
      return result; // A later call on this container renders instead.
    }
    const elements = answer.items.map((it, i) => {
      // Fields a template may name: the item's attrs, its catalog facts
      // (title, brand, price, ...), the site's details, then the answer's own.
      const facts = it.item || {};
      const item = { ...facts.attrs, ...facts, ...details[it.id], id: it.id, score: it.score, reasons: it.reasons, position: i };
      const el = render(item, i);
      if (!(el instanceof Element)) {
        throw new TypeError("tailor: a slot template must give an element per item");
      }
      el.setAttribute("data-tailor-item", it.id);
      el.setAttribute("data-tailor-position", String(i));
      setData(el, "data-tailor-rec-id", answer.rec_id);
      return el;
    });
    unobserve(container);
    container.replaceChildren(...elements);
    setData(container, "data-tailor-rec-id", answer.rec_id);
    setData(container, "data-tailor-arm", answer.arm);
    setData(container, "data-tailor-experiment", answer.experiment);
    container.removeAttribute("data-tailor-seen");
    if (!listened.has(container)) {
      listened.add(container);
      container.addEventListener("click", onSlotClick);
    }
    if (answer.rec_id && elements.length > 0) {
      observe(container, answer.rec_id, answer.items.map((it) => it.id));
    }
    result.elements = elements;
    return result;
  }

  /** observe reports the slot's impression once it is at least half seen. */
  function observe(container, recID, ids) {
    const shown = () => {
      unobserve(container);
      if (impression(recID, ids)) {
        container.setAttribute("data-tailor-seen", "true");
      }
    };
    if (typeof IntersectionObserver === "undefined") {
      shown();
      return;
    }
    const io = new IntersectionObserver(
      (entries) => {
        if (closed) {
          unobserve(container);
          return;
        }
        for (const e of entries) {
          // Half of the slot, or half of the viewport for a slot taller
          // than two viewports, which can never be half visible.
          const view = e.rootBounds ? e.rootBounds.height : innerHeight;
          if (e.isIntersecting && (e.intersectionRatio >= 0.5 || e.intersectionRect.height >= view / 2)) {
            shown();
            return;
          }
        }
      },
      { threshold: [0, 0.25, 0.5, 0.75, 1] },
    );
    io.observe(container);
    observers.set(container, io);
  }

  function unobserve(container) {
    const io = observers.get(container);
    if (io) {
      io.disconnect();
      observers.delete(container);
    }
  }

  function onSlotClick(e) {
    const container = e.currentTarget;
    if (closed) {
      container.removeEventListener("click", onSlotClick);
      return;
    }
    const el = e.target instanceof Element ? e.target.closest("[data-tailor-item]") : null;
    if (!el || !container.contains(el)) {
      return;
    }
    const fields = { item: el.getAttribute("data-tailor-item") };
    const recID = el.getAttribute("data-tailor-rec-id");
    if (recID) {
      fields.rec_id = recID;
    }
    track("click", fields);
    // Clicks often leave the page: send now, with keepalive.
    flush();
  }

  function close() {
    if (closed) {
      return;
    }
    beaconFlush();
    closed = true;
    clearTimeout(timer);
    timer = 0;
    if (typeof window !== "undefined" && typeof document !== "undefined") {
      document.removeEventListener("visibilitychange", onVisibility);
      window.removeEventListener("pagehide", beaconFlush);
    }
  }

  return {
    get user() {
      return user;
    },
    get pending() {
      return queue.length;
    },
    identify(id) {
      if (typeof id !== "string" || id === "") {
        throw new TypeError("tailor: identify needs a user id");
      }
      user = id;
    },
    track,
    slot,
    flush,
    close,
  };
}

/** TailorError is what onError receives and what a failed slot rejects with. */
export class TailorError extends Error {
  constructor(message, status, code, field, index) {
    super(message);
    this.name = "TailorError";
    /** The HTTP status, 0 when there was no answer. */
    this.status = status || 0;
    /** The server's error code, such as "invalid_event". */
    this.code = code || "";
    /** The offending field, when the server named one. */
    this.field = field || "";
    /** The offending event of a batch, -1 when none. */
    this.index = index ?? -1;
    /** The events dropped, for errors about events. */
    this.events = [];
  }
}

async function responseError(resp, what) {
  let e = {};
  try {
    e = (await resp.json()).error || {};
  } catch {
    // Not a tailor error body: the status says enough.
  }
  const msg = `tailor: ${what}: ${resp.status}${e.message ? " " + e.message : ""}`;
  return new TailorError(msg, resp.status, e.code, e.field, typeof e.index === "number" ? e.index : -1);
}

/**
 * templateRenderer returns a function making one element per item from a
 * <template> element (or a selector naming one), or the function given.
 *
 * In a <template>, the element carrying data-tailor-field="path" gets the
 * item's value at path (such as "title" or "attrs.color") as text;
 * data-tailor-href and data-tailor-src set href and src to the value when
 * it is an http(s) or relative URL. Values are never parsed as HTML.
 */
function templateRenderer(template) {
  if (typeof template === "function") {
    return template;
  }
  const tpl = typeof template === "string" ? document.querySelector(template) : template;
  if (!(tpl instanceof HTMLTemplateElement)) {
    throw new TypeError("tailor: template must be a <template> element, its selector, or a function");
  }
  const roots = Array.from(tpl.content.children);
  if (roots.length !== 1) {
    throw new TypeError("tailor: a slot <template> must hold exactly one element, the item's");
  }
  return (item) => {
    const el = /** @type {Element} */ (roots[0].cloneNode(true));
    const fill = (sel, apply) => {
      for (const node of [el, ...el.querySelectorAll(`[${sel}]`)]) {
        if (node.hasAttribute(sel)) {
          apply(node, lookup(item, node.getAttribute(sel)));
        }
      }
    };
    fill("data-tailor-field", (node, v) => {
      node.textContent = v == null ? "" : String(v);
    });
    fill("data-tailor-href", (node, v) => setURL(node, "href", v));
    fill("data-tailor-src", (node, v) => setURL(node, "src", v));
    return el;
  };
}

function lookup(item, path) {
  let v = item;
  for (const k of path.split(".")) {
    if (v == null || !Object.hasOwn(Object(v), k)) {
      return undefined;
    }
    v = v[k];
  }
  return v;
}

/** setURL sets attr to v only when v is an http(s) URL or relative to one. */
function setURL(node, attr, v) {
  if (v == null) {
    return;
  }
  try {
    const u = new URL(String(v), document.baseURI);
    if (u.protocol === "http:" || u.protocol === "https:") {
      node.setAttribute(attr, u.href);
    }
  } catch {
    // Not a URL: leave the attribute as the template has it.
  }
}

/** setData sets the attribute to value, or removes it for no value. */
function setData(el, attr, value) {
  if (value) {
    el.setAttribute(attr, value);
  } else {
    el.removeAttribute(attr);
  }
}

/** newID returns 128 random bits in hexadecimal. */
function newID() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function defaultStorage() {
  try {
    return globalThis.localStorage || null;
  } catch {
    return null; // Storage denied, as with cookies blocked.
  }
}

/**
 * anonymousUser returns the id kept in storage under key, making and
 * keeping one the first time; without storage, an id for this page only.
 */
function anonymousUser(storage, key) {
  try {
    const id = storage && storage.getItem(key);
    if (id) {
      return id;
    }
  } catch {
    // Fall through to a new id.
  }
  const id = "anon-" + newID();
  try {
    if (storage) {
      storage.setItem(key, id);
    }
  } catch {
    // Full or denied: the id lasts as long as the page.
  }
  return id;
}

function byteLength(s) {
  return new TextEncoder().encode(s).length;
}

function clamp(v, lo, hi) {
  return Math.min(Math.max(Math.trunc(Number(v)) || lo, lo), hi);
}
