/** The console's pages, addressed by the hash so the static server needs no routes. */
export type Route =
  | { page: "orders" }
  | { page: "order"; orderId: string }
  | { page: "dead-letters"; queue?: string }
  | { page: "health" }
  | { page: "contracts" };

export function parseRoute(hash: string): Route {
  const parts = hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter((p) => p !== "")
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  switch (parts[0]) {
    case "orders":
      return parts[1] ? { page: "order", orderId: parts[1] } : { page: "orders" };
    case "dead-letters":
      return parts[1] ? { page: "dead-letters", queue: parts[1] } : { page: "dead-letters" };
    case "health":
      return { page: "health" };
    case "contracts":
      return { page: "contracts" };
    default:
      return { page: "orders" };
  }
}

export function href(route: Route): string {
  switch (route.page) {
    case "order":
      return `#/orders/${encodeURIComponent(route.orderId)}`;
    case "dead-letters":
      return route.queue ? `#/dead-letters/${encodeURIComponent(route.queue)}` : "#/dead-letters";
    default:
      return `#/${route.page}`;
  }
}
