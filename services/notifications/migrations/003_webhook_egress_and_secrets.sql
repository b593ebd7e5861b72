-- Webhook hardening (issue 11).
--
-- Signing secrets are stored sealed (AES-256-GCM under NOTIFICATIONS_SECRET_KEY,
-- src/domain/secret-box.ts). SQL cannot seal them (the key is the service's,
-- not the database's), so the plaintext column stays, nullable, for the rows
-- from before: the service seals every such row at start, before it serves or
-- delivers, and clears the plaintext (src/db/notifications-repo.ts
-- sealPlaintextSecrets). Sealing at first use only would leave a subscription
-- that no event reaches in plaintext indefinitely.
--
-- Rotation keeps the previous secret for an overlap window; deliveries are
-- signed with both until previous_secret_expires_at.
ALTER TABLE webhook_subscriptions
  ALTER COLUMN signing_secret DROP NOT NULL,
  ADD COLUMN signing_secret_sealed       text,
  ADD COLUMN previous_secret_sealed      text,
  ADD COLUMN previous_secret_expires_at  timestamptz,
  ADD CONSTRAINT webhook_subscriptions_has_secret
    CHECK (signing_secret IS NOT NULL OR signing_secret_sealed IS NOT NULL),
  ADD CONSTRAINT webhook_subscriptions_previous_complete
    CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL));

-- A webhook delivery is claimed with a lease in a short transaction, the POST
-- runs with no transaction open, and the outcome is recorded in another. The
-- lease bounds how long a crashed worker's claim blocks the delivery, and the
-- live leases of a subscription are its deliveries in flight (capped per
-- subscription).
ALTER TABLE deliveries ADD COLUMN lease_until timestamptz;
CREATE INDEX deliveries_in_flight ON deliveries (subscription_id) WHERE lease_until IS NOT NULL;
