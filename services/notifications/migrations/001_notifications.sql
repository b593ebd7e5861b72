-- Notifications: inbox (see lib/inbox.ts), webhook subscriptions, the delivery
-- log and the analytics sink.

CREATE TABLE inbox (
  event_id      text        NOT NULL,
  consumer      text        NOT NULL,
  processed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, consumer)
);

CREATE TABLE webhook_subscriptions (
  subscription_id  uuid        PRIMARY KEY,
  url              text        NOT NULL,
  -- Fully-qualified event type names; empty means every event.
  event_types      text[]      NOT NULL DEFAULT '{}',
  -- Needed in clear to sign each delivery; never returned after creation, never logged.
  signing_secret   text        NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per task; delivery_id is the task id (also the AMQP message id), derived
-- from the event id so a re-dispatched event produces the same ids.
CREATE TABLE deliveries (
  delivery_id      uuid        PRIMARY KEY,
  event_id         text        NOT NULL,
  event_type       text        NOT NULL,
  order_id         text        NOT NULL,
  channel          text        NOT NULL CHECK (channel IN ('email', 'webhook', 'analytics')),
  subscription_id  uuid,
  status           text        NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'DEAD_LETTERED')),
  attempts         int         NOT NULL DEFAULT 0,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX deliveries_order ON deliveries (order_id, created_at, delivery_id);

CREATE TABLE analytics_events (
  event_id     text        PRIMARY KEY,
  event_type   text        NOT NULL,
  order_id     text        NOT NULL,
  occurred_at  timestamptz NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
