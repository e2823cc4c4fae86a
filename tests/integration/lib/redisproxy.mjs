// A TCP proxy in front of redis-server that can hold one replay in flight:
// the test arms it, and the next history replay a node sends (the MULTI ...
// XRANGE ... EXEC of a recovery, on the history worker's connection, the
// one that also takes sessions with GETDEL) is kept from Redis. The test
// then does what it wants to Redis (restart it empty), and either cuts the
// held connection (the node sees its Redis connection break mid-replay) or
// hands the held replay to whatever Redis listens now, on a fresh upstream
// connection (the node sees an answer from the new store). Every other
// byte is passed through; an upstream that closes closes its client.
import net from "node:net";
import { once } from "node:events";

export async function startRedisProxy(redisPort) {
  const conns = new Set();
  let armed = null;
  const link = (c) => {
    const up = net.connect(redisPort, "127.0.0.1");
    c.upstream = up;
    up.on("data", (d) => c.client.write(d));
    up.on("error", () => {});
    up.on("close", () => { if (c.upstream === up && !c.held) c.client.destroy(); });
  };
  const srv = net.createServer((client) => {
    const c = { client, upstream: null, worker: false, held: null };
    conns.add(c);
    link(c);
    client.on("data", (d) => {
      if (c.held) {
        c.held.push(d);
        return;
      }
      const text = d.toString("latin1");
      if (text.includes("GETDEL")) c.worker = true;
      if (armed && c.worker && text.includes("MULTI") && text.includes("XRANGE")) {
        c.held = [d];
        const resolve = armed;
        armed = null;
        resolve(c);
        return;
      }
      c.upstream.write(d);
    });
    client.on("error", () => {});
    client.on("close", () => { conns.delete(c); c.upstream?.destroy(); });
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = srv.address().port;
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    // Resolves with the held connection once the next replay is held.
    holdNextReplay: () => new Promise((resolve) => { armed = resolve; }),
    // The node's connection breaks with its replay unanswered.
    cut: (c) => c.client.destroy(),
    // The held replay goes to the Redis listening now.
    release(c) {
      const old = c.upstream;
      const held = Buffer.concat(c.held);
      c.held = null;
      link(c);
      old.destroy();
      c.upstream.write(held);
    },
    close: async () => {
      for (const c of conns) { c.client.destroy(); c.upstream?.destroy(); }
      srv.close();
      await once(srv, "close");
    },
  };
}
