-- Shipments booked with the carrier, and the transactional outbox.
CREATE TABLE shipments (
  shipment_id       uuid        PRIMARY KEY,
  order_id          text        NOT NULL,
  -- Stored (unique) BEFORE the carrier is called and sent to the carrier as
  -- its Idempotency-Key: a retry after a timeout finds the same booking.
  idempotency_key   text        NOT NULL UNIQUE,
  -- Fingerprint of the request without its key: a replay must match it.
  request_hash      text        NOT NULL,
  -- PENDING (carrier outcome unknown), CREATED, CANCELLED, DELIVERED,
  -- REJECTED (the carrier refused the booking; a business outcome).
  status            text        NOT NULL,
  address           jsonb       NOT NULL,
  items             jsonb       NOT NULL,
  -- Carrier calls started for this row; 0 means the carrier never heard of it.
  carrier_attempts  int         NOT NULL DEFAULT 0,
  carrier           text,
  carrier_ref       text,
  tracking_number   text,
  failure_reason    text,
  cancel_key        text        UNIQUE,
  cancel_reason     text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- One active shipment per order; a cancelled or rejected one lets a new one start.
CREATE UNIQUE INDEX shipments_one_active_per_order ON shipments (order_id)
  WHERE status IN ('PENDING', 'CREATED', 'DELIVERED');
CREATE INDEX shipments_order ON shipments (order_id, created_at DESC);

-- Events waiting for the relay (same shape as every service's outbox).
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
