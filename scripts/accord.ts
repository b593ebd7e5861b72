// The Accord command line: place an order, watch it, cancel it, look around.
//   npm run accord -- login [--device] | whoami | logout
//   npm run accord -- place --item BOOK-001:2 --item MUG-042:1 [--price 1250 --price 899] [--email a@b.c] [--currency EUR]
//     (prices come from the catalog and are printed; --price, once per item in
//     order, sends the price you were shown: a changed price is refused)
//   npm run accord -- products [--currency EUR]             (the catalog: SKU, price, name)
//   npm run accord -- get <order-id> | watch <order-id> | cancel <order-id> [--reason text] | list
//   npm run accord -- stock <sku> [--set <units>]        (--set needs ops: ACCORD_USER=olivia)
//   npm run accord -- payment refund <order-id> [--reason text] [--key k]
//     (ops only: refunds the order's captured payment; the order becomes REFUNDED
//     and the customer is emailed; --key repeats an earlier attempt)
//
// Who it calls as, first match wins:
//   1. ACCORD_USER (and ACCORD_PASSWORD, default the demo user's): the
//      password grant of the accord-cli client. Development only: the realm
//      allows it for this client alone, for the demo people of
//      lib/auth/dev-identities.ts; a real deployment turns it off.
//   2. the token `login --device` cached in .accord/cli-token.json (0600),
//      renewed with its refresh token while that lasts;
//   3. the demo customer alice, by the same dev-only password grant.
import { randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { CatalogService } from "#gen/accord/catalog/v1/catalog_pb.js";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import {
  FailureCode,
  type Order,
  OrderService,
  OrderStatus,
  PriceChangedSchema,
} from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentService, PaymentStatus } from "#gen/accord/payments/v1/payments_pb.js";
import { passwordGrant, type TokenSource } from "#lib/auth/client-credentials.ts";
import { DEFAULT_ISSUER, DEMO_USERS, type DemoUser } from "#lib/auth/dev-identities.ts";
import { rpcClient } from "#lib/rpc/clients.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TOKEN_FILE = path.join(process.env.ACCORD_HOME ?? path.join(ROOT, ".accord"), "cli-token.json");
const CLIENT_ID = "accord-cli";
const issuer = process.env.OIDC_ISSUER ?? DEFAULT_ISSUER;
const tokenEndpoint = `${issuer}/protocol/openid-connect/token`;
const deviceEndpoint = `${issuer}/protocol/openid-connect/auth/device`;
const ordersUrl = process.env.ORDERS_URL ?? `http://127.0.0.1:${process.env.ORDERS_PORT ?? 8081}`;
const inventoryUrl = process.env.INVENTORY_URL ?? `http://127.0.0.1:${process.env.INVENTORY_PORT ?? 8082}`;
const catalogUrl = process.env.CATALOG_URL ?? `http://127.0.0.1:${process.env.CATALOG_PORT ?? 8087}`;
const paymentsUrl = process.env.PAYMENTS_URL ?? `http://127.0.0.1:${process.env.PAYMENTS_PORT ?? 8083}`;

const FINAL = new Set([
  OrderStatus.CONFIRMED,
  OrderStatus.FAILED,
  OrderStatus.CANCELLED,
  OrderStatus.DELIVERED,
  OrderStatus.REFUNDED,
]);

export function describeOrder(order: Order): string {
  const status = OrderStatus[order.status] ?? "UNKNOWN";
  const total = order.total ? `${order.total.amountMinor} ${order.total.currencyCode} (minor units)` : "";
  const why =
    order.status === OrderStatus.FAILED
      ? ` — ${FailureCode[order.failureCode]}: ${order.failureReason}`
      : order.status === OrderStatus.CANCELLED
        ? ` — ${order.failureReason}`
        : "";
  return `${order.orderId}  ${status}  ${total}${why}`;
}

/** The order's lines at the prices it was accepted at (the catalog's), one per line. */
export function describeLines(order: Order): string[] {
  return order.lines.map(
    (l) =>
      `  ${l.sku} x${l.quantity} at ${l.unitPrice?.amountMinor ?? 0n} ${l.unitPrice?.currencyCode ?? ""} each (catalog price, minor units)`,
  );
}

