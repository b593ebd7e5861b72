import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { type BrokerProcess, startBroker } from "#test/support/broker.ts";
import { callerAs } from "#test/support/identity.ts";
import { type Platform, startPlatform } from "#test/support/platform.ts";
import { accordHome, ROOT, type ServiceProcess, startServiceProcess } from "#test/support/service-process.ts";

// The operations console in a real browser: Debian's chromium, driven by
// playwright-core (nothing downloads a browser), headless, against a whole
// platform of real processes, the console service serving the built web app,
// and the realm's real login pages. olivia (ops) logs in, follows an order
// placed from the CLI to CONFIRMED and opens its saga, replays a webhook
// that a failing partner dead-lettered; alice (a customer) is refused.
//
// The console of this test listens on 8199, the port the realm's
// accord-console client allows besides 8099, so it runs beside the console
// `npm start` serves on 8099.
// Screenshots go to .accord/reports/console (git-ignored); with
// CONSOLE_SCREENSHOTS=docs they go to docs/console, the committed ones.

const run = promisify(execFile);
const CONSOLE_PORT = 8199;
const CONSOLE = `http://127.0.0.1:${CONSOLE_PORT}`;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS =
  process.env.CONSOLE_SCREENSHOTS === "docs"
    ? path.join(ROOT, "docs/console")
    : path.join(accordHome(), "reports/console");
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

let platform: Platform;
let consoleProcess: ServiceProcess;
let broker: BrokerProcess;
let browser: Browser;
let operator: BrowserContext;
let page: Page;

// The partner's endpoint: answers 500 until told otherwise, and records what it got.
let partnerStatus = 500;
const partnerBodies: string[] = [];
let partner: http.Server;

async function shoot(target: Page, name: string, fullPage = true): Promise<void> {
  await mkdir(SHOTS, { recursive: true });
  await target.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

/** Keycloak's own login form, as a person fills it. */
async function logIn(target: Page, user: "olivia" | "alice"): Promise<void> {
  await target.goto(`${CONSOLE}/`);
  await target.waitForURL(/\/realms\/accord\/protocol\/openid-connect\/auth/, { timeout: 20_000 });
  await target.locator("#username").fill(user);
  await target.locator("#password").fill(DEMO_USERS[user].password);
  await target.locator("#kc-login").click();
  await target.waitForURL(`${CONSOLE}/**`, { timeout: 20_000 });
}

/** `npm run accord -- place` as alice against this platform; the order id it printed. */
async function placeFromCli(): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [path.join(ROOT, "scripts/accord.ts"), "place", "--item", "BOOK-001:1"],
    {
      cwd: ROOT,
      env: { ...process.env, ACCORD_USER: "alice", ORDERS_URL: platform.urls.orders },
      timeout: 30_000,
    },
  );
  const id = UUID.exec(stdout)?.[0];
  if (!id) throw new Error(`accord place printed no order id:\n${stdout}`);
  return id;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  const taken = await fetch(`${CONSOLE}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
    () => true,
    () => false,
  );
  if (taken) {
    throw new Error(
      `${CONSOLE} already answers: the realm lets accord-console redirect to port ${CONSOLE_PORT} for this test's own console; stop whatever listens there first`,
    );
  }
  // The web app as `npm start` serves it.
  await run(
    path.join(ROOT, "node_modules/.bin/vite"),
    ["build", "services/console/web", "--logLevel", "warn"],
    {
      cwd: ROOT,
      timeout: 120_000,
    },
  );

  partner = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      if (partnerStatus < 300) partnerBodies.push(body);
      res.writeHead(partnerStatus).end();
    });
  });
  await new Promise<void>((resolve) => partner.listen(0, "127.0.0.1", resolve));

  platform = await startPlatform();
  broker = await startBroker();
  // The project's own pacts at one version, orders deployed to production: what the contracts page shows.
  for (const args of [
    ["publish", path.join(ROOT, "contracts"), "--consumer-app-version", "1.0.0", "--branch", "main"],
    ["create-environment", "--name", "production", "--production"],
    ["record-deployment", "--pacticipant", "orders", "--version", "1.0.0", "--environment", "production"],
  ]) {
    const result = await broker.cli(args);
    if (result.code !== 0) throw new Error(`pact-broker ${args[0]} failed:\n${result.output}`);
  }
  consoleProcess = await startServiceProcess(
    "services/console/src/main.ts",
    {
      CONSOLE_PORT: String(CONSOLE_PORT),
      ORDERS_URL: platform.urls.orders,
      INVENTORY_URL: platform.urls.inventory,
      PAYMENTS_URL: platform.urls.payments,
      SHIPPING_URL: platform.urls.shipping,
      NOTIFICATIONS_URL: platform.urls.notifications,
      ORCHESTRATOR_URL: platform.urls.orchestrator,
      CATALOG_URL: platform.urls.catalog,
      PAYMENT_PROVIDER_URL: platform.urls["payment-provider"],
      CARRIER_URL: platform.urls.carrier,
      SMTP_SINK_URL: platform.smtpSinkUrl,
      PACT_BROKER_BASE_URL: broker.url,
    },
    CONSOLE_PORT,
    60_000,
  );

  const inventory = rpcClient(
    InventoryService,
    platform.urls.inventory,
    "connect-json",
    callerAs("olivia", "inventory"),
  );
  await inventory.setStock({ sku: "BOOK-001", available: 1000n });
  const notifications = rpcClient(
    NotificationService,
    platform.urls.notifications,
    "connect-json",
    callerAs("acme", "notifications"),
  );
  await notifications.createWebhookSubscription({
    url: `http://127.0.0.1:${(partner.address() as AddressInfo).port}/hooks/accord`,
    eventTypes: ["accord.orders.v1.OrderConfirmed"],
  });

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  operator = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await operator.newPage();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  partner?.close();
  await consoleProcess?.stop();
  await broker?.stop();
  await platform?.stop();
}, 120_000);

