#!/usr/bin/env node
// A honeybee consumer in Node.js (npm `zeromq` 6): asks the bridge for its
// peers (control `list`), follows the inbox and the events, decodes the
// 24-byte metadata frame (>BBHIQQ: version, flags, reserved, conn, seq,
// received_ns), reports seq gaps (ZeroMQ dropped messages on the way here)
// and conn changes (the peer reconnected), and can write one message to a
// peer through the send socket.
//
//   npm install                      # in this folder: zeromq@6.8.0
//   node consumer.js --peer relay-a --count 10
//   node consumer.js --send-to relay-a --message 'hello'
//
// Endpoints: --inbox/--events/--send/--control, else HONEYBEE_INBOX,
// HONEYBEE_EVENTS, HONEYBEE_SEND, HONEYBEE_CONTROL (a bind address such as
// tcp://*:5550 is read as 127.0.0.1), else the bridge's defaults. Output is
// one line per thing seen, the same in every example language (see
// examples/python/consumer.py). A bridge with bridge.curve set needs
// --server-key (its public key, 40 characters of Z85, or its public
// certificate file) and --cert (this client's certificate with the secret
// key, `honeybee-cli keygen`), or HONEYBEE_SERVER_KEY and
// HONEYBEE_CLIENT_CERT (docs/security.md).
//
// Sharded bridges (bridge.shard "I/N"): each option takes a comma-separated
// list in shard order, shard 0 first. The consumer subscribes to every
// inbox and events endpoint, lists every shard (`peers shard=I/N ...`) and
// writes --send-to to its owner's send socket, found with shardOf() below
// (docs/protocol.md, "Sharding").
"use strict";

const fs = require("fs");
let zmq; // loaded by main(): shardOf needs no native addon

const MASK64 = (1n << 64n) - 1n;

// The shard (0..n-1) that owns a peer id: FNV-1a 64 of the id's UTF-8
// bytes, then the jump consistent hash (Lamping and Veach) into n buckets.
// The bridge, honeybee-cli and the Python example compute the same;
// tests/support/shard_vectors.json pins it. 64-bit steps in BigInt; the
// division is a double, as in the definition.
function shardOf(id, n) {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(id, "utf8")) {
    h = ((h ^ BigInt(byte)) * 0x100000001b3n) & MASK64;
  }
  let b = -1;
  let j = 0;
  while (j < n) {
    b = j;
    h = (h * 2862933555777941757n + 1n) & MASK64;
    j = Math.floor((b + 1) * (2 ** 31 / Number((h >> 33n) + 1n)));
  }
  return b;
}

function parseArgs(argv) {
  const a = { count: 0, seconds: 0, message: "hello from node" };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const known = ["inbox", "events", "send", "control", "peer", "count", "seconds", "sendTo",
      "message", "serverKey", "cert"];
    if (!argv[i].startsWith("--") || !known.includes(key) || i + 1 >= argv.length) {
      console.error(`usage: consumer.js [--inbox EP] [--events EP] [--send EP] [--control EP]
       [--peer ID] [--count N] [--seconds T] [--send-to ID] [--message TEXT]
       [--server-key KEY|FILE --cert FILE]`);
      process.exit(2);
    }
    a[key] = argv[++i];
  }
  a.count = Number(a.count);
  a.seconds = Number(a.seconds);
  return a;
}

// --flag, else the environment, else the default, as a list (comma-separated:
// one endpoint per shard, in shard order); a bind address is loopback.
function endpoints(value, env, def) {
  const eps = value !== undefined ? value : process.env[env] || def;
  return eps
    .split(",")
    .map((ep) => ep.trim())
    .filter((ep) => ep)
    .map((ep) => ep.replace(/^(tcp:\/\/)(\*|0\.0\.0\.0):/, "$1127.0.0.1:"));
}

// A czmq certificate (ZPL text): its Z85 keys, the secret one if present.
function readCert(path) {
  const text = fs.readFileSync(path, "utf8");
  const pub = /^\s*public-key\s*=\s*"([^"]{40})"/m.exec(text);
  const sec = /^\s*secret-key\s*=\s*"([^"]{40})"/m.exec(text);
  if (!pub) throw new Error(`${path}: not a czmq certificate`);
  return { publicKey: pub[1], secretKey: sec ? sec[1] : null };
}

// Socket options of a CURVE client of the bridge, or {} without CURVE.
function curveOptions(a) {
  const server = a.serverKey !== undefined ? a.serverKey : process.env.HONEYBEE_SERVER_KEY;
  const cert = a.cert !== undefined ? a.cert : process.env.HONEYBEE_CLIENT_CERT;
  if (!server && !cert) return {};
  if (!server || !cert) throw new Error("CURVE needs both --server-key and --cert");
  const serverKey =
    server.length === 40 && !fs.existsSync(server) ? server : readCert(server).publicKey;
  const mine = readCert(cert);
  if (!mine.secretKey) throw new Error(`--cert ${cert}: no secret key (give the _secret file)`);
  return { curveServerKey: serverKey, curvePublicKey: mine.publicKey, curveSecretKey: mine.secretKey };
}

