#!/usr/bin/env node
// The demo's chat in a real browser: Debian's Chromium driven by playwright-core.
//
//     node test_demo_browser.js --server PATH/TO/demo [--chromium /usr/bin/chromium]
//
// Starts the demo on a free port, opens the chat in two browser contexts (separate cookies, so
// two XSRF tokens), posts from each and waits for the message on the other, checks that a
// message with markup shows as text, that the WebSocket page (the default) and polling pages
// talk, that 8 tabs of one browser all chat, that a page comes with the newest messages and its
// script shows none twice, runs the /form flow and the chat (reading and posting) without
// JavaScript, fetches /plaintext and /json, and saves a screenshot under /tmp. Exits 0 on success,
// 1 on any failure; the whole run is bounded by OVERALL_TIMEOUT_MS. run_demo_browser.sh installs
// playwright-core and runs this.
"use strict";

const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

// Hang guards, not speed checks: generous, because Chromium on a loaded machine is slow (a
// run at load 25 took over 15 s just to start it). Under run_demo_browser.sh's 240 s.
const OVERALL_TIMEOUT_MS = 230000;
const LAUNCH_TIMEOUT_MS = 60000;  // starting Chromium
const STEP_TIMEOUT_MS = 30000;    // any single wait: page load, message delivery, ...
const SCREENSHOT = "/tmp/eddy-demo-browser.png";

function parseArgs(argv) {
  const args = { server: null, chromium: "/usr/bin/chromium" };
  for (let i = 2; i < argv.length; i += 2) {
    if (argv[i] === "--server") args.server = argv[i + 1];
    else if (argv[i] === "--chromium") args.chromium = argv[i + 1];
    else throw new Error("unknown argument " + argv[i]);
  }
  if (!args.server) throw new Error("usage: test_demo_browser.js --server PATH [--chromium PATH]");
  return args;
}

function check(condition, what) {
  if (!condition) throw new Error("check failed: " + what);
  console.log("ok - " + what);
}

// Starts the demo with --port 0; resolves with { proc, base, log } once it prints its port.
function startDemo(server) {
  return new Promise((resolve, reject) => {
    const proc = spawn(server, ["--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    const log = []; // stderr (the access log), shown when the test fails
    let out = "";
    const timer = setTimeout(() => reject(new Error("demo did not start: " + out)), STEP_TIMEOUT_MS);
    proc.stderr.on("data", (d) => log.push(d.toString()));
    proc.on("error", (err) => reject(err));
    proc.on("exit", (code) => reject(new Error("demo exited early with " + code + ": " + log.join(""))));
    proc.stdout.on("data", (d) => {
      out += d.toString();
      const m = out.match(/listening on (http:\/\/[^ ]+:\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, base: m[1], log });
      }
    });
  });
}

// SIGTERM, then the exit status (null if it had to be killed).
function stopDemo(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    const timer = setTimeout(() => { proc.kill("SIGKILL"); resolve(null); }, 10000);
    proc.removeAllListeners("exit");
    proc.on("exit", (code) => { clearTimeout(timer); resolve(code); });
    proc.kill("SIGTERM");
  });
}

// Script errors, and what the browser logs as an error (a failed load such as a 404 for
// /favicon.ico, a bad request), go to `errors`.
async function context_page(context, errors, name) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("pageerror", (err) => errors.push(name + ": " + err.message));
  page.on("console", (m) => {
    if (m.type() === "error" && !errors.ignoreConsole) errors.push(name + ": console: " + m.text());
  });
  return page;
}

// The page's basics for people with assistive technology: a language, a title, and a name
// (label or aria-label) for every control.
async function checkAccessible(page, what) {
  const found = await page.evaluate(() => ({
    lang: document.documentElement.lang,
    title: document.title,
    unnamed: [...document.querySelectorAll("input:not([type=hidden]), button, textarea, select")]
      .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") &&
                     !(e.tagName === "BUTTON" && e.textContent.trim()))
      .map((e) => e.outerHTML),
  }));
  check(found.lang && found.title && found.unnamed.length === 0,
        what + " has a lang, a title and named controls: " + JSON.stringify(found));
}

