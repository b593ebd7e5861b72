-- Consumer-side deduplication of the events orders reads (payments.events:
-- PaymentRefunded from an ops refund), claimed in the same transaction as the
-- status change and the outbox row it causes (lib/messaging/inbox.ts).
CREATE TABLE inbox (
  event_id      text        NOT NULL,
  consumer      text        NOT NULL,
  processed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, consumer)
);
