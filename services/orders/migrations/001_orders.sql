-- Orders, their lines, status history and the transactional outbox.
CREATE TABLE orders (
  order_id          uuid PRIMARY KEY,
  customer_id       text        NOT NULL,
  customer_email    text        NOT NULL,
  currency_code     char(3)     NOT NULL,
  total_minor       bigint      NOT NULL CHECK (total_minor >= 0),
  shipping_address  jsonb       NOT NULL,
  status            text        NOT NULL,
  failure_code      text,
  failure_reason    text,
  payment_id        text,
  shipment_id       text,
  -- The idempotency key and a fingerprint of the request it came with: a
  -- replay returns this order, a different body under the same key is refused.
  idempotency_key   text        NOT NULL UNIQUE,
  request_hash      text        NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_created ON orders (created_at DESC, order_id DESC);
CREATE INDEX orders_customer_created ON orders (customer_id, created_at DESC, order_id DESC);

CREATE TABLE order_lines (
  order_id          uuid    NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
  line_no           int     NOT NULL,
  sku               text    NOT NULL,
  quantity          int     NOT NULL CHECK (quantity > 0),
  unit_price_minor  bigint  NOT NULL CHECK (unit_price_minor >= 0),
  PRIMARY KEY (order_id, line_no)
);

CREATE TABLE order_status_history (
  order_id    uuid        NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
  seq         bigserial,
  status      text        NOT NULL,
  reason      text,
  changed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_id, seq)
);

-- Events waiting for the relay. Rows are selected by published_at IS NULL
-- (never "id > last seen": sequence values are taken before commit).
CREATE TABLE outbox (
  id            bigserial   PRIMARY KEY,
  event_id      uuid        NOT NULL UNIQUE,
  topic         text        NOT NULL,
  message_key   text        NOT NULL,
  event_type    text        NOT NULL,
  payload       bytea       NOT NULL,
  headers       jsonb       NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz,
  attempts      int         NOT NULL DEFAULT 0,
  last_error    text
);

CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
