// Checks of the client against a fake fetch, without a server: the queue,
// its batches and retries, and slot rendering.
// window.runOfflineChecks() resolves to the failures, one string each.

import { createTailor } from "/src/tailor.js";

// These checks never reach a network: a client closed with events still
// queued (after a retry, say) hands them to a beacon, which would otherwise
// go to the fake endpoint for real and fail. The beacons are kept instead.
const beacons = [];
navigator.sendBeacon = (url, body) => (beacons.push({ url, body }), true);

/** fakeFetch answers each call with the next of answers (the last repeats). */
function fakeFetch(answers) {
  const calls = [];
  let waiters = [];
  const fetch = async (url, init) => {
    const call = { url, init, events: JSON.parse(init.body) };
    calls.push(call);
    waiters = waiters.filter((w) => !w(calls.length));
    const a = answers[Math.min(calls.length - 1, answers.length - 1)];
    if (a instanceof Error) {
      throw a;
    }
    return new Response(JSON.stringify(a.body || { accepted: call.events.length, duplicates: 0 }), { status: a.status });
  };
  /** until resolves once n calls were made, or rejects after 5 s. */
  const until = (n) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${calls.length} calls after 5 s, want ${n}`)), 5000);
      const w = (got) => got >= n && (clearTimeout(t), resolve(), true);
      if (!w(calls.length)) {
        waiters.push(w);
      }
    });
  return { fetch, calls, until };
}

function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), map: m };
}

const ok = { status: 200 };

const tests = {
  async threshold(fail) {
    const f = fakeFetch([ok]);
    const storage = memoryStorage();
    const errors = [];
    const t = createTailor({ endpoint: "https://tailor.test/", token: "tok en", fetch: f.fetch, storage,
      flushAt: 3, maxBatch: 2, flushInterval: 600000, onError: (e) => errors.push(e) });
    t.track("view", { item: "a" });
    t.track("search", { query: "trail shoes" });
    if (f.calls.length !== 0 || t.pending !== 2) {
      fail(`below flushAt: ${f.calls.length} calls, ${t.pending} pending; want 0 calls, 2 pending`);
    }
    t.track("cart", { item: "b" });
    await f.until(2);
    await t.flush();
    const sizes = f.calls.map((c) => c.events.length).join(",");
    if (sizes !== "2,1" || t.pending !== 0) {
      fail(`at flushAt 3 with maxBatch 2: batches of ${sizes}, ${t.pending} pending; want 2,1 and 0`);
    }
    const c = f.calls[0];
    if (c.url !== "https://tailor.test/v1/events?access_token=tok%20en") {
      fail(`events URL = ${c.url}`);
    }
    if (c.init.headers["Content-Type"] !== "text/plain;charset=UTF-8" || c.init.keepalive !== true || c.init.method !== "POST") {
      fail(`events request = ${JSON.stringify(c.init)}; want a keepalive text/plain POST`);
    }
    const events = f.calls.flatMap((c) => c.events);
    const ids = new Set(events.map((e) => e.id));
    if (ids.size !== 3 || ![...ids].every((id) => /^[0-9a-f]{32}$/.test(id))) {
      fail(`event ids = ${[...ids]}; want 3 distinct 32-digit hex ids`);
    }
    const user = storage.map.get("tailor.user");
    if (!/^anon-[0-9a-f]{32}$/.test(user || "") || t.user !== user || !events.every((e) => e.user === user)) {
      fail(`anonymous user: stored ${user}, client ${t.user}, events ${events.map((e) => e.user)}`);
    }
    const again = createTailor({ endpoint: "https://tailor.test", fetch: f.fetch, storage });
    if (again.user !== user) {
      fail(`a second client has user ${again.user}, want the stored ${user}`);
    }
    again.close();
    t.identify("u-42");
    t.track("purchase", { item: "b", amount: 12.5 });
    await t.flush();
    const last = f.calls.at(-1).events[0];
    if (last.user !== "u-42" || last.type !== "purchase" || last.amount !== 12.5) {
      fail(`after identify: ${JSON.stringify(last)}`);
    }
    if (errors.length > 0) {
      fail(`errors: ${errors}`);
    }
    t.close();
  },

  async interval(fail) {
    const f = fakeFetch([ok]);
    const t = createTailor({ endpoint: "https://tailor.test", user: "u1", fetch: f.fetch, storage: null,
      flushAt: 100, flushInterval: 20 });
    t.track("view", { item: "a" });
    t.track("view", { item: "b" });
    await f.until(1);
    await t.flush();
    if (f.calls.length !== 1 || f.calls[0].events.length !== 2 || "access_token" in Object.fromEntries(new URL(f.calls[0].url).searchParams)) {
      fail(`after the interval: ${f.calls.length} calls (${f.calls.map((c) => c.url)}); want 1 of 2 events, no token`);
    }
    t.close();
  },

  async retry(fail) {
    const f = fakeFetch([new TypeError("Failed to fetch"), { status: 503 }, ok]);
    const errors = [];
    const t = createTailor({ endpoint: "https://tailor.test", user: "u1", fetch: f.fetch, storage: null,
      flushAt: 2, flushInterval: 600000, onError: (e) => errors.push(e) });
    t.track("view", { item: "a" });
    t.track("view", { item: "b" });
    await f.until(1);
    await t.flush(); // the 503
    await t.flush(); // accepted
    const ids = f.calls.map((c) => c.events.map((e) => e.id).join(","));
    if (f.calls.length !== 3 || new Set(ids).size !== 1 || t.pending !== 0) {
      fail(`retries sent ${ids.join(" | ")}, ${t.pending} pending; want the same 2 ids 3 times, then none pending`);
    }
    const codes = errors.map((e) => `${e.status}:${e.code}`).join(",");
    if (codes !== "0:network,503:") {
      fail(`errors = ${codes}, want 0:network,503:`);
    }
    t.close();
  },

  async badEvent(fail) {
    const refused = { status: 400, body: { error: { code: "invalid_event", message: "item: is required", field: "item", index: 1 } } };
    const f = fakeFetch([refused, ok]);
    const errors = [];
    const t = createTailor({ endpoint: "https://tailor.test", user: "u1", fetch: f.fetch, storage: null,
      flushAt: 100, flushInterval: 600000, onError: (e) => errors.push(e) });
    t.track("view", { item: "a" });
    t.track("view", {});
    t.track("view", { item: "c" });
    await t.flush();
    const items = f.calls.map((c) => c.events.map((e) => e.item ?? "-").join(""));
    if (items.join(",") !== "a-c,ac" || t.pending !== 0) {
      fail(`batches ${items}, ${t.pending} pending; want a-c then ac, none pending`);
    }
    const e = errors[0];
    if (errors.length !== 1 || e.status !== 400 || e.field !== "item" || e.index !== 1 || e.events.length !== 1) {
      fail(`errors = ${JSON.stringify(errors)}; want one 400 on item, index 1, with its event`);
    }
    t.close();
  },

  async unauthorized(fail) {
    const f = fakeFetch([{ status: 401, body: { error: { code: "unauthorized", message: "the token is not known" } } }, ok]);
    const errors = [];
    const t = createTailor({ endpoint: "https://tailor.test", user: "u1", fetch: f.fetch, storage: null,
      flushAt: 100, flushInterval: 600000, onError: (e) => errors.push(e) });
    t.track("view", { item: "a" });
    await t.flush();
    await t.flush();
    if (f.calls.length !== 1 || t.pending !== 0 || errors.length !== 1 || errors[0].code !== "unauthorized") {
      fail(`after a 401: ${f.calls.length} calls, ${t.pending} pending, errors ${errors}; want 1, 0 and the 401`);
    }
    t.close();
  },

  async unknownType(fail) {
    const t = createTailor({ endpoint: "https://tailor.test", user: "u1", fetch: fakeFetch([ok]).fetch, storage: null });
    try {
      t.track("impression", { rec_id: "0000000000000001" });
      fail("track(impression) did not throw");
    } catch (e) {
      if (!(e instanceof TypeError)) {
        fail(`track(impression) threw ${e}, want a TypeError`);
      }
    }
    t.close();
  },

  async slots(fail) {
    // Answers wait for release, so that the test orders them.
    const answers = [];
    const fetch = (url, init) =>
      new Promise((resolve) => {
        answers.push({ url, request: JSON.parse(init.body), release: (body, status = 200) => resolve(new Response(JSON.stringify(body), { status })) });
      });
    const t = createTailor({ endpoint: "https://tailor.test", user: "u1", fetch, storage: null, flushInterval: 600000 });
    const box = document.createElement("ul");
    document.body.append(box);
    const template = (item, i) => {
      const li = document.createElement("li");
      li.textContent = `${i}:${item.id}:${item.title ?? ""}`;
      return li;
    };
    const first = t.slot(box, { n: 2, template });
    const second = t.slot(box, { n: 2, template, context: { query: "socks" }, details: () => ({ b: { title: "<b>B</b>" } }) });
    if (answers.length !== 2 || answers[1].request.user !== "u1" || answers[1].request.context.query !== "socks" || "details" in answers[1].request ||
        answers[0].request.details !== true) {
      fail(`recommend requests = ${JSON.stringify(answers.map((a) => a.request))}`);
    }
    answers[1].release({ items: [{ id: "b", score: 1, reasons: [] }, { id: "c", score: 0.5, reasons: [] }], rec_id: "00000000000000b2", arm: "default" });
    await second;
    answers[0].release({ items: [{ id: "a", score: 1, reasons: [] }], rec_id: "00000000000000a1", arm: "default" });
    const old = await first;
    const text = [...box.children].map((li) => li.textContent).join(",");
    if (old.elements.length !== 0 || text !== "0:b:<b>B</b>,1:c:" || box.querySelector("b")) {
      fail(`after an older answer came last: ${text}, the older call rendered ${old.elements.length}; want the later answer shown, as text`);
    }
    const li = box.children[1];
    if (li.getAttribute("data-tailor-item") !== "c" || li.getAttribute("data-tailor-position") !== "1" ||
        li.getAttribute("data-tailor-rec-id") !== "00000000000000b2" || box.getAttribute("data-tailor-arm") !== "default") {
      fail(`data attributes: ${li.outerHTML} in ${box.outerHTML.slice(0, 200)}`);
    }
    // Without a details hook, the catalog's facts fill the template: attrs
    // first, then the facts.
    const facts = t.slot(box, { template: (item) => {
      const li = document.createElement("li");
      li.textContent = `${item.title}|${item.price}|${item.url}|${item.brand ?? "-"}`;
      return li;
    } });
    answers[2].release({ items: [{ id: "d", score: 1, reasons: [],
      item: { title: "Dee", price: 9.5, attrs: { url: "https://shop.example/d", title: "not this" } } }], rec_id: "00000000000000d4", arm: "default" });
    await facts;
    if (box.textContent !== "Dee|9.5|https://shop.example/d|-") {
      fail(`a slot from the catalog's facts: ${box.textContent}; want the title and price of the facts and the url of the attrs`);
    }
    const failed = t.slot(box, { template });
    answers[3].release({ error: { code: "unavailable", message: "retry" } }, 503);
    const err = await failed.then(() => null, (e) => e);
    if (!err || err.name !== "TailorError" || err.status !== 503 || err.code !== "unavailable" || box.children.length !== 1) {
      fail(`a refused slot: error ${err}, ${box.children.length} items left; want a TailorError 503 unavailable, the slot as it was`);
    }
    box.remove();
    t.close();
  },
};

window.runOfflineChecks = async () => {
  const failures = [];
  for (const [name, test] of Object.entries(tests)) {
    try {
      await test((msg) => failures.push(`${name}: ${msg}`));
    } catch (e) {
      failures.push(`${name}: ${e && e.stack ? e.stack : e}`);
    }
  }
  return failures;
};
