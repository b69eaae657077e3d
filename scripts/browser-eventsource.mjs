// A live stream in a real (headless) Chromium, for scripts/browser-check: the page (served by
// the service, so same origin) creates a session, opens an `EventSource` on its events, appends
// three events and completes the session with fetch, and must see the three events arrive, in
// order, then `session-closed`. `EventSource` cannot send `Authorization`, so this runs against
// a server in open mode (docs/api.md says what to do behind keys).
//
// Environment: BASE_URL (the running server, open mode), CHROMIUM (browser executable),
// SESSION_ID (id to create). Exits non-zero with a message on any failure.
import { chromium } from "playwright-core";

const BASE_URL = process.env.BASE_URL;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SESSION_ID = process.env.SESSION_ID || "stream-check-1";
if (!BASE_URL) {
  console.error("browser-eventsource.mjs: BASE_URL must be set");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});
let failed = null;
try {
  const page = await browser.newPage();
  await page.goto(`${BASE_URL}/healthz`);
  const result = await page.evaluate(async (sessionId) => {
    const post = (path, body) =>
      fetch(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    let r = await post("/sessions", { sessionId });
    if (r.status !== 201) return { error: `POST /sessions answered ${r.status}` };
    const received = [];
    const source = new EventSource(`/sessions/${sessionId}/events`);
    const opened = new Promise((resolve) => source.addEventListener("open", resolve, { once: true }));
    const closed = new Promise((resolve, reject) => {
      source.addEventListener("event", (e) => {
        const event = JSON.parse(e.data);
        received.push({ id: event.eventId, seq: event.seq, lastEventId: e.lastEventId });
      });
      source.addEventListener("session-closed", (e) => {
        source.close();
        resolve(JSON.parse(e.data));
      });
      setTimeout(() => reject(new Error("no session-closed within 15 s")), 15_000);
    });
    await opened;
    for (const id of ["e1", "e2", "e3"]) {
      r = await post(`/sessions/${sessionId}/events`, {
        eventId: id,
        type: "user_speech",
        payload: { text: `said ${id}` },
      });
      if (r.status !== 201) return { error: `append ${id} answered ${r.status}` };
    }
    r = await fetch(`/sessions/${sessionId}/complete`, { method: "POST" });
    if (r.status !== 200) return { error: `complete answered ${r.status}` };
    try {
      const session = await closed;
      return { received, status: session.status, eventCount: session.eventCount };
    } catch (e) {
      return { error: String(e), received };
    }
  }, SESSION_ID);
  if (result.error) {
    failed = `${result.error}; received ${JSON.stringify(result.received || [])}`;
  } else {
    const ids = result.received.map((e) => e.id).join(",");
    const seqs = result.received.map((e) => e.seq).join(",");
    if (ids !== "e1,e2,e3" || seqs !== "1,2,3") failed = `received ${JSON.stringify(result.received)}`;
    else if (result.received.some((e) => !e.lastEventId)) failed = "an event came without an id";
    else if (result.status !== "completed" || result.eventCount !== 3)
      failed = `session-closed carried ${result.status}/${result.eventCount}`;
    else console.log(`browser-check: EventSource received ${ids} (seq ${seqs}) with ids, then session-closed`);
  }
} finally {
  await browser.close();
}
if (failed) {
  console.error(`browser-check: FAILED: EventSource: ${failed}`);
  process.exit(1);
}
