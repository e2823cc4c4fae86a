// socket.io-client through nginx when nginx talks HTTP/1.0 to roomcast,
// its default when `proxy_http_version 1.1` is missing (see
// deploy/nginx/roomcast.conf, which sets it):
//
// * deploy/nginx/roomcast.conf without that line: long-polling works (a
//   connection per request upstream, held GETs, POSTs, pings). The
//   WebSocket works too: the configuration still passes Upgrade and
//   Connection on, libwebsockets accepts the upgrade of an HTTP/1.0
//   request, and nginx 1.22 tunnels any 101 answer. RFC 6455 asks for
//   HTTP/1.1, so this is nginx's and lws' leniency, not a promise
//   (docs/reliability.md).
// * a bare `proxy_pass` (neither the version nor the Upgrade headers):
//   long-polling works; the WebSocket handshake reaches roomcast as a plain
//   GET and gets Engine.IO's 400, so a client offering both transports
//   stays on long-polling.
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import { connect, connectError, startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { startNginx } from "./lib/cluster.mjs";
import { RawWs, wsUrl } from "./lib/protocol.mjs";
import { receivedIds, requestRecord, startProducer } from "./lib/pressure.mjs";

const PING_INTERVAL = 1000;
const noVersion = (site) => site.replace(/^\s*proxy_http_version 1\.1;\n/m, "");
const bare = (site) => site.replace(/^\s*proxy_(http_version|set_header (Upgrade|Connection)) .*\n/gm, "");

let node, producer;

before(async () => {
  node = await startRoomcast(["--ping-interval", String(PING_INTERVAL), "--ping-timeout", "1000", "--max-connections-per-ip", "0"]);
  producer = await startProducer(node.bootstrap);
});

after(async () => {
  await producer?.stop();
  const exit = await node?.stop();
  assert.equal(exit?.code, 0);
});

// The first request line nginx sends upstream with a configuration variant.
async function upstreamRequestLine(edit) {
  const lines = [];
  const srv = net.createServer((s) => {
    s.once("data", (d) => {
      lines.push(d.toString("latin1").split("\r\n")[0]);
      s.end("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    });
    s.on("error", () => {});
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const lb = await startNginx([srv.address().port], { edit });
  try {
    await fetch(`${lb.url}/socket.io/?EIO=4&transport=polling`).then((r) => r.text());
    await waitFor(() => lines.some((l) => l.startsWith("GET /socket.io/")), { what: "the upstream request" });
    return lines.find((l) => l.startsWith("GET /socket.io/"));
  } finally {
    await lb.stop();
    srv.close();
  }
}

// A polling client through lb: joins a program with an ack (a POST),
// receives events (held GETs), and stays connected across ping cycles.
async function pollingWorks(lb, sub) {
  const s = await connect(lb.url, { auth: { token: token(sub, { programs: ["p1"] }) }, transports: ["polling"] });
  try {
    const ack = await s.timeout(5000).emitWithAck("join:program", { programId: "p1" });
    assert.deepEqual(ack, { ok: true });
    const recs = Array.from({ length: 3 }, () => requestRecord("p1", { tag: sub }));
    await producer.send(recs);
    await waitFor(() => recs.every((r) => receivedIds(s, "p1").includes(r.event_id)), { what: "events over long-polling" });
    await sleep(3 * PING_INTERVAL);
    assert.equal(s.connected, true, "still connected after three ping cycles");
    assert.equal(s.io.engine.transport.name, "polling");
    const more = requestRecord("p1", { tag: sub });
    await producer.send([more]);
    await waitFor(() => receivedIds(s, "p1").includes(more.event_id), { what: "an event after the pings" });
  } finally {
    s.close();
  }
}

describe("deploy/nginx/roomcast.conf without proxy_http_version 1.1", () => {
  let lb;
  before(async () => {
    lb = await startNginx([node.port], { edit: noVersion });
    assert.ok(!/proxy_http_version/.test(lb.site) && /proxy_set_header Upgrade/.test(lb.site), "the variant under test");
  });
  after(async () => lb?.stop());

  test("nginx speaks HTTP/1.0 upstream with it", async () => {
    assert.match(await upstreamRequestLine(noVersion), /^GET \/socket\.io\/\S+ HTTP\/1\.0$/);
  });

  test("long-polling works: handshake, POSTs, held GETs, pings", async () => {
    await pollingWorks(lb, "poll10");
  });

  test("the WebSocket works too: the Upgrade headers still pass, and nginx tunnels the 101", async () => {
    const s = await connect(lb.url, { auth: { token: token("ws10", { programs: ["p1"] }) }, transports: ["websocket"] });
    try {
      const r = requestRecord("p1", { tag: "ws10" });
      await producer.send([r]);
      await waitFor(() => receivedIds(s, "p1").includes(r.event_id), { what: "an event over the WebSocket" });
      await sleep(2 * PING_INTERVAL);
      assert.equal(s.connected, true);
    } finally {
      s.close();
    }
  });
});

describe("a bare proxy_pass: HTTP/1.0 and no Upgrade headers", () => {
  let lb;
  before(async () => {
    lb = await startNginx([node.port], { edit: bare });
    assert.ok(!/proxy_http_version|proxy_set_header (Upgrade|Connection)/.test(lb.site), "the variant under test");
  });
  after(async () => lb?.stop());

  test("long-polling works", async () => {
    await pollingWorks(lb, "pollbare");
  });

  test("a WebSocket handshake gets Engine.IO's 400: the upgrade never reaches the node", async () => {
    const c = new RawWs(wsUrl(lb.url));
    await c.opened.catch(() => {});
    assert.equal(c.response?.status, 400);
    assert.deepEqual(JSON.parse(c.response.body), { code: 3, message: "Bad request" });
    const err = await connectError(lb.url, { auth: { token: token("wsbare") }, transports: ["websocket"] });
    assert.match(err.message, /websocket error/);
  });

  test("a client offering both transports stays on long-polling and gets its events", async () => {
    const s = await connect(lb.url, { auth: { token: token("both", { programs: ["p1"] }) }, transports: ["polling", "websocket"] });
    try {
      await sleep(1500); // the upgrade probe has been refused by then
      assert.equal(s.io.engine.transport.name, "polling", "the upgrade failed");
      const r = requestRecord("p1", { tag: "both" });
      await producer.send([r]);
      await waitFor(() => receivedIds(s, "p1").includes(r.event_id), { what: "an event over long-polling" });
      assert.equal(s.connected, true);
    } finally {
      s.close();
    }
  });
});
