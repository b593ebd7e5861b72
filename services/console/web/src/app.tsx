import { useEffect, useMemo, useState, useSyncExternalStore } from "react";
import type { Session } from "./auth.ts";
import { ContractsPage } from "./pages/contracts.tsx";
import { DeadLettersPage } from "./pages/dead-letters.tsx";
import { HealthPage } from "./pages/health.tsx";
import { OrderDetailPage } from "./pages/order-detail.tsx";
import { OrdersPage } from "./pages/orders.tsx";
import { href, type Route, useRoute } from "./router.ts";
import { createClients } from "./rpc.ts";

const NAV: { label: string; route: Route; pages: Route["page"][] }[] = [
  { label: "Orders", route: { page: "orders" }, pages: ["orders", "order"] },
  { label: "Dead letters", route: { page: "dead-letters" }, pages: ["dead-letters"] },
  { label: "Health", route: { page: "health" }, pages: ["health"] },
  { label: "Contracts", route: { page: "contracts" }, pages: ["contracts"] },
];

/** The logged-in console: an operator sees the pages, anyone else the refusal. */
export function App({ session }: { session: Session }) {
  const identity = useSyncExternalStore(
    (listener) => session.subscribe(listener),
    () => session.identity,
  );
  if (!identity) return <SessionEnded session={session} />;
  if (!session.isOperator) return <Refused session={session} username={identity.username} />;
  return <Console session={session} username={identity.username} />;
}

function Header({ session, username, nav }: { session: Session; username: string; nav: boolean }) {
  const route = useRoute();
  return (
    <header className="top">
      <a className="brand" href="#/orders">
        Accord console
      </a>
      {nav && (
        <nav aria-label="Pages">
          <ul>
            {NAV.map((item) => (
              <li key={item.label}>
                <a
                  href={href(item.route)}
                  aria-current={item.pages.includes(route.page) ? "page" : undefined}
                >
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      )}
      <span className="who">
        Signed in as <strong data-testid="username">{username}</strong>
      </span>
      <button type="button" onClick={() => session.logout()}>
        Log out
      </button>
    </header>
  );
}

function Console({ session, username }: { session: Session; username: string }) {
  const clients = useMemo(() => createClients(session), [session]);
  const route = useRoute();
  useEffect(() => {
    const titles: Record<Route["page"], string> = {
      orders: "Orders",
      order: "Order",
      "dead-letters": "Dead letters",
      health: "Health",
      contracts: "Contracts",
    };
    document.title = `${titles[route.page]} · Accord console`;
  }, [route.page]);
  return (
    <>
      <Header session={session} username={username} nav />
      <main id="main">
        {route.page === "orders" && <OrdersPage clients={clients} />}
        {route.page === "order" && (
          <OrderDetailPage
            key={route.orderId}
            clients={clients}
            orderId={route.orderId}
            zipkinUrl={session.config.zipkinUrl}
          />
        )}
        {route.page === "dead-letters" && <DeadLettersPage clients={clients} queue={route.queue} />}
        {route.page === "health" && <HealthPage clients={clients} />}
        {route.page === "contracts" && <ContractsPage clients={clients} />}
      </main>
    </>
  );
}

/** A signed-in person without the ops role: the console shows nothing of the platform. */
function Refused({ session, username }: { session: Session; username: string }) {
  useEffect(() => {
    document.title = "Not an operator · Accord console";
  }, []);
  return (
    <>
      <Header session={session} username={username} nav={false} />
      <main id="main" className="refused">
        <h1>This console is for operators</h1>
        <p>
          You are signed in as <strong>{username}</strong>, who does not hold the{" "}
          <code>{session.config.requiredRole}</code> role. Customers follow their orders with the{" "}
          <code>accord</code> command line; ask an administrator of the realm if you need operator access.
        </p>
        <button type="button" className="primary" onClick={() => session.logout()}>
          Log out and sign in as someone else
        </button>
      </main>
    </>
  );
}

/** The refresh token was refused (the realm session ended): sign in again. */
function SessionEnded({ session }: { session: Session }) {
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" className="refused">
      <h1>Your session has ended</h1>
      <p>The identity provider no longer renews your tokens. Sign in again to go on.</p>
      <button
        type="button"
        className="primary"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          void session.beginLogin();
        }}
      >
        Sign in
      </button>
    </main>
  );
}
