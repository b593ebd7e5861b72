-- Stock per SKU, reservations against it, and the transactional outbox.
CREATE TABLE stock (
  sku         text        PRIMARY KEY,
  -- The CHECKs are the last line of defence: the conditional UPDATE in the
  -- service already refuses to go below zero, these make it impossible.
  available   bigint      NOT NULL CHECK (available >= 0),
  reserved    bigint      NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One reservation per order. Only successful reservations are stored: a
-- refused Reserve leaves no row, so a retry is evaluated afresh.
CREATE TABLE reservations (
  reservation_id   uuid        PRIMARY KEY,
  order_id         text        NOT NULL UNIQUE,
  -- Reserve's key and a fingerprint of (order_id, items): a replay returns this
  -- reservation, a different body under the same key is refused.
  idempotency_key  text        NOT NULL UNIQUE,
  request_hash     text        NOT NULL,
  status           text        NOT NULL CHECK (status IN ('RESERVED', 'RELEASED')),
  -- Key of the Release that gave the stock back; a repeated Release with it
  -- answers released=true again without touching stock.
  release_key      text        UNIQUE,
  release_reason   text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  released_at      timestamptz,
  CHECK ((status = 'RELEASED') = (release_key IS NOT NULL))
);

CREATE TABLE reservation_items (
  reservation_id  uuid NOT NULL REFERENCES reservations (reservation_id) ON DELETE CASCADE,
  sku             text NOT NULL REFERENCES stock (sku),
  quantity        int  NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (reservation_id, sku)
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
