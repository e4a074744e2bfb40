#!/usr/bin/env node
// An echo server on Node's `ws` (the most used WebSocket library of its
// ecosystem), for tests/integration/test_pool_interop.c:
//   node ws_server.js --port P [--tls CERT KEY]
// Echoes every message with its type; a text message "close <code> <why>"
// makes it close with that code instead. Prints "PORT <n>" when listening
// and "CLOSED <code>" when a connection ends.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');
const { WebSocketServer } = require(path.join(__dirname, 'node_modules', 'ws'));

const args = process.argv.slice(2);
let port = 0;
let tls = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port') port = Number(args[++i]);
  else if (args[i] === '--tls') tls = { cert: fs.readFileSync(args[++i]), key: fs.readFileSync(args[++i]) };
}
const server = tls ? https.createServer(tls) : http.createServer();
const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 * 1024, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const m = /^close (\d+) ?(.*)$/.exec(data.toString());
      if (m) { ws.close(Number(m[1]), m[2]); return; }
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code) => process.stdout.write(`CLOSED ${code}\n`));
  ws.on('error', () => {});
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`PORT ${server.address().port}\n`));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