// The chat page; `path` "/?mode=poll" makes it long-poll, "/" lets it use a WebSocket.
async function openChat(context, base, errors, name, path = "/?mode=poll") {
  const page = await context_page(context, errors, name);
  await page.goto(base + path);
  await page.locator("#message-form").waitFor();
  return page;
}

// Posts `text` from page `from` and waits until every page in `to` shows it.
async function say(from, to, text) {
  await from.fill("#message", text);
  await from.press("#message", "Enter");
  for (const page of to) {
    await page.locator("#inbox .message", { hasText: text }).first().waitFor();
  }
}

async function run(args, state) {
  const { chromium } = require("playwright-core");
  const demo = await startDemo(args.server);
  state.demo = demo;
  const base = demo.base;
  console.log("demo at " + base);

  // A fresh profile for this run; the persistent context is "user A", a second context of the
  // same browser is "user B" with its own cookies.
  state.profile = fs.mkdtempSync(path.join(os.tmpdir(), "eddy-demo-chromium-"));
  const contextA = await chromium.launchPersistentContext(state.profile, {
      executablePath: args.chromium,
      headless: true,
      timeout: LAUNCH_TIMEOUT_MS,
      // Chromium's own services (autofill, accounts, updates) look up Google's names despite
      // --disable-background-networking: every name but the demo's address fails inside the
      // browser, so nothing is sent past loopback, not even a DNS query.
      args: [
          '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
          '--disable-background-networking', '--disable-component-update', '--disable-sync',
          '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
          '--disable-features=AutofillServerCommunication,OptimizationHints,Translate,MediaRouter',
          '--disable-domain-reliability', '--no-pings'
      ],
  });
  state.contextA = contextA;
  const contextB = await contextA.browser().newContext();
  console.log("chromium " + contextA.browser().version());

  const errors = [];
  const pageA = await openChat(contextA, base, errors, "A");
  const pageB = await openChat(contextB, base, errors, "B");
  const cookiesA = await contextA.cookies(base);
  const cookiesB = await contextB.cookies(base);
  const xsrf = (cookies) => (cookies.find((c) => c.name === "_xsrf") || {}).value;
  check(xsrf(cookiesA) && xsrf(cookiesB) && xsrf(cookiesA) !== xsrf(cookiesB),
        "each context got its own _xsrf cookie");

  await checkAccessible(pageA, "the chat page");
  const stamp = Date.now().toString(36);
  await say(pageA, [pageA, pageB], "hello from A " + stamp);
  check(true, "A's message reached B (long poll)");
  await say(pageB, [pageA, pageB], "hello from B " + stamp);
  check(true, "B's message reached A (long poll)");

  // Markup in a message is shown as text, never interpreted (by the script, and in the pages
  // that have it rendered in below).
  const markup = '<b id="injected">bold</b><script>window.injected = 1</script> & "quotes" ' + stamp;
  await say(pageA, [pageB], markup);
  const shown = await pageB.locator("#inbox .message").last().textContent();
  check(shown === markup, "a message with markup shows as text");
  check((await pageB.locator("#injected").count()) === 0, "no element was injected");
  check((await pageB.locator("#inbox .message").count()) === 3, "B shows exactly 3 messages");

  await pageB.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log("screenshot: " + SCREENSHOT);

  // A page opened later comes with the history (rendered in, as Tornado's chat page does), and
  // its script polls for what comes after the last of it: a first poll from 0 would show all
  // three twice.
  const lastId = await pageB.locator("#inbox .message").last().getAttribute("id");
  const pageC = await context_page(contextB, errors, "C");
  const [firstPoll] = await Promise.all([
    pageC.waitForRequest((r) => r.url() === base + "/a/message/updates"),
    pageC.goto(base + "/?mode=poll"),
  ]);
  const polledFrom = new URLSearchParams(firstPoll.postData()).get("cursor");
  check("m" + polledFrom === lastId, "the first poll starts after the rendered messages: " +
        polledFrom + " for " + lastId);
  await pageC.locator("#inbox .message", { hasText: markup }).waitFor();
  check((await pageC.locator("#inbox .message").count()) === 3, "a new page shows the history");
  check((await pageC.locator("#inbox .message").last().textContent()) === markup &&
        (await pageC.evaluate(() => window.injected === undefined)) &&
        (await pageC.locator("#injected").count()) === 0, "the rendered markup shows as text");
  await pageC.close();

  // WebSocket mode, the page's default: the history arrives over the socket, and messages
  // cross between a socket page and a long-polling page in both directions.
  const pageW = await context_page(contextA, errors, "W");
  const [socketW] = await Promise.all([pageW.waitForEvent("websocket"), pageW.goto(base + "/")]);
  await pageW.locator("#inbox .message", { hasText: markup }).waitFor();
  check(await pageW.evaluate(() => document.body.classList.contains("websocket-mode")),
        "the page uses the WebSocket by default");
  check(socketW.url() === base.replace("http:", "ws:") + "/chatsocket?cursor=" + lastId.slice(1),
        "its socket asks for the history after the rendered messages: " + socketW.url());
  check((await pageW.locator("#inbox .message").count()) === 3, "WebSocket page gets the history");
  await say(pageW, [pageW, pageB], "over the socket " + stamp);
  check(true, "a WebSocket message reached the long-polling page");
  await say(pageB, [pageW], "back to the socket " + stamp);
  check(true, "a long-poll post reached the WebSocket page");
  // The socket's history came before these two on the same socket: shown once, after the
  // rendered three.
  check((await pageW.locator("#inbox .message").count()) === 5,
        "the WebSocket page shows no message twice");
  // A message as long as the input allows, in characters of two and three UTF-8 bytes (the
  // server's limit counts characters too), over the socket and over a POST.
  const long = "\u00e9\u65e5".repeat(500) + stamp;
  await pageW.fill("#message", long.slice(0, 1000));
  check((await pageW.inputValue("#message")).length === 1000, "the input takes 1000 characters");
  await say(pageW, [pageB], long.slice(0, 1000));
  check(true, "a 1000-character (2500-byte) message went over the socket");
  await say(pageB, [pageW], long.slice(-1000));
  check(true, "a 1000-character message went over a POST");
  await pageW.close();

  // Tabs of one browser share its 6 connections to a host. Polling pages keep one each, so
  // with 6 of them a 7th page's load and posts waited for some poll to end (up to the poll
  // timeout, 30 s). The default page uses a WebSocket, which that limit does not count: 8 tabs
  // load, and a post from the last reaches them all, each within the poll timeout (the
  // wait below is shorter than it, and as long as it can be for a loaded machine).
  // (Opened at once, as a browser restoring its tabs does.)
  const TAB_MS = 25000;
  const tabsStart = Date.now();
  const contextT = await contextA.browser().newContext();
  const tabs = await Promise.all([...Array(8).keys()].map(async (i) => {
    const tab = await context_page(contextT, errors, "T" + i);
    tab.setDefaultTimeout(TAB_MS);
    await tab.goto(base + "/");
    await tab.locator("#inbox .message", { hasText: markup }).waitFor(); // the history came
    return tab;
  }));
  check(true, "8 tabs of one browser load the chat and get the history");
  await say(tabs[7], tabs, "to all 8 tabs " + stamp);
  check(true, "a post from the 8th tab reached all 8 (" + (Date.now() - tabsStart) + " ms)");
  await contextT.close();

  // A post that fails leaves the text in the input to be sent again (the browser logs the 503).
  errors.ignoreConsole = true;
  await pageB.route("**/a/message/new", (route) => route.fulfill({ status: 503, body: "down" }));
  await pageB.fill("#message", "kept " + stamp);
  await pageB.press("#message", "Enter");
  await pageB.locator("#status", { hasText: "Could not post" }).waitFor();
  check((await pageB.inputValue("#message")) === "kept " + stamp, "a failed post keeps the text");
  await pageB.unroute("**/a/message/new");
  errors.ignoreConsole = false;
  await say(pageB, [pageA], "kept " + stamp);
  check(true, "the kept text posts once the server answers");

  // The form: XSRF hidden field, signed cookie, 303 back to /form.
  await pageB.goto(base + "/form");
  await checkAccessible(pageB, "/form");
  await pageB.fill("input[name=name]", "Browser <B>");
  await Promise.all([pageB.waitForURL(base + "/form"), pageB.click("button")]);
  const greeting = await pageB.locator("#greeting").textContent();
  check(greeting === "Welcome back, Browser <B>!", "the form remembers the name: " + greeting);

  // Without JavaScript the chat's form posts itself (its hidden _xsrf and next fields), comes
  // back to the chat with a 303, and the message reaches the pages that run the script.
  // The page comes with the newest messages, so that it reads without the script too.
  const contextN = await contextA.browser().newContext({ javaScriptEnabled: false });
  const pageN = await context_page(contextN, errors, "N");
  await pageN.goto(base + "/");
  check((await pageN.locator("#inbox .message", { hasText: markup }).textContent()) === markup &&
        (await pageN.locator("#injected").count()) === 0,
        "without JavaScript the page shows the messages, markup as text");
  await pageN.fill("#message", "no script " + stamp);
  const [posted] = await Promise.all([
    pageN.waitForResponse((r) => r.url() === base + "/a/message/new"),
    pageN.press("#message", "Enter"),
  ]);
  check(posted.status() === 303, "the form posts without JavaScript (status " + posted.status() + ")");
  await pageN.waitForLoadState();
  check(pageN.url() === base + "/", "and comes back to the chat: " + pageN.url());
  const mine = pageN.locator("#inbox .message", { hasText: "no script " + stamp });
  await mine.waitFor();
  // In view: no script scrolls the box to its newest message (the two of 1000 characters
  // above make the list taller than the box was); the input's autofocus scrolls the page.
  const inView = async () => {
    const box = await mine.boundingBox();
    return box && box.y >= 0 && box.y + box.height <= pageN.viewportSize().height ? box : null;
  };
  const seenBy = Date.now() + STEP_TIMEOUT_MS;
  while (!(await inView()) && Date.now() < seenBy) await new Promise((r) => setTimeout(r, 100));
  check(await inView(), "which shows the message posted without JavaScript, in view: " +
        JSON.stringify(await mine.boundingBox()));
  await pageA.locator("#inbox .message", { hasText: "no script " + stamp }).waitFor();
  check(true, "a message posted without JavaScript reached A");
  await contextN.close();

  // Hello, World as the browser sees it.
  let response = await pageA.goto(base + "/plaintext");
  check(response.status() === 200 && (await response.text()) === "Hello, World!", "/plaintext");
  check(response.headers()["content-type"] === "text/plain", "/plaintext is text/plain");
  response = await pageA.goto(base + "/json");
  const json = JSON.parse(await response.text());
  check(response.status() === 200 && json.message === "Hello, World!", "/json");
  check(response.headers()["content-type"] === "application/json", "/json is application/json");

  check(errors.length === 0, "no script errors, no failed loads" + (errors.length ? ": " + errors.join("; ") : ""));
}

async function cleanup(state) {
  if (state.contextA) {
    await state.contextA.close().catch(() => {}); // closes the browser and context B too
  }
  if (state.profile) fs.rmSync(state.profile, { recursive: true, force: true });
  if (state.demo) {
    const code = await stopDemo(state.demo.proc);
    if (code !== 0) throw new Error("demo did not exit cleanly (status " + code + ")");
  }
}

async function main() {
  const state = {};
  const watchdog = setTimeout(() => {
    console.error("FAIL: the test took longer than " + OVERALL_TIMEOUT_MS / 1000 + " s");
    if (state.demo) state.demo.proc.kill("SIGKILL");
    process.exit(1);
  }, OVERALL_TIMEOUT_MS);
  let failure = null;
  try {
    await run(parseArgs(process.argv), state);
  } catch (err) {
    failure = err;
  }
  try {
    await cleanup(state);
  } catch (err) {
    failure = failure || err;
  }
  clearTimeout(watchdog);
  if (failure) {
    console.error("FAIL: " + (failure.stack || failure));
    if (state.demo) console.error("demo's log (tail):\n" + state.demo.log.join("").slice(-4000));
    process.exit(1);
  }
  console.log("PASS");
}

main();
