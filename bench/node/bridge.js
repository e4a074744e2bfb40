#!/usr/bin/env node
// The reference bridge of bench/: what a Node user would write instead of
// honeybee. Every peer is a `ws` client; every message goes out on one
// ZeroMQ PUB as honeybee's inbox does (SPEC.md section 4: peer id, payload,
// 24-byte metadata with conn and a per-peer seq), so hb-sub checks it the
// same way. zeromq.js allows one send in flight per socket, so messages
// wait in an array and one async loop sends them; when that queue is long
// the WebSocket sockets are paused (TCP pushes back) instead of dropping,
// like honeybee. No reconnects, pings or bookkeeping: the benchmark only
// measures the data path, so this is the cheapest version a user could
// write.
//
//   node bridge.js --inbox tcp://127.0.0.1:5550 --hwm 100000 p0=ws://127.0.0.1:9000/ ...
//
// Prints JSON lines: {"event":"connected","n":N} once every peer is open,
// {"event":"done"} at exit (SIGTERM).
"use strict";

const WebSocket = require("ws");
const zmq = require("zeromq");

const args = { inbox: "tcp://127.0.0.1:5550", hwm: 100000, peers: [] };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--inbox") args.inbox = argv[++i];
  else if (argv[i] === "--hwm") args.hwm = Number(argv[++i]);
  else if (argv[i].includes("=")) {
    const at = argv[i].indexOf("=");
    args.peers.push({ id: argv[i].slice(0, at), url: argv[i].slice(at + 1) });
  } else {
    console.error("usage: bridge.js [--inbox EP] [--hwm N] ID=URL...");
    process.exit(2);
  }
}

const HIGH = 10000; // queued messages before reading pauses
const LOW = 1000; // ... and resumes

const pub = new zmq.Publisher({ sendHighWaterMark: args.hwm, linger: 1000 });
const queue = [];
let head = 0;
let sending = false;
let paused = false;
const sockets = [];

function pauseAll(on) {
  paused = on;
  for (const ws of sockets) {
    if (on) ws._socket.pause();
    else ws._socket.resume();
  }
}

async function drain() {
  if (sending) return;
  sending = true;
  while (head < queue.length) {
    const m = queue[head];
    queue[head++] = undefined;
    await pub.send(m);
    if (paused && queue.length - head < LOW) pauseAll(false);
  }
  queue.length = 0;
  head = 0;
  sending = false;
}

function open(peer) {
  const idBuf = Buffer.from(peer.id);
  let seq = 0n;
  const ws = new WebSocket(peer.url, { perMessageDeflate: false, maxPayload: 16 << 20 });
  ws.on("message", (data, isBinary) => {
    const meta = Buffer.alloc(24);
    meta.writeUInt8(1, 0);
    meta.writeUInt8(isBinary ? 1 : 0, 1);
    meta.writeUInt32BE(1, 4);
    meta.writeBigUInt64BE(++seq, 8);
    meta.writeBigUInt64BE(BigInt(Date.now()) * 1000000n, 16);
    queue.push([idBuf, data, meta]);
    if (!paused && queue.length - head > HIGH) pauseAll(true);
    drain();
  });
  ws.on("error", (e) => console.error(`${peer.id}: ${e.message}`));
  return new Promise((resolve) => ws.on("open", () => resolve(ws)));
}

async function main() {
  await pub.bind(args.inbox);
  for (const ws of await Promise.all(args.peers.map(open))) sockets.push(ws);
  process.stdout.write(JSON.stringify({ event: "connected", n: sockets.length }) + "\n");
}

process.on("SIGTERM", () => {
  for (const ws of sockets) ws.terminate();
  pub.close();
  process.stdout.write(JSON.stringify({ event: "done" }) + "\n");
  process.exit(0);
});

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
