// Drives Swagger UI in a real (headless) Chromium, for scripts/browser-check.
//
// Environment: BASE_URL (the running server, in keys mode), API_KEY (a project key with the
// write scope, entered in the "Authorize" dialog), CHROMIUM (browser executable), SCREENSHOT
// (PNG path), SESSION_ID (id to create through the UI). Exits non-zero with a message on any
// failure.
import { chromium } from "playwright-core";

const BASE_URL = process.env.BASE_URL;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SCREENSHOT = process.env.SCREENSHOT || "artifacts/swagger-ui.png";
const SESSION_ID = process.env.SESSION_ID || "ui-check-1";
const API_KEY = process.env.API_KEY;
const STEP_TIMEOUT_MS = 20_000;

if (!BASE_URL || !API_KEY) {
  console.error("browser-check.mjs: BASE_URL and API_KEY must be set");
  process.exit(2);
}

// Every operation the API must show: [method, path].
const EXPECTED = [
  ["POST", "/sessions"],
  ["GET", "/sessions/{sessionId}"],
  ["POST", "/sessions/{sessionId}/complete"],
  ["POST", "/sessions/{sessionId}/events"],
  ["GET", "/sessions/{sessionId}/events"],
  ["GET", "/sessions/{sessionId}/events/{eventId}"],
  ["GET", "/healthz"],
  ["GET", "/readyz"],
  ["GET", "/metrics"],
  ["POST", "/admin/keys"],
  ["GET", "/admin/keys"],
  ["DELETE", "/admin/keys/{keyId}"],
  ["POST", "/admin/webhooks"],
  ["GET", "/admin/webhooks"],
  ["GET", "/admin/webhooks/{webhookId}"],
  ["PATCH", "/admin/webhooks/{webhookId}"],
  ["DELETE", "/admin/webhooks/{webhookId}"],
  ["POST", "/admin/webhooks/{webhookId}/rotate-secret"],
  ["GET", "/admin/webhooks/{webhookId}/deliveries"],
  ["POST", "/admin/webhooks/{webhookId}/deliveries/{messageId}/resend"],
  ["POST", "/admin/webhooks/{webhookId}/replay"],
];

const log = (msg) => console.log(`browser-check: ${msg}`);

class CheckFailed extends Error {}
const fail = (msg) => {
  throw new CheckFailed(msg);
};

