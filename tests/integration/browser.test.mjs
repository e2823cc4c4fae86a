// Headless Chromium (Debian's, driven by playwright-core) loads a page that
// uses the browser build of socket.io-client. The page comes from a small
// HTTP server on another port, so every request to roomcast is
// cross-origin: roomcast's CORS allow-list and WebSocket Origin check are
// exercised by a real browser, over long-polling and over WebSocket, and the
// page receives a record produced to Kafka.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";
import { SOURCE_DIR, produce, startRoomcast, token } from "./lib/fixtures.mjs";

const CLIENT_JS = path.join(SOURCE_DIR, "tests/node_modules/socket.io-client/dist/socket.io.min.js");

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>roomcast browser test</title>
<script src="/socket.io.min.js"></script></head>
<body><script>
  const q = new URLSearchParams(location.search);
  window.events = [];
  window.state = { connected: false, error: null, transport: null };
  const socket = io(q.get("server"), {
    transports: JSON.parse(q.get("transports")),
    auth: { token: q.get("token") },
    reconnection: false,
  });
  socket.onAny((event, ...args) => window.events.push({ event, args }));
  socket.on("connect", () => {
    window.state.connected = true;
    window.state.transport = socket.io.engine.transport.name;
  });
  socket.on("connect_error", (e) => { window.state.error = { message: e.message, data: e.data ?? null }; });
  window.socket = socket;
</script></body></html>`;

let pages; // the page server
let pagePort;
let node;
let context;
let userDataDir;
let seq = 0;

before(async () => {
  const js = fs.readFileSync(CLIENT_JS);
  pages = http.createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    if (u.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(PAGE);
    } else if (u.pathname === "/socket.io.min.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(js);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => pages.listen(0, "127.0.0.1", resolve));
  pagePort = pages.address().port;
  // Only the page's origin may use roomcast from a browser.
  node = await startRoomcast(["--cors-origins", `http://127.0.0.1:${pagePort}`]);
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "roomcast-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => {
  await context?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  await new Promise((resolve) => (pages ? pages.close(resolve) : resolve()));
  const exit = await node?.stop();
  assert.equal(exit?.code, 0);
});

async function openPage(host, transports, tok) {
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  const q = new URLSearchParams({ server: node.url, transports: JSON.stringify(transports), token: tok });
  await page.goto(`http://${host}:${pagePort}/?${q}`);
  page.logs = logs;
  return page;
}

for (const transports of [["polling"], ["websocket"]]) {
  describe(`Chromium over ${transports[0]}`, () => {
    test("connects cross-origin, receives a broadcast from Kafka, emits with an ack", async () => {
      const user = `browser-${transports[0]}`;
      const program = `bp-${transports[0]}`;
      const page = await openPage("127.0.0.1", transports, token(user, { programs: [program] }));
      try {
        await page.waitForFunction(() => window.state.connected || window.state.error, null, { timeout: 15000 });
        assert.deepEqual(await page.evaluate(() => window.state), { connected: true, error: null, transport: transports[0] },
          page.logs.join("\n"));
        const ack = await page.evaluate((p) => window.socket.timeout(5000).emitWithAck("join:program", p), program);
        assert.deepEqual(ack, { ok: true });
        const denied = await page.evaluate(() => window.socket.timeout(5000).emitWithAck("join:program", "elsewhere"));
        assert.deepEqual(denied, { ok: false, error: { code: "FORBIDDEN" } });

        const r = {
          event_id: `browser-${process.pid}-${++seq}`, occurred_at: Date.parse("2026-11-21T10:00:00.000Z"),
          performed_by: { user_id: "u1", name: "Ada" }, action: "ADDED", program_id: program,
          request_id: "r1", comment_id: "c1", body_preview: "seen by a browser",
        };
        await produce(node.bootstrap, "comments.mutations", "CommentMutation", [r], "bare");
        await page.waitForFunction((id) => window.events.some((e) => e.args[0]?.eventId === id), r.event_id,
          { timeout: 15000 });
        const got = await page.evaluate((id) => window.events.find((e) => e.args[0]?.eventId === id), r.event_id);
        assert.equal(got.event, "comment:added");
        assert.deepEqual(got.args[0].data, { commentId: "c1", bodyPreview: "seen by a browser" });
        assert.equal(got.args[0].timestamp, "2026-11-21T10:00:00.000Z");
        assert.equal(await page.evaluate(() => window.socket.io.engine.transport.name), transports[0]);
      } finally {
        await page.close();
      }
    });

    test("a page from an origin not on the allow-list cannot connect", async () => {
      // localhost and 127.0.0.1 are different origins
      const page = await openPage("localhost", transports, token("mallory"));
      try {
        await page.waitForFunction(() => window.state.connected || window.state.error, null, { timeout: 15000 });
        const state = await page.evaluate(() => window.state);
        assert.equal(state.connected, false);
        assert.match(state.error.message, transports[0] === "polling" ? /xhr poll error/ : /websocket error/);
      } finally {
        await page.close();
      }
    });
  });
}
