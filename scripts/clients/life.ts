// A call's life through the TypeScript client that openapi-typescript + openapi-fetch make of
// the live document (scripts/client-check generates ./schema.d.ts next to this file). Written
// as a user would: real payload objects, the document's schema names, no casts. `tsc` must
// accept it (types) and the run must pass (behaviour). The server runs in keys mode: the admin
// key mints a project key (POST /admin/keys), which every call then sends as a bearer token.
// Usage: node out/life.js BASE_URL ADMIN_KEY

import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Session = components["schemas"]["Session"];
type SessionWithEvents = components["schemas"]["SessionWithEvents"];
type Event = components["schemas"]["Event"];
type EventPage = components["schemas"]["EventPage"];
type Problem = components["schemas"]["Problem"];
type SessionPage = components["schemas"]["SessionPage"];
type CreatedKey = components["schemas"]["CreatedKey"];
type WebhookWithSecret = components["schemas"]["WebhookWithSecret"];
type WebhookInfo = components["schemas"]["WebhookInfo"];
type WebhookList = components["schemas"]["WebhookList"];
type DeliveryPage = components["schemas"]["DeliveryPage"];
type Resent = components["schemas"]["Resent"];

declare const process: { argv: string[]; exitCode?: number };

const baseUrl = process.argv[2] ?? "http://127.0.0.1:3000";
const adminKey = process.argv[3] ?? "";
const admin = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${adminKey}` } });
let client = createClient<paths>({ baseUrl });
const sessionId = `ts-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
const session = { path: { sessionId } };

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
  console.log(`  ok  ${what}`);
}

function utterance(i: number) {
  return {
    text: `utterance ${i}`,
    confidence: 0.93,
    final: true,
    words: [{ word: "utterance", startMs: 120 * i, endMs: 120 * i + 90 }],
    speaker: { role: i % 2 ? "bot" : "caller", channel: i },
  };
}

// The webhook endpoint operations, with the admin key: register, list, change, rotate, see its
// deliveries, send again, delete.
async function webhooks(project: string): Promise<void> {
  const created = await admin.POST("/admin/webhooks", {
    body: { project, url: "https://hooks.example.com/calls", events: ["session.completed"] },
  });
  const endpoint: WebhookWithSecret | undefined = created.data;
  check(
    created.response.status === 201 && endpoint !== undefined && endpoint.secret.startsWith("whsec_") && endpoint.enabled,
    "register a webhook endpoint: 201 with its secret",
  );
  const webhookId = endpoint?.id ?? "";
  const listed = await admin.GET("/admin/webhooks", { params: { query: { project } } });
  const list: WebhookList | undefined = listed.data;
  check(
    listed.response.status === 200 && list?.data.length === 1 && list.data[0]?.id === webhookId,
    "list webhook endpoints: 200",
  );
  const path = { path: { webhookId } };
  const changed = await admin.PATCH("/admin/webhooks/{webhookId}", {
    params: path,
    body: { enabled: false, events: ["event.appended", "session.created"] },
  });
  const patched: WebhookInfo | undefined = changed.data;
  check(
    changed.response.status === 200 && patched?.enabled === false && patched.events.join() === "session.created,event.appended",
    "change a webhook endpoint: 200 as changed",
  );
  const rotated = await admin.POST("/admin/webhooks/{webhookId}/rotate-secret", { params: path });
  check(
    rotated.response.status === 200 && rotated.data !== undefined && rotated.data.secret !== endpoint?.secret,
    "rotate its secret: 200 with a new secret",
  );
  const page = await admin.GET("/admin/webhooks/{webhookId}/deliveries", {
    params: { path: { webhookId }, query: { status: "failed", limit: 10 } },
  });
  const deliveries: DeliveryPage | undefined = page.data;
  check(
    page.response.status === 200 && deliveries?.data.length === 0 && deliveries.hasMore === false,
    "list its deliveries: 200, empty",
  );
  const replayed = await admin.POST("/admin/webhooks/{webhookId}/replay", {
    params: path,
    body: { since: "2026-01-01T00:00:00Z" },
  });
  const resent: Resent | undefined = replayed.data;
  check(replayed.response.status === 202 && resent?.resent === 0, "replay since a time: 202, resent 0");
  const unknown = await admin.POST("/admin/webhooks/{webhookId}/deliveries/{messageId}/resend", {
    params: { path: { webhookId, messageId: "msg_00000000000000ff" } },
  });
  const missing: Problem | undefined = unknown.error;
  check(unknown.response.status === 404 && missing?.code === "not-found", "send an unknown message again: 404");
  const deleted = await admin.DELETE("/admin/webhooks/{webhookId}", { params: path });
  check(deleted.response.status === 204, "delete it: 204");
  const gone = await admin.GET("/admin/webhooks/{webhookId}", { params: path });
  const notFound: Problem | undefined = gone.error;
  check(gone.response.status === 404 && notFound?.code === "not-found", "read it after deletion: 404 not-found");
}