/** The operation block of `method path`, e.g. ("POST", "/sessions"). */
function opblock(page, method, path) {
  return page
    .locator(`.opblock.opblock-${method.toLowerCase()}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
}

/** Expands an operation, presses "Try it out", fills what `fill` fills, executes, and returns
 *  the status code and body Swagger UI shows for the live response. */
async function tryItOut(page, method, path, fill) {
  const block = opblock(page, method, path);
  if ((await block.count()) !== 1) fail(`expected one "${method} ${path}" operation in the UI`);
  if (!(await block.evaluate((el) => el.classList.contains("is-open")))) {
    await block.locator(".opblock-summary").first().click();
  }
  await block.locator("button.try-out__btn").click();
  await fill(block);
  await block.locator("button.execute").click();
  const status = block.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor({ timeout: STEP_TIMEOUT_MS });
  const code = (await status.innerText()).trim().split(/\s+/)[0];
  const body = block.locator(".live-responses-table .response-col_description pre").first();
  const text = (await body.count()) ? (await body.innerText()).trim() : "";
  return { code, text, block };
}

async function fillBody(block, json) {
  const area = block.locator("textarea.body-param__text");
  await area.waitFor({ timeout: STEP_TIMEOUT_MS });
  await area.fill(JSON.stringify(json, null, 2));
}

/** Opens "Authorize", enters `key` for the bearer scheme, authorizes and closes the dialog. */
async function authorize(page, key) {
  await page.locator(".scheme-container button.authorize").click();
  const modal = page.locator(".dialog-ux .modal-ux");
  await modal.waitFor();
  const input = modal.locator("input").first();
  await input.waitFor();
  await input.fill(key);
  await modal.locator("button.authorize").click();
  // Authorized: the dialog offers "Logout" instead of "Authorize".
  try {
    await modal.locator("button", { hasText: "Logout" }).waitFor();
  } catch {
    fail(`the "Authorize" dialog did not accept the key; it shows:\n${await modal.innerHTML()}`);
  }
  await modal.locator("button.btn-done").click();
  await modal.waitFor({ state: "detached" });
}

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
    });
    // The check is local only: refuse any request that leaves the server under test.
    const origin = new URL(BASE_URL).origin;
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(origin) || url.startsWith("data:")) return route.continue();
      problems.push(`blocked outside request: ${url}`);
      return route.abort();
    });

    const url = `${BASE_URL}/swagger-ui/`;
    log(`opening ${url}`);
    const resp = await page.goto(url, { waitUntil: "domcontentloaded" });
    if (!resp || resp.status() !== 200) fail(`GET ${url} answered ${resp && resp.status()}`);
    await page.locator(".swagger-ui .info .title").waitFor();
    await page.locator(".opblock").first().waitFor();
    const title = (await page.locator(".swagger-ui .info .title").innerText()).trim();
    log(`Swagger UI loaded: "${title.split("\n")[0]}"`);
    if (await page.locator(".swagger-ui .errors-wrapper").count()) {
      const errs = (await page.locator(".swagger-ui .errors-wrapper").innerText()).trim();
      fail(`Swagger UI reports errors in the OpenAPI document:\n${errs}`);
    }

    // 1. Every endpoint is listed.
    const listed = await page.$$eval(".opblock", (blocks) =>
      blocks.map((b) => {
        const m = b.querySelector(".opblock-summary-method");
        const p = b.querySelector(".opblock-summary-path");
        return `${m ? m.textContent.trim() : "?"} ${p ? p.getAttribute("data-path") : "?"}`;
      }),
    );
    const missing = EXPECTED.map(([m, p]) => `${m} ${p}`).filter((op) => !listed.includes(op));
    if (missing.length) fail(`endpoints missing from Swagger UI: ${missing.join(", ")} (listed: ${listed.join(", ")})`);
    log(`all ${EXPECTED.length} endpoints listed (${listed.length} operations in the UI)`);

    // 2. Authorize with the project key through the "Authorize" dialog.
    const locks = await page.locator(".opblock .authorization__btn").count();
    if (locks === 0) fail("no operation shows the bearer scheme's lock");
    await authorize(page, API_KEY);
    log(`authorized through the "Authorize" dialog (${locks} operations carry the lock)`);

    // 3. Create a session through "Try it out".
    const created = await tryItOut(page, "POST", "/sessions", (block) =>
      fillBody(block, { sessionId: SESSION_ID }),
    );
    if (created.code !== "201") fail(`create session through the UI answered ${created.code}, expected 201:\n${created.text}`);
    log(`create session ${SESSION_ID} through the UI: ${created.code}`);

    // 4. Append an event through "Try it out".
    const appended = await tryItOut(page, "POST", "/sessions/{sessionId}/events", async (block) => {
      const input = block.locator('tr[data-param-name="sessionId"] input');
      await input.waitFor();
      await input.fill(SESSION_ID);
      await fillBody(block, { eventId: "e1", type: "user_speech", payload: { text: "hi" } });
    });
    if (appended.code !== "201") fail(`append event through the UI answered ${appended.code}, expected 201:\n${appended.text}`);
    log(`append event e1 through the UI: ${appended.code}`);

    // Show the append's live response in the screenshot.
    await appended.block.locator(".live-responses-table").scrollIntoViewIfNeeded();
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    log(`screenshot saved to ${SCREENSHOT}`);

    const serious = problems.filter((p) => !/favicon/i.test(p));
    if (serious.length) {
      // Reported, not fatal: Swagger UI itself worked; these are for a human to read.
      for (const p of serious) log(`note: ${p}`);
    }
  } finally {
    await browser.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`browser-check: FAILED: ${err instanceof CheckFailed ? err.message : err.stack || err}`);
    process.exit(1);
  },
);