/** Each line whose shown price the catalog no longer has, and what to send instead. */
export function describePriceChanges(error: ConnectError): string[] {
  return error.findDetails(PriceChangedSchema).map((c) => {
    const shown = `${c.shownPrice?.amountMinor ?? 0n} ${c.shownPrice?.currencyCode ?? ""}`;
    const now = `${c.currentPrice?.amountMinor ?? 0n} ${c.currentPrice?.currencyCode ?? ""}`;
    return `  line ${c.lineIndex} ${c.sku}: shown ${shown}, now ${now}; place again without --price or with --price ${c.currentPrice?.amountMinor ?? 0n}`;
  });
}

/** Polls GetOrder until the order reaches a final status or the timeout passes. */
export async function watchOrder(
  orders: Client<typeof OrderService>,
  orderId: string,
  timeoutMs: number,
  onChange: (o: Order) => void,
): Promise<Order> {
  let last: OrderStatus | undefined;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { order } = await orders.getOrder({ orderId });
    if (!order) throw new Error(`order ${orderId} vanished`);
    if (order.status !== last) {
      last = order.status;
      onChange(order);
    }
    if (FINAL.has(order.status) || Date.now() > deadline) return order;
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ------------------------------------------------------------------ identity

/** The claims the CLI reads from its own token, to say who it is (the services verify it; this does not). */
interface TokenClaims {
  sub?: string;
  preferred_username?: string;
  email?: string;
  realm_access?: { roles?: string[] };
}

export function claimsOf(token: string): TokenClaims {
  try {
    return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as TokenClaims;
  } catch {
    return {};
  }
}

interface CachedLogin {
  accessToken: string;
  accessExpiresAtMs: number;
  refreshToken?: string;
  refreshExpiresAtMs?: number;
  issuer: string;
}

interface Login {
  tokens: TokenSource;
  /** How this login was made, for messages: "alice (dev password grant)". */
  who: string;
}

function demoUser(name: string): DemoUser | undefined {
  return Object.hasOwn(DEMO_USERS, name) ? (name as DemoUser) : undefined;
}

function passwordLogin(username: string, password: string | undefined): Login {
  const demo = demoUser(username);
  const secret = password ?? (demo ? DEMO_USERS[demo].password : undefined);
  if (secret === undefined) {
    throw new Error(`ACCORD_PASSWORD: required for ${username}, who is not one of the demo users`);
  }
  return {
    tokens: passwordGrant({ tokenUrl: tokenEndpoint, clientId: CLIENT_ID, username, password: secret }),
    who: `${username} (dev-only password grant)`,
  };
}

function readCachedLogin(): CachedLogin | undefined {
  try {
    const cached = JSON.parse(readFileSync(TOKEN_FILE, "utf8")) as CachedLogin;
    return cached.issuer === issuer ? cached : undefined;
  } catch {
    return undefined;
  }
}

function writeCachedLogin(login: CachedLogin): void {
  mkdirSync(path.dirname(TOKEN_FILE), { recursive: true });
  // Mode 0600 at creation, and again in case the file existed with a wider one.
  writeFileSync(TOKEN_FILE, `${JSON.stringify(login)}\n`, { mode: 0o600 });
  chmodSync(TOKEN_FILE, 0o600);
}

interface TokenAnswer {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
  refresh_expires_in?: number;
}

function cachedFrom(answer: TokenAnswer): CachedLogin {
  const now = Date.now();
  return {
    accessToken: answer.access_token,
    accessExpiresAtMs: now + answer.expires_in * 1000,
    ...(answer.refresh_token
      ? {
          refreshToken: answer.refresh_token,
          // 0 means "as long as the session lasts" in Keycloak; the realm then refuses it when it ends.
          refreshExpiresAtMs: answer.refresh_expires_in ? now + answer.refresh_expires_in * 1000 : undefined,
        }
      : {}),
    issuer,
  };
}

/** POSTs a form to the realm; the realm's error code (never a token) on failure. */
async function postForm(
  url: string,
  form: Record<string, string>,
): Promise<{ ok: true; body: unknown } | { ok: false; error: string }> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form),
      signal: AbortSignal.timeout(10_000),
    });
  } catch {
    throw new ConnectError(`identity provider unreachable at ${issuer}`, Code.Unavailable);
  }
  const body = (await response.json().catch(() => ({}))) as { error?: string };
  if (response.ok) return { ok: true, body };
  return { ok: false, error: typeof body.error === "string" ? body.error : `http ${response.status}` };
}