async function main(): Promise<void> {
  // without a key: a typed 401 problem
  const refused = await client.GET("/sessions/{sessionId}", { params: session });
  const unauthorized: Problem | undefined = refused.error;
  check(
    refused.response.status === 401 && unauthorized?.code === "unauthorized",
    "without a key: 401 unauthorized problem",
  );
  // the admin key mints a project key; the client sends it from now on
  const minted = await admin.POST("/admin/keys", {
    body: { project: `ts-${Date.now()}`, scopes: ["read", "write", "delete"], name: "client-check" },
  });
  const newKey: CreatedKey | undefined = minted.data;
  check(
    minted.response.status === 201 && newKey !== undefined && newKey.key.startsWith(newKey.id),
    "mint a key: 201 with its text",
  );
  client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${newKey?.key ?? ""}` } });
  await webhooks(newKey?.project ?? "");

  // create, then replay
  const body = {
    sessionId,
    language: "en-US",
    metadata: { from: "+15550100", campaign: { id: 7, tags: ["spring", "retention"] } },
  };
  const created = await client.POST("/sessions", { body });
  const first: Session | undefined = created.data;
  check(created.response.status === 201 && first?.sessionId === sessionId, "create: 201 with the session");
  check(created.response.headers.get("Location") === `/sessions/${sessionId}`, "create: Location");
  const replayed = await client.POST("/sessions", { body });
  check(
    replayed.response.status === 200 &&
      replayed.response.headers.get("Idempotent-Replayed") === "true" &&
      replayed.data?.createdAt === first?.createdAt,
    "create again: 200, Idempotent-Replayed, the stored session",
  );

  // append five events, then replay the first
  const stored: Event[] = [];
  for (let i = 1; i <= 5; i++) {
    const appended = await client.POST("/sessions/{sessionId}/events", {
      params: session,
      body: { eventId: `e${i}`, type: i % 2 ? "user_speech" : "bot_speech", payload: utterance(i) },
    });
    check(appended.response.status === 201 && appended.data?.seq === i, `append e${i}: 201, seq ${i}`);
    if (appended.data) stored.push(appended.data);
  }
  const again = await client.POST("/sessions/{sessionId}/events", {
    params: session,
    body: { eventId: "e1", type: "user_speech", payload: utterance(1) },
  });
  check(
    again.response.status === 200 &&
      again.response.headers.get("Idempotent-Replayed") === "true" &&
      again.data?.seq === 1,
    "append e1 again: 200, Idempotent-Replayed, seq 1",
  );

  // the same id with other content: a typed problem
  const conflict = await client.POST("/sessions/{sessionId}/events", {
    params: session,
    body: { eventId: "e1", type: "user_speech", payload: { text: "something else" } },
  });
  const problem: Problem | undefined = conflict.error;
  check(
    conflict.response.status === 409 && problem?.code === "event-conflict" && problem.status === 409,
    "append e1 with other content: 409 event-conflict problem",
  );

  // page through with cursors
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10; pages++) {
    const query = cursor === undefined ? { limit: 2 } : { limit: 2, cursor };
    const page = await client.GET("/sessions/{sessionId}/events", { params: { ...session, query } });
    // The JSON page is the operation's typed answer (its SSE and NDJSON representations are
    // documented aside): no cast, no narrowing.
    const data: EventPage | undefined = page.data;
    if (!data) throw new Error(`page: ${page.response.status}`);
    seen.push(...data.data.map((e) => e.eventId));
    if (!data.hasMore) break;
    cursor = data.nextCursor ?? undefined;
  }
  check(seen.join() === "e1,e2,e3,e4,e5", `pages of 2 walk e1..e5 once, in order (${seen.join()})`);

  // the recogniser's final result replaces its interim: a correction, then the current view
  const fixed = await client.POST("/sessions/{sessionId}/events", {
    params: session,
    body: { eventId: "e5-final", type: "user_speech", payload: { text: "utterance 5, final" }, supersedes: "e5" },
  });
  const correction: Event | undefined = fixed.data;
  check(
    fixed.response.status === 201 && correction?.supersedes === "e5" && correction.supersededBy === null,
    "correct e5: 201, an Event that supersedes e5",
  );
  const current = await client.GET("/sessions/{sessionId}/events", {
    params: { ...session, query: { view: "current" } },
  });
  const standing: EventPage | undefined = current.data;
  check(
    standing?.data.map((e) => e.eventId).join() === "e1,e2,e3,e4,e5-final",
    "view=current: e5 replaced by e5-final",
  );
  const corrected = await client.GET("/sessions/{sessionId}/events/{eventId}", {
    params: { path: { sessionId, eventId: "e5" } },
  });
  check(corrected.data?.supersededBy === "e5-final", "e5 read back: supersededBy e5-final");

  // complete without a body, then no new events
  const completed = await client.POST("/sessions/{sessionId}/complete", { params: session });
  check(
    completed.response.status === 200 && completed.data?.status === "completed" && completed.data.endedAt !== null,
    "complete without a body: 200, completed, endedAt set",
  );
  const late = await client.POST("/sessions/{sessionId}/events", {
    params: session,
    body: { eventId: "e6", type: "system", payload: { reason: "too late" } },
  });
  const closed: Problem | undefined = late.error;
  check(late.response.status === 409 && closed?.code === "session-closed", "append after complete: 409 session-closed");

  const whole = await client.GET("/sessions/{sessionId}", { params: session });
  const read: SessionWithEvents | undefined = whole.data;
  check(
    read?.eventCount === 6 && read.events.data.length === 6 && stored[0]?.payload["text"] === "utterance 1",
    "read back: eventCount 6, the events, payloads as sent",
  );

  // find it among the completed sessions, newest first
  const listed = await client.GET("/sessions", { params: { query: { status: "completed", limit: 500 } } });
  const found: SessionPage | undefined = listed.data;
  check(
    listed.response.status === 200 && found?.data.some((s) => s.sessionId === sessionId && s.eventCount === 6) === true,
    "list completed sessions: 200, a SessionPage holding it",
  );

  // redact one event, then erase the session
  const redacted = await client.POST("/sessions/{sessionId}/events/{eventId}/redact", {
    params: { path: { sessionId, eventId: "e1" } },
  });
  check(
    redacted.response.status === 200 &&
      redacted.data !== undefined &&
      Object.keys(redacted.data.payload).length === 0 &&
      redacted.data.redactedAt !== null,
    "redact: 200, an empty payload and redactedAt",
  );
  const erased = await client.DELETE("/sessions/{sessionId}", { params: session });
  check(erased.response.status === 204, "erase: 204");
  const gone = await client.GET("/sessions/{sessionId}", { params: session });
  const erasedProblem: Problem | undefined = gone.error;
  check(
    gone.response.status === 410 && erasedProblem?.code === "session-erased",
    "read after erase: 410 session-erased problem",
  );
}

main().catch((error: unknown) => {
  console.error(`  FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
