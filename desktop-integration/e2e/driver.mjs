// @ts-check
// A small bridge from a test process to a real Chromium, for tests/test_browser_*.py.
//
//   node e2e/driver.mjs        (reads JSON lines on stdin, answers JSON lines on stdout)
//
// Each request is {"id": n, "op": "...", ...}; each answer {"id": n, "ok": true, "value": ...}
// or {"id": n, "ok": false, "error": "..."}. The browser is Debian's Chromium
// (CHROMIUM_BIN, default /usr/bin/chromium), never one Playwright downloads. Its microphone is
// Chromium's fake capture device playing a WAV file. Stdin's end closes the browser and exits.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

import { chromium } from "playwright-core";

const TAPS = readFileSync(new URL("./audioTaps.js", import.meta.url), "utf8");
const executablePath = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

/**
 * One request of the test process.
 * @typedef {{ id: number, op: string, audio?: string, loop?: boolean, url?: string, role?: string,
 *   name?: string, testid?: string, attribute?: string, selector?: string, path?: string }} Request
 */

/** @param {string | undefined} value @param {string} field */
function required(value, field) {
  if (value === undefined) throw new Error(`the request has no ${field}`);
  return value;
}

/** @type {import("playwright-core").Browser | null} */
let browser = null;
/** @type {import("playwright-core").Page | null} */
let page = null;
/** @type {string[]} */
let consoleLines = [];

function currentPage() {
  if (!page) throw new Error("no page: send a launch request first");
  return page;
}

/** @param {Request} request */
function locate(request) {
  const p = currentPage();
  if (request.testid !== undefined) return p.getByTestId(request.testid);
  if (request.role !== undefined) {
    const role = /** @type {Parameters<import("playwright-core").Page["getByRole"]>[0]} */ (request.role);
    return p.getByRole(role, request.name === undefined ? {} : { name: request.name, exact: true });
  }
  throw new Error("name an element by testid or role");
}

/** Closes the page as a user closing the window would: livekit-client's beforeunload handler
 * leaves the room (a browser that just dies leaves its participant for livekit-server to
 * time out, ~20 s, and its agent's job with it). */
async function closeBrowser() {
  const open = browser;
  const closing = page;
  browser = null;
  page = null;
  if (closing) {
    await closing.close({ runBeforeUnload: true });
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  if (open) await open.close();
}

/** @type {Record<string, (request: Request) => Promise<unknown>>} */
const OPS = {
  /** A fresh browser whose microphone plays `audio` (looped unless `loop` is false). */
  async launch({ audio, loop = true }) {
    const file = required(audio, "audio");
    await closeBrowser();
    consoleLines = [];
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: [
        "--use-fake-ui-for-media-stream", // grant the microphone without a prompt
        "--use-fake-device-for-media-stream", // fake devices instead of the machine's
        `--use-file-for-fake-audio-capture=${file}${loop ? "" : "%noloop"}`,
      ],
    });
    const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
    await context.addInitScript(TAPS);
    page = await context.newPage();
    page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
    page.on("pageerror", (error) => consoleLines.push(`pageerror: ${error.message}`));
    return browser.version();
  },
  async goto({ url }) {
    await currentPage().goto(required(url, "url"));
  },
  async click(request) {
    await locate(request).click({ timeout: 5_000 });
  },
  /** The element's text, or null when it is not on the page. */
  async text(request) {
    const element = locate(request);
    return (await element.count()) === 0 ? null : await element.first().innerText();
  },
  async attribute(request) {
    const element = locate(request);
    const name = required(request.attribute, "attribute");
    return (await element.count()) === 0 ? null : await element.first().getAttribute(name);
  },
  async count({ selector }) {
    return currentPage().locator(required(selector, "selector")).count();
  },
  async taps_now() {
    return currentPage().evaluate(() => window.__voiceTaps.now());
  },
  async agent_taps() {
    return currentPage().evaluate(() => window.__voiceTaps.agentTaps());
  },
  async take({ name }) {
    return currentPage().evaluate((tapName) => window.__voiceTaps.take(tapName), required(name, "name"));
  },
  async screenshot({ path }) {
    await currentPage().screenshot({ path: required(path, "path"), fullPage: true });
  },
  console() {
    return Promise.resolve(consoleLines);
  },
  async close() {
    await closeBrowser();
  },
};

/** @param {string} line */
async function answer(line) {
  const parsed = /** @type {unknown} */ (JSON.parse(line));
  const request = /** @type {Request} */ (parsed);
  const op = OPS[request.op];
  try {
    if (!op) throw new Error(`unknown op ${request.op}`);
    const value = await op(request);
    return { id: request.id, ok: true, value: value ?? null };
  } catch (error) {
    return { id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === "") continue;
  process.stdout.write(`${JSON.stringify(await answer(line))}\n`);
}
await closeBrowser();