function decodeMeta(buf) {
  return {
    version: buf.readUInt8(0),
    flags: buf.readUInt8(1),
    conn: buf.readUInt32BE(4),
    seq: buf.readBigUInt64BE(8), // u64: BigInt, exact past 2^53
    receivedNs: buf.readBigUInt64BE(16),
  };
}

async function listPeers(ep, curve, sharded) {
  // REQ has no retry of its own: one request, a receive timeout, give up.
  const req = new zmq.Request({ receiveTimeout: 5000, linger: 0, ...curve });
  req.connect(ep);
  try {
    await req.send(JSON.stringify({ op: "list" }));
    const [reply] = await req.receive();
    const r = JSON.parse(reply.toString());
    if (!r.ok) {
      console.log(`list failed error=${r.error}`);
      return;
    }
    const states = r.peers.map((p) => `${p.id}=${p.state}`).join(" ");
    const shard = sharded ? `shard=${r.shard ?? "?"}/${r.shards ?? "?"} ` : "";
    console.log(`peers ${shard}n=${r.peers.length} ${states}`.trimEnd());
  } catch (e) {
    console.log(`list failed error=timeout endpoint=${ep}`);
  } finally {
    req.close();
  }
}

async function main() {
  // The reader went away (`node consumer.js | head`): stop quietly, like a
  // Unix filter, instead of dying on an unhandled EPIPE.
  process.stdout.on("error", (e) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
  zmq = require("zeromq");
  const a = parseArgs(process.argv.slice(2));
  const inboxEps = endpoints(a.inbox, "HONEYBEE_INBOX", "tcp://127.0.0.1:5550");
  const eventsEps = endpoints(a.events, "HONEYBEE_EVENTS", "tcp://127.0.0.1:5551");
  const sendEps = endpoints(a.send, "HONEYBEE_SEND", "tcp://127.0.0.1:5552");
  const controlEps = endpoints(a.control, "HONEYBEE_CONTROL", "tcp://127.0.0.1:5553");

  const curve = curveOptions(a);
  const inbox = new zmq.Subscriber({ linger: 0, ...curve });
  // Prefix filter: "relay1" also matches "relay10"; frame 0 is compared below.
  inbox.subscribe(a.peer || "");
  // One SUB connected to every shard; a peer lives on one shard only, so
  // its seq and conn stay one sequence.
  for (const ep of inboxEps) inbox.connect(ep);
  const events = new zmq.Subscriber({ linger: 0, ...curve });
  events.subscribe();
  for (const ep of eventsEps) events.connect(ep);
  console.log(`ready inbox=${inboxEps.join(",")}`);

  for (const ep of controlEps) await listPeers(ep, curve, controlEps.length > 1);

  if (a.sendTo) {
    // A peer's messages go to its owner's send socket; "*" to every shard.
    const targets = a.sendTo === "*" ? sendEps : [sendEps[shardOf(a.sendTo, sendEps.length)]];
    for (const ep of targets) {
      const push = new zmq.Push({ linger: 5000, ...curve });
      push.connect(ep);
      // Refusals come back as send_failed events: PULL is one-way.
      await push.send([a.sendTo, a.message]);
      push.close();
    }
    console.log(`sent peer=${a.sendTo}`);
  }

  const last = new Map(); // peer -> {conn, seq}
  let got = 0;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    inbox.close();
    events.close();
  };
  if (a.seconds > 0) setTimeout(stop, a.seconds * 1000).unref();
  process.on("SIGINT", stop);

  const eventLoop = (async () => {
    try {
      for await (const [kind, peer, body] of events) {
        const ev = JSON.parse(body.toString());
        console.log(`event kind=${kind} id=${peer} json=${JSON.stringify(ev)}`);
      }
    } catch (e) {
      if (!stopping) throw e;
    }
  })();

  try {
    for await (const frames of inbox) {
      if (frames.length !== 3 || frames[2].length !== 24) {
        console.log(`skip frames=${frames.length}`);
        continue;
      }
      const peer = frames[0].toString();
      if (a.peer !== undefined && peer !== a.peer) continue;
      const m = decodeMeta(frames[2]);
      if (m.version !== 1) {
        console.log(`skip version=${m.version}`);
        continue;
      }
      const prev = last.get(peer);
      last.set(peer, { conn: m.conn, seq: m.seq });
      if (prev) {
        if (m.seq > prev.seq + 1n) {
          console.log(`gap peer=${peer} lost=${m.seq - prev.seq - 1n} seq=${prev.seq}->${m.seq}`);
        } else if (m.seq <= prev.seq) {
          console.log(`restart peer=${peer} seq=${prev.seq}->${m.seq}`);
        }
        if (m.conn !== prev.conn) console.log(`reconnect peer=${peer} conn=${prev.conn}->${m.conn}`);
      }
      const binary = m.flags & 1;
      const data = binary
        ? frames[1].toString("hex")
        : frames[1].toString("utf8").replace(/\n/g, "\\n");
      console.log(`message peer=${peer} conn=${m.conn} seq=${m.seq} binary=${binary} data=${data}`);
      got++;
      if (a.count && got >= a.count) break;
    }
  } catch (e) {
    if (!stopping) throw e;
  }
  stop();
  await eventLoop;
  console.log(`done messages=${got}`);
}

module.exports = { shardOf };

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
