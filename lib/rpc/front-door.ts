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

/**
 * How long a client may take and how much it may hold open, so that a few
 * clients holding idle or half-sent connections cannot exhaust descriptors
 * and memory (issue 11). The host reads them from FRONT_DOOR_* variables
 * (lib/host/config.ts frontDoorEnv).
 */
export interface FrontDoorLimits {
  /** From accept to the first bytes, before the protocol is known. */
  firstByteTimeoutMs: number;
  /** HTTP/1.1: from a request's first byte to the end of its headers. */
  headersTimeoutMs: number;
  /** From a request's first byte (HTTP/1.1) or its stream's headers (h2) to the end of its body. */
  requestTimeoutMs: number;
  /** HTTP/1.1: a keep-alive connection with no request in progress. */
  keepAliveTimeoutMs: number;
  /** h2: a session with no open stream, whatever frames (pings, settings, unfinished headers) it sends. */
  h2IdleTimeoutMs: number;
  /** h2: SETTINGS_MAX_CONCURRENT_STREAMS announced to every client. */
  h2MaxConcurrentStreams: number;
  /** Connections (HTTP/1.1 connections and h2 sessions together) open at once from one client address. */
  maxConnectionsPerAddress: number;
}

export const FRONT_DOOR_DEFAULTS: Readonly<FrontDoorLimits> = {
  firstByteTimeoutMs: 10_000,
  headersTimeoutMs: 15_000,
  requestTimeoutMs: 60_000,
  // Above the usual 60 s idle timeout of load balancers, so they close first.
  keepAliveTimeoutMs: 65_000,
  h2IdleTimeoutMs: 120_000,
  h2MaxConcurrentStreams: 100,
  maxConnectionsPerAddress: 256,
};

/** A description of what is wrong with the limits, or undefined when they fit together. */
export function frontDoorLimitsProblem(limits: FrontDoorLimits): string | undefined {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) return `${name} must be a positive integer (got ${value})`;
  }
  // Node refuses the HTTP/1.1 server otherwise; said here in the variables' terms.
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    return `headersTimeoutMs (${limits.headersTimeoutMs}) must not exceed requestTimeoutMs (${limits.requestTimeoutMs})`;
  }
  return undefined;
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
  /** Timeouts and caps; FRONT_DOOR_DEFAULTS for any left out. */
  limits?: Partial<FrontDoorLimits>;
}): Promise<FrontDoor> {
  const noDelay = options.noDelay ?? true;
  const limits: FrontDoorLimits = { ...FRONT_DOOR_DEFAULTS, ...options.limits };
  const problem = frontDoorLimitsProblem(limits);
  if (problem !== undefined) throw new RangeError(`front door: ${problem}`);
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
  const h1 = http.createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often Node looks for requests past those two timeouts (default 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    handler,
  );
  h1.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Node tracks requests for headersTimeout and requestTimeout only once the
  // server emits "listening", which listen() would do; this server is never
  // listened on (connections are handed to it), so without this neither
  // timeout is ever enforced and a slowloris holds its connection forever.
  h1.emit("listening");
  const h2 = http2.createServer(
    { settings: { maxConcurrentStreams: limits.h2MaxConcurrentStreams } },
    handler,
  );
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    watchSessionIdle(session, limits.h2IdleTimeoutMs);
  });
  // Headers are complete once a stream exists; its body must end in time.
  h2.on("stream", (stream: http2.ServerHttp2Stream) => {
    if (stream.endAfterHeaders) return;
    const timer = setTimeout(() => {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    }, limits.requestTimeoutMs);
    timer.unref();
    const done = () => clearTimeout(timer);
    stream.once("end", done);
    stream.once("close", done);
  });

  // Open connections per client address, for the per-address cap.
  const perAddress = new Map<string, number>();
  const front = net.createServer((socket) => {
    const address = socket.remoteAddress ?? "";
    const open = perAddress.get(address) ?? 0;
    if (open >= limits.maxConnectionsPerAddress) {
      // Refused before any byte is read: the client sees the connection reset.
      socket.destroy();
      return;
    }
    perAddress.set(address, open + 1);
    // http.createServer disables Nagle on the sockets it accepts itself; these
    // are accepted here and handed over, so it is done here. Otherwise a
    // response written in two pieces waits for the client's delayed ACK.
    if (noDelay) socket.setNoDelay(true);
    sockets.add(socket);
    const firstBytes = setTimeout(() => socket.destroy(), limits.firstByteTimeoutMs);
    socket.once("close", () => {
      clearTimeout(firstBytes);
      sockets.delete(socket);
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
    socket.once("error", () => socket.destroy());
    socket.once("data", (first: Buffer) => {
      clearTimeout(firstBytes);
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

/**
 * Closes a session once it has had no open stream for idleMs. Node's own
 * session timeout restarts on every frame received, so pings, SETTINGS or a
 * header block sent a byte at a time (no stream exists until it is complete)
 * would keep the session forever; counting open streams does not.
 */
function watchSessionIdle(session: http2.ServerHttp2Session, idleMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => {
      session.close();
      // A peer that never acknowledges the GOAWAY does not keep the socket.
      setTimeout(() => session.destroy(), 1_000).unref();
    }, idleMs);
    timer.unref();
  };
  arm();
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open += 1;
    clearTimeout(timer);
    stream.once("close", () => {
      open -= 1;
      if (open === 0 && !session.closed && !session.destroyed) arm();
    });
  });
  session.once("close", () => clearTimeout(timer));
}
