import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

export type FrontDoorHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Answers the requests it recognises and returns true; false leaves the request to the next one. */
export type Route = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => boolean;

export interface FrontDoor {
  port: number;
  /** Stops accepting, lets requests in flight finish (drainMs at most), then drops every connection. */
  close(drainMs?: number): Promise<void>;
}

/** The most header bytes an HTTP/1.1 request may carry (every header together). */
const MAX_HEADER_BYTES = 128 * 1024;

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * One cleartext port for HTTP/1.1 (Connect JSON from curl and browsers,
 * health, metrics) and HTTP/2 with prior knowledge (h2c, for gRPC). Node has
 * no h2c upgrade, so each connection is routed by its first bytes: the HTTP/2
 * client preface goes to the http2 server, anything else to the http one.
 */
export async function startFrontDoor(options: {
  host: string;
  port: number;
  handler: FrontDoorHandler;
  /**
   * Disable Nagle on accepted sockets (default true). Only the pre-ADR-0009
   * baseline server (tools/connect-baseline) turns it off, to measure as it was.
   */
  noDelay?: boolean;
}): Promise<FrontDoor> {
  const noDelay = options.noDelay ?? true;
  // Requests being served; shutdown waits for these, not for idle keep-alive connections.
  let inFlight = 0;
  const handler: FrontDoorHandler = (req, res) => {
    inFlight += 1;
    res.once("close", () => {
      inFlight -= 1;
    });
    options.handler(req, res);
  };

  // Room for an oversized Authorization header to reach the authorization
  // interceptor, which answers it unauthenticated, instead of Node answering
  // 431 at 16 KB. (HTTP/2 already takes a 64 KB header field, nghttp2's
  // fixed limit; a longer one ends the connection before any handler.)
  const h1 = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, handler);
  h1.keepAliveTimeout = 65_000;
  const h2 = http2.createServer({}, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const front = net.createServer((socket) => {
    // http.createServer disables Nagle on the sockets it accepts itself; these
    // are accepted here and handed over, so it is done here. Otherwise a
    // response written in two pieces waits for the client's delayed ACK.
    if (noDelay) socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("error", () => socket.destroy());
    socket.once("data", (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      const n = Math.min(first.length, HTTP2_PREFACE.length);
      if (first.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n))) {
        // The http2 session reads the bytes still buffered in the socket on
        // its next tick; resuming here would hand them to nobody.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });
  front.on("error", () => {});

  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(options.port, options.host, () => resolve());
  });
  const address = front.address() as net.AddressInfo;

  return {
    port: address.port,
    async close(drainMs = 5_000) {
      // front.close's callback would wait for idle keep-alive connections
      // too, so it is not awaited.
      front.close();
      for (const session of sessions) session.close();
      const deadline = Date.now() + drainMs;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const socket of sockets) socket.destroy();
      h1.close();
      h2.close();
    },
  };
}
