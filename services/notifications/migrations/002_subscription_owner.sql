-- A webhook subscription belongs to the user who created it: owner_id is the
-- token's subject (a partner's id, or the ops user's), owner_role what they
-- created it as, which decides the event types it may receive
-- (src/domain/entitlement.ts). Partners list, delete and see deliveries of
-- their own only; ops sees all.
--
-- Rows from before this migration keep NULL for both: owned by no one,
-- visible and deletable by ops only, and delivered nothing any more. Until
-- now anyone could create a subscription without a token, so who holds such
-- a row's secret is unknown; delivering to it would keep streaming events to
-- an unknown receiver, and handing it to a partner would be a guess. Ops
-- reviews them and deletes them; a partner who needs one creates it again
-- (and so gets a new secret under its own name).
ALTER TABLE webhook_subscriptions
  ADD COLUMN owner_id   text,
  ADD COLUMN owner_role text CHECK (owner_role IN ('partner', 'ops')),
  ADD CONSTRAINT webhook_subscriptions_owner_complete CHECK ((owner_id IS NULL) = (owner_role IS NULL));

-- A partner's list and its delete look up by owner.
CREATE INDEX webhook_subscriptions_owner ON webhook_subscriptions (owner_id, created_at, subscription_id);
