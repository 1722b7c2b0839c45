// The floor for bench/fanout.py --floor: the least a WebSocket broadcast server can do on this
// machine. Node's `ws` (deflate off, its default on a server), one loop over the clients per
// message, nothing else. Every connection gets a snapshot-shaped first frame (the bench's clients
// wait for it); `PUT /pin` with a frame's JSON (without seq) sends it with the next seq to everyone,
// as livedrop's pin does; `POST /gc` runs a full collection so memory is measured after gc.
// Listens on 127.0.0.1 and the port given (0: any), and prints the port on its first line.
"use strict";
const http = require("http");
const { WebSocketServer } = require("ws");

let seq = 0;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    if (req.method === "PUT" && req.url === "/pin") {
      seq += 1;
      const body = Buffer.concat(chunks).toString();  // '{"media_ms":null,"type":"pin",...}'
      const frame = `{"seq":${seq},` + body.slice(1);
      for (const client of wss.clients) client.send(frame);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(`{"seq":${seq}}`);
    } else if (req.method === "POST" && req.url === "/gc") {
      if (global.gc) global.gc();
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws) => {
  ws.send(`{"type":"snapshot","ts":${Date.now()},"seq":${seq}}`);
});
server.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  console.log(server.address().port);
});