/** The device-grant login's tokens: the cached access token, renewed by its refresh token. */
function cachedLoginTokens(initial: CachedLogin): TokenSource {
  let current = initial;
  return {
    async token() {
      if (Date.now() < current.accessExpiresAtMs - 10_000) return current.accessToken;
      const refreshable =
        current.refreshToken !== undefined &&
        (current.refreshExpiresAtMs === undefined || Date.now() < current.refreshExpiresAtMs);
      if (!refreshable || current.refreshToken === undefined) {
        throw new ConnectError(
          "the cached login has expired: run `npm run accord -- login --device` again",
          Code.Unauthenticated,
        );
      }
      const answer = await postForm(tokenEndpoint, {
        grant_type: "refresh_token",
        client_id: CLIENT_ID,
        refresh_token: current.refreshToken,
      });
      if (!answer.ok) {
        throw new ConnectError(
          `the cached login could not be renewed (${answer.error}): run \`npm run accord -- login --device\` again`,
          Code.Unauthenticated,
        );
      }
      current = cachedFrom(answer.body as TokenAnswer);
      writeCachedLogin(current);
      return current.accessToken;
    },
    forget() {
      current = { ...current, accessExpiresAtMs: 0 };
    },
  };
}

/** Who the CLI calls as (see the header of this file). */
export function currentLogin(env: NodeJS.ProcessEnv = process.env): Login {
  if (env.ACCORD_USER) return passwordLogin(env.ACCORD_USER, env.ACCORD_PASSWORD);
  const cached = readCachedLogin();
  if (cached) {
    const name = claimsOf(cached.accessToken).preferred_username ?? "unknown user";
    return { tokens: cachedLoginTokens(cached), who: `${name} (device login, ${TOKEN_FILE})` };
  }
  return passwordLogin("alice", undefined);
}

/**
 * OAuth 2.0 device authorization grant (RFC 8628): the realm hands out a
 * user code, the person approves it in a browser (anywhere), this polls the
 * token endpoint until they did, then caches the tokens for later commands.
 */
async function deviceLogin(print: (line: string) => void): Promise<CachedLogin> {
  const started = await postForm(deviceEndpoint, { client_id: CLIENT_ID, scope: "openid" });
  if (!started.ok) throw new ConnectError(`device login refused: ${started.error}`, Code.Unauthenticated);
  const device = started.body as {
    device_code: string;
    user_code: string;
    verification_uri: string;
    verification_uri_complete?: string;
    expires_in: number;
    interval?: number;
  };
  print(`Open ${device.verification_uri} and enter the code ${device.user_code}`);
  if (device.verification_uri_complete) print(`(or open ${device.verification_uri_complete})`);
  print("Waiting for the approval...");
  let intervalMs = (device.interval ?? 5) * 1000;
  const deadline = Date.now() + device.expires_in * 1000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, intervalMs));
    const answer = await postForm(tokenEndpoint, {
      grant_type: "urn:ietf:params:oauth:grant-type:device_code",
      client_id: CLIENT_ID,
      device_code: device.device_code,
    });
    if (answer.ok) return cachedFrom(answer.body as TokenAnswer);
    if (answer.error === "authorization_pending") continue;
    if (answer.error === "slow_down") {
      intervalMs += 5_000;
      continue;
    }
    throw new ConnectError(`device login failed: ${answer.error}`, Code.Unauthenticated);
  }
  throw new ConnectError("device login timed out before the code was approved", Code.DeadlineExceeded);
}

function describeIdentity(token: string): string {
  const claims = claimsOf(token);
  const roles = (claims.realm_access?.roles ?? []).filter((r) =>
    ["customer", "partner", "ops", "release"].includes(r),
  );
  return `${claims.preferred_username ?? "?"} (id ${claims.sub ?? "?"}, roles ${roles.join(", ") || "none"})`;
}

