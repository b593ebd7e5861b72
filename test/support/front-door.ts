/**
 * Short front-door limits (FRONT_DOOR_*) for the tests and the attack suite
 * that hold slow sockets against a real orders process: short enough that a
 * case ends in seconds, far enough apart that each limit is told apart.
 */
export const SHORT_FRONT_DOOR_LIMITS = {
  FRONT_DOOR_FIRST_BYTE_TIMEOUT_MS: 1_500,
  FRONT_DOOR_HEADERS_TIMEOUT_MS: 3_000,
  FRONT_DOOR_REQUEST_TIMEOUT_MS: 4_000,
  FRONT_DOOR_KEEP_ALIVE_TIMEOUT_MS: 2_000,
  FRONT_DOOR_H2_IDLE_TIMEOUT_MS: 2_000,
  FRONT_DOOR_H2_MAX_CONCURRENT_STREAMS: 20,
  FRONT_DOOR_MAX_CONNECTIONS_PER_ADDRESS: 8,
} as const;

/** The limits as a process environment. */
export function shortFrontDoorEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(SHORT_FRONT_DOOR_LIMITS).map(([k, v]) => [k, String(v)]));
}

/** A connection still open this long, well past every limit above, was not closed by the server. */
export const HELD_OPEN_MS = 20_000;

/** Another loopback source address for per-address floods, so the caller's own clients are not counted with it. */
export const FLOOD_ADDRESS = "127.0.0.3";

export const GET_ORDER_PATH = "/accord.orders.v1.OrderService/GetOrder";
