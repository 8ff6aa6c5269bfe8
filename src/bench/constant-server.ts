// A server that answers every request with the same small JSON at once (it reads and drops the
// body): what a load generator reaches against it is the generator's own ceiling on this machine
// (or this server's, whichever is lower). Usage: node dist/bench/constant-server.js; prints {"port"}.
import http from 'node:http';

const reply = Buffer.from('{"model_name":"constant","outputs":[{"name":"y","shape":[1,1],"datatype":"FP32","data":[0]}]}');
const server = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': reply.length });
    res.end(reply);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
});