// ------------------------------------------------------------------ commands

/** A hint for the refusals a person can act on, after the `error: [code] message` line. */
function hintFor(error: ConnectError, needsOps: boolean, who: string): string | undefined {
  if (error.code === Code.PermissionDenied) {
    return needsOps
      ? `permission denied: ${who} may not do this; it needs the ops role (ACCORD_USER=olivia npm run accord -- ...)`
      : `permission denied: ${who} may not do this`;
  }
  if (error.code === Code.Unauthenticated) {
    return `not authenticated as ${who}: log in with \`npm run accord -- login\` (or set ACCORD_USER/ACCORD_PASSWORD)`;
  }
  return undefined;
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      item: { type: "string", multiple: true },
      email: { type: "string" },
      customer: { type: "string" },
      currency: { type: "string", default: "EUR" },
      price: { type: "string", multiple: true },
      reason: { type: "string" },
      set: { type: "string" },
      timeout: { type: "string", default: "60" },
      device: { type: "boolean", default: false },
      key: { type: "string" },
    },
  });
  const [command, arg, target] = positionals;

  if (command === "login") {
    if (values.device) {
      const login = await deviceLogin((line) => console.log(line));
      writeCachedLogin(login);
      console.log(`logged in as ${describeIdentity(login.accessToken)}; token cached in ${TOKEN_FILE}`);
      return;
    }
    const login = currentLogin();
    const token = await login.tokens.token("orders");
    console.log(`logged in as ${describeIdentity(token)} by ${login.who}`);
    console.log("(dev only; `login --device` logs in through the browser and caches the token)");
    return;
  }
  if (command === "logout") {
    rmSync(TOKEN_FILE, { force: true });
    console.log(`removed ${TOKEN_FILE}`);
    return;
  }

  const login = currentLogin();
  const orders = rpcClient(OrderService, ordersUrl, "connect-json", {
    tokens: login.tokens,
    audience: "orders",
  });
  const inventory = rpcClient(InventoryService, inventoryUrl, "connect-json", {
    tokens: login.tokens,
    audience: "inventory",
  });
  const payments = rpcClient(PaymentService, paymentsUrl, "connect-json", {
    tokens: login.tokens,
    audience: "payments",
  });
  try {
    await run(command, arg, values, login, orders, inventory, payments, target);
  } catch (error) {
    const e = ConnectError.from(error);
    console.error(`error: [${Code[e.code]}] ${e.rawMessage}`);
    for (const line of describePriceChanges(e)) console.error(line);
    // Setting stock and refunding are the commands only ops may run.
    const hint = hintFor(
      e,
      (command === "stock" && values.set !== undefined) || command === "payment",
      login.who,
    );
    if (hint) console.error(hint);
    process.exitCode = 1;
  }
}