describe("operations console in chromium", () => {
  it("olivia logs in through Keycloak and sees the orders", async () => {
    await logIn(page, "olivia");
    await expect.poll(() => page.getByTestId("username").textContent(), { timeout: 15_000 }).toBe("olivia");
    await page.getByRole("heading", { name: "Orders" }).waitFor();
    // The tokens stay in memory: nothing of them in the page's storage.
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
    expect(stored).not.toMatch(/eyJ/);
  });

  let orderId = "";

  it("an order placed from the CLI reaches CONFIRMED on the open page", async () => {
    await page.goto(`${CONSOLE}/#/orders`);
    await page.getByRole("heading", { name: "Orders" }).waitFor();
    orderId = await placeFromCli();
    const row = page.locator(`tr[data-order-id="${orderId}"]`);
    // No reload: the page polls ListOrders while it is open.
    await row.waitFor({ timeout: 20_000 });
    await expect
      .poll(() => row.locator(".status").textContent(), { timeout: 60_000, interval: 500 })
      .toBe("CONFIRMED");
    await shoot(page, "orders");
  });

  it("its saga timeline shows each step completed, with payment and shipment", async () => {
    await page.locator(`tr[data-order-id="${orderId}"] a`).click();
    await page.waitForURL(`**/#/orders/${orderId}`);
    await expect
      .poll(() => page.getByTestId("order-status").textContent(), { timeout: 15_000 })
      .toBe("CONFIRMED");
    const steps = page.getByRole("list", { name: "Saga steps" });
    await steps.waitFor({ timeout: 20_000 });
    for (const activity of ["reserve", "charge", "ship", "confirm"]) {
      await expect
        .poll(
          async () => (await steps.locator("li.step-completed").allTextContents()).join("\n").toLowerCase(),
          {
            timeout: 20_000,
          },
        )
        .toContain(activity);
    }
    await page.getByRole("heading", { name: "Payment" }).waitFor();
    await expect
      .poll(() => page.locator("section[aria-labelledby='payment-title']").textContent())
      .toContain("captured");
    await expect
      .poll(() => page.locator("section[aria-labelledby='shipment-title']").textContent(), {
        timeout: 10_000,
      })
      .toContain("created");
    const trace = await page.getByRole("link", { name: "Open its trace in Zipkin" }).getAttribute("href");
    expect(trace).toContain(encodeURIComponent(`order.id=${orderId}`));
    await shoot(page, "order-detail");
  });

  it("a webhook the partner refused is dead-lettered and replayed from the page", async () => {
    // Every POST answers 500 until the retries (300 ms, 600 ms in the test platform) run out.
    const failedOrder = await placeFromCli();
    await page.goto(`${CONSOLE}/#/dead-letters/webhook`);
    await page.getByRole("heading", { name: "Dead letters" }).waitFor();
    const row = page.locator(`tr[data-order-id="${failedOrder}"]`);
    await row.waitFor({ timeout: 60_000 });
    expect(await row.textContent()).toContain("accord.orders.v1.OrderConfirmed");

    await row.getByRole("button", { name: "Inspect" }).click();
    const inspect = page.getByRole("dialog", { name: "Dead-lettered message" });
    await inspect.waitFor();
    expect(await inspect.textContent()).toContain(failedOrder);
    await page.keyboard.press("Escape");
    await inspect.waitFor({ state: "detached" });
    await shoot(page, "dead-letters");

    partnerStatus = 204;
    await row.getByRole("button", { name: "Replay…" }).click();
    const confirm = page.getByRole("dialog", { name: "Replay this message?" });
    await confirm.getByRole("button", { name: "Replay", exact: true }).click();
    await page.getByText(/Replayed 1 message/).waitFor({ timeout: 15_000 });
    await expect
      .poll(() => partnerBodies.filter((b) => b.includes(failedOrder)).length, { timeout: 30_000 })
      .toBeGreaterThan(0);
    await row.waitFor({ state: "detached", timeout: 15_000 });
  });

  it("the refund dialog needs a reason, keeps focus inside and closes with Escape", async () => {
    await page.goto(`${CONSOLE}/#/orders/${orderId}`);
    await page.getByRole("button", { name: "Refund payment…" }).click();
    const dialog = page.getByRole("dialog", { name: "Refund this order's payment?" });
    await dialog.waitFor();
    const confirmButton = dialog.getByRole("button", { name: "Refund in full" });
    expect(await confirmButton.isDisabled()).toBe(true);
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press("Tab");
      // A string, so this file needs no DOM types: it runs in the page.
      const inside = await page.evaluate('document.activeElement?.closest("dialog") != null');
      expect(inside).toBe(true);
    }
    await dialog.getByLabel(/Reason/).fill("customer returned the book");
    expect(await confirmButton.isDisabled()).toBe(false);
    // The viewport only: the backdrop of a modal covers the viewport, not the whole page.
    await shoot(page, "refund-dialog", false);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    expect(await page.getByTestId("order-status").textContent()).toBe("CONFIRMED");
  });

  it("a confirmed refund refunds the payment and the order becomes REFUNDED", async () => {
    await page.getByRole("button", { name: "Refund payment…" }).click();
    const dialog = page.getByRole("dialog", { name: "Refund this order's payment?" });
    await dialog.getByLabel(/Reason/).fill("parcel lost by the carrier");
    await dialog.getByRole("button", { name: "Refund in full" }).click();
    await page.getByText("Payment refunded in full.").waitFor({ timeout: 20_000 });
    await expect
      .poll(() => page.locator("section[aria-labelledby='payment-title']").textContent(), { timeout: 15_000 })
      .toContain("refunded");
    // payments.events carries the ops refund to orders, which moves the order.
    await expect
      .poll(() => page.getByTestId("order-status").textContent(), { timeout: 30_000, interval: 500 })
      .toBe("REFUNDED");
    expect(await page.getByRole("button", { name: "Refund payment…" }).isDisabled()).toBe(true);
  });

  it("the health page shows the processes' readiness", async () => {
    await page.goto(`${CONSOLE}/#/health`);
    const orders = page.locator('tr[data-process="orders"]');
    await orders.waitFor({ timeout: 20_000 });
    await expect.poll(() => orders.textContent(), { timeout: 15_000 }).toContain("ready");
    await shoot(page, "health");
  });

  it("the contracts page lists pacticipants and asks can-i-deploy", async () => {
    await page.goto(`${CONSOLE}/#/contracts`);
    const orders = page.locator('tr[data-pacticipant="orders"]');
    await orders.waitFor({ timeout: 15_000 });
    expect(await orders.textContent()).toContain("1.0.0");
    // orchestrator's pacts were never verified by its providers: the broker says no.
    await page.getByLabel("Pacticipant").selectOption("orchestrator");
    await page.getByLabel("Version").fill("1.0.0");
    await page.getByLabel("Environment").selectOption("production");
    await page.getByRole("button", { name: "Ask the broker" }).click();
    const verdict = page.locator(".verdict");
    await verdict.waitFor({ timeout: 20_000 });
    expect(await verdict.textContent()).toContain("No, do not deploy.");
    await shoot(page, "contracts");
  });

  it("a customer who logs in is refused and can log out", async () => {
    const customer = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    try {
      const alicePage = await customer.newPage();
      await logIn(alicePage, "alice");
      await alicePage
        .getByRole("heading", { name: "This console is for operators" })
        .waitFor({ timeout: 15_000 });
      expect(await alicePage.getByRole("navigation", { name: "Pages" }).count()).toBe(0);
      await shoot(alicePage, "refused");
      await alicePage.getByRole("button", { name: /Log out and sign in/ }).click();
      // The realm's session ended: the console starts a new login at Keycloak's form.
      await alicePage.waitForURL(/\/realms\/accord\/protocol\/openid-connect\/auth/, { timeout: 20_000 });
      await alicePage.locator("#username").waitFor();
    } finally {
      await customer.close();
    }
  });
});
