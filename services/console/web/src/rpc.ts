import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ConsoleService } from "#gen/accord/console/v1/console_pb.js";
import { DeadLetterService } from "#gen/accord/notifications/v1/dead_letters_pb.js";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { SagaService } from "#gen/accord/orchestrator/v1/saga_pb.js";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import type { Session } from "./auth.ts";

/** The generated clients the pages call, over Connect JSON to the console's own origin. */
export interface Clients {
  orders: Client<typeof OrderService>;
  payments: Client<typeof PaymentService>;
  shipping: Client<typeof ShippingService>;
  notifications: Client<typeof NotificationService>;
  deadLetters: Client<typeof DeadLetterService>;
  saga: Client<typeof SagaService>;
  console: Client<typeof ConsoleService>;
}

/**
 * Same origin: services/console forwards each call to its service, which
 * verifies the bearer token itself, so no service needs CORS.
 */
export function createClients(session: Session): Clients {
  const bearer: Interceptor = (next) => async (req) => {
    req.header.set("authorization", `Bearer ${await session.accessToken()}`);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl: window.location.origin,
    interceptors: [bearer],
    defaultTimeoutMs: 15_000,
  });
  return {
    orders: createClient(OrderService, transport),
    payments: createClient(PaymentService, transport),
    shipping: createClient(ShippingService, transport),
    notifications: createClient(NotificationService, transport),
    deadLetters: createClient(DeadLetterService, transport),
    saga: createClient(SagaService, transport),
    console: createClient(ConsoleService, transport),
  };
}
