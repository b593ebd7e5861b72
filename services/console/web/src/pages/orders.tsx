import { Code } from "@connectrpc/connect";
import { type FormEvent, useState } from "react";
import { type Order, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { Empty, QueryView } from "../components/states.tsx";
import { ago, enumWords, errorCode, formatMoney, formatTime } from "../format.ts";
import { href } from "../router.ts";
import type { Clients } from "../rpc.ts";
import { useQuery } from "../use-query.ts";

const STATUSES = Object.values(OrderStatus).filter(
  (v): v is OrderStatus => typeof v === "number" && v !== OrderStatus.UNSPECIFIED,
);

interface Search {
  orderId: string;
  customerId: string;
  status: OrderStatus;
}

const NO_SEARCH: Search = { orderId: "", customerId: "", status: OrderStatus.UNSPECIFIED };

/** The orders, newest first, refreshed every 2 s while the page is open. */
export function OrdersPage({ clients }: { clients: Clients }) {
  const [draft, setDraft] = useState<Search>(NO_SEARCH);
  const [search, setSearch] = useState<Search>(NO_SEARCH);
  const [pageTokens, setPageTokens] = useState<string[]>([""]);
  const pageToken = pageTokens[pageTokens.length - 1] ?? "";

  const query = useQuery(
    async (signal): Promise<{ orders: Order[]; next: string }> => {
      if (search.orderId) {
        try {
          const { order } = await clients.orders.getOrder({ orderId: search.orderId }, { signal });
          return { orders: order ? [order] : [], next: "" };
        } catch (error) {
          // An unknown (or malformed) id is an empty answer to a search, not a broken page.
          if (errorCode(error) === Code.NotFound) return { orders: [], next: "" };
          throw error;
        }
      }
      const answer = await clients.orders.listOrders(
        { pageSize: 25, pageToken, customerId: search.customerId, status: search.status },
        { signal },
      );
      return { orders: answer.orders, next: answer.nextPageToken };
    },
    [search, pageToken],
    2_000,
  );

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSearch({ ...draft, orderId: draft.orderId.trim(), customerId: draft.customerId.trim() });
    setPageTokens([""]);
  };

  return (
    <section aria-labelledby="orders-title">
      <h1 id="orders-title">Orders</h1>
      <form className="search" onSubmit={submit} aria-label="Search orders">
        <label>
          Order id
          <input
            name="orderId"
            value={draft.orderId}
            placeholder="0190…"
            onChange={(e) => setDraft({ ...draft, orderId: e.target.value })}
          />
        </label>
        <label>
          Customer id
          <input
            name="customerId"
            value={draft.customerId}
            onChange={(e) => setDraft({ ...draft, customerId: e.target.value })}
          />
        </label>
        <label>
          Status
          <select
            name="status"
            value={draft.status}
            onChange={(e) => setDraft({ ...draft, status: Number(e.target.value) as OrderStatus })}
          >
            <option value={OrderStatus.UNSPECIFIED}>any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {enumWords(OrderStatus, s)}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Search</button>
        <button
          type="button"
          onClick={() => {
            setDraft(NO_SEARCH);
            setSearch(NO_SEARCH);
            setPageTokens([""]);
          }}
        >
          Clear
        </button>
      </form>
      <QueryView query={query} what="orders">
        {({ orders, next }) => (
          <>
            <p className="live" aria-live="off">
              Live: refreshed every 2 s
              {query.status === "ready"
                ? ` (last at ${new Date(query.refreshedAt).toLocaleTimeString("en-GB")})`
                : ""}
            </p>
            {orders.length === 0 ? (
              <Empty>No order matches this search.</Empty>
            ) : (
              <table className="orders">
                <caption className="sr-only">Orders, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Order</th>
                    <th scope="col">Status</th>
                    <th scope="col">Customer</th>
                    <th scope="col">Total</th>
                    <th scope="col">Placed</th>
                    <th scope="col">Updated</th>
                  </tr>
                </thead>
                <tbody>
                  {orders.map((order) => (
                    <tr key={order.orderId} data-order-id={order.orderId}>
                      <td>
                        <a href={href({ page: "order", orderId: order.orderId })}>
                          <code>{order.orderId}</code>
                        </a>
                      </td>
                      <td>
                        <span className={`status status-${OrderStatus[order.status]?.toLowerCase()}`}>
                          {OrderStatus[order.status] ?? order.status}
                        </span>
                      </td>
                      <td>
                        <code>{order.customerId}</code>
                      </td>
                      <td>{formatMoney(order.total)}</td>
                      <td>{formatTime(order.createdAt)}</td>
                      <td>{ago(order.updatedAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <nav className="pager" aria-label="Pages of orders">
              <button
                type="button"
                disabled={pageTokens.length < 2}
                onClick={() => setPageTokens(pageTokens.slice(0, -1))}
              >
                Newer
              </button>
              <button type="button" disabled={!next} onClick={() => setPageTokens([...pageTokens, next])}>
                Older
              </button>
            </nav>
          </>
        )}
      </QueryView>
    </section>
  );
}
