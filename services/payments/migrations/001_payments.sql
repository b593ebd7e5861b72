-- Payments (one row per charge attempt), refunds (one row per refund key) and
-- the transactional outbox.
CREATE TABLE payments (
  payment_id          uuid        PRIMARY KEY,
  order_id            text        NOT NULL,
  customer_id         text        NOT NULL,
  currency_code       char(3)     NOT NULL,
  amount_minor        bigint      NOT NULL CHECK (amount_minor > 0),
  -- PENDING: recorded before the provider was asked, outcome unknown.
  -- CAPTURED / DECLINED: the provider's answer. REFUNDED: captured, then given back.
  status              text        NOT NULL CHECK (status IN ('PENDING', 'CAPTURED', 'DECLINED', 'REFUNDED')),
  -- Stored BEFORE the provider is called and sent to it as Idempotency-Key:
  -- a retry with this key re-asks the provider, which answers the first outcome.
  idempotency_key     text        NOT NULL UNIQUE,
  request_hash        text        NOT NULL,
  provider_charge_id  text,
  decline_reason      text,
  refund_id           text,
  refund_reason       text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  refunded_at         timestamptz
);

-- At most one attempt per order that may hold money (in flight, captured or
-- refunded): a second key for the same order can never start a second charge.
-- Declined attempts do not count, so an order may be tried again after a decline.
CREATE UNIQUE INDEX payments_one_live_per_order ON payments (order_id)
  WHERE status IN ('PENDING', 'CAPTURED', 'REFUNDED');
CREATE INDEX payments_order ON payments (order_id, created_at);

CREATE TABLE refunds (
  idempotency_key     text        PRIMARY KEY,
  order_id            text        NOT NULL,
  request_hash        text        NOT NULL,
  -- PENDING until decided; REFUNDED when this key gave money back;
  -- NOTHING when the order had nothing (left) to refund.
  status              text        NOT NULL CHECK (status IN ('PENDING', 'REFUNDED', 'NOTHING')),
  payment_id          uuid        REFERENCES payments (payment_id),
  reason              text        NOT NULL DEFAULT '',
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX refunds_order ON refunds (order_id);

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