async function run(
  command: string | undefined,
  arg: string | undefined,
  values: {
    item?: string[];
    email?: string;
    customer?: string;
    currency: string;
    price?: string[];
    reason?: string;
    set?: string;
    timeout: string;
    key?: string;
  },
  login: Login,
  orders: Client<typeof OrderService>,
  inventory: Client<typeof InventoryService>,
  payments: Client<typeof PaymentService>,
  target: string | undefined,
) {
  switch (command) {
    case "whoami": {
      console.log(`${describeIdentity(await login.tokens.token("orders"))} by ${login.who}`);
      return;
    }
    case "place": {
      const items = values.item?.length ? values.item : ["BOOK-001:1"];
      const shown = values.price ?? [];
      if (shown.length > items.length) throw new Error("place: at most one --price per --item");
      // No price unless the person says what they were shown: the catalog
      // prices the order, and a shown price that differs is refused.
      const lines = items.map((spec, i) => {
        const [sku = "", qty = "1"] = spec.split(":");
        const price = shown[i];
        if (price !== undefined && !/^\d+$/.test(price)) {
          throw new Error(`place: --price ${price} is not an amount in minor units`);
        }
        return {
          sku,
          quantity: Number(qty),
          ...(price === undefined
            ? {}
            : { unitPrice: { currencyCode: values.currency, amountMinor: BigInt(price) } }),
        };
      });
      // A customer orders for themselves: the id is their token's subject (the
      // service checks it); ops may name the customer with --customer.
      const claims = claimsOf(await login.tokens.token("orders"));
      const { order } = await orders.placeOrder({
        idempotencyKey: `cli-${randomUUID()}`,
        customerId: values.customer ?? claims.sub ?? "",
        customerEmail: values.email ?? claims.email ?? "customer@example.com",
        currencyCode: values.currency,
        lines,
        shippingAddress: {
          recipientName: "CLI Customer",
          line1: "Hauptstrasse 1",
          city: "Berlin",
          postalCode: "10115",
          countryCode: "DE",
        },
      });
      if (order) {
        console.log(describeOrder(order));
        for (const line of describeLines(order)) console.log(line);
      }
      return;
    }
    case "products": {
      // What checkout will charge: the catalog's price in the currency asked for.
      const catalog = rpcClient(CatalogService, catalogUrl, "connect-json", {
        tokens: login.tokens,
        audience: "catalog",
      });
      let pageToken = "";
      do {
        const page = await catalog.listProducts({ pageSize: 100, pageToken, currencyCode: values.currency });
        for (const p of page.products) {
          const price = p.prices.find((m) => m.currencyCode === values.currency);
          console.log(`${p.sku}  ${price?.amountMinor ?? "-"} ${values.currency} (minor units)  ${p.name}`);
        }
        pageToken = page.nextPageToken;
      } while (pageToken);
      return;
    }
    case "get":
    case "watch": {
      if (!arg) throw new Error(`usage: ${command} <order-id>`);
      if (command === "get") {
        const { order } = await orders.getOrder({ orderId: arg });
        if (order) console.log(describeOrder(order));
        return;
      }
      await watchOrder(orders, arg, Number(values.timeout) * 1000, (o) => console.log(describeOrder(o)));
      return;
    }
    case "cancel": {
      if (!arg) throw new Error("usage: cancel <order-id> [--reason text]");
      const { order } = await orders.cancelOrder({ orderId: arg, reason: values.reason ?? "" });
      if (order) console.log(describeOrder(order));
      return;
    }
    case "list": {
      const { orders: page } = await orders.listOrders({ pageSize: 20 });
      for (const o of page) console.log(describeOrder(o));
      return;
    }
    case "stock": {
      if (!arg) throw new Error("usage: stock <sku> [--set units]");
      const { stock } =
        values.set !== undefined
          ? await inventory.setStock({ sku: arg, available: BigInt(values.set) })
          : await inventory.getStock({ sku: arg });
      console.log(`${stock?.sku}  available ${stock?.available}  reserved ${stock?.reserved}`);
      return;
    }
    case "payment": {
      if (arg !== "refund" || !target)
        throw new Error("usage: payment refund <order-id> [--reason text] [--key k]");
      // A fresh key per refund; --key sends an earlier one again, which answers its first outcome.
      const idempotencyKey = values.key ?? `cli-refund-${randomUUID()}`;
      const res = await payments.refund({ idempotencyKey, orderId: target, reason: values.reason ?? "" });
      const p = res.payment;
      const amount = p?.amount ? `${p.amount.amountMinor} ${p.amount.currencyCode} (minor units)` : "";
      console.log(
        res.refunded
          ? `refunded ${amount} of payment ${p?.paymentId} (refund ${p?.refundId}); the order becomes REFUNDED`
          : `nothing refunded now; payment ${p?.paymentId ?? "-"} is ${p ? PaymentStatus[p.status] : "-"}`,
      );
      console.log(`key ${idempotencyKey} (--key repeats this refund)`);
      return;
    }
    default:
      console.log(
        "usage: accord login [--device]|logout|whoami|products|place|get|watch|cancel|list|stock|payment refund ... (see scripts/accord.ts)",
      );
      process.exitCode = 2;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    if (error instanceof ConnectError) console.error(`error: [${Code[error.code]}] ${error.rawMessage}`);
    else console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
