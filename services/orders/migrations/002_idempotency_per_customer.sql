-- An idempotency key is the customer's own: two customers may use the same
-- key, and a replay of someone else's key can neither return their order nor
-- be blocked by it.
ALTER TABLE orders DROP CONSTRAINT orders_idempotency_key_key;
ALTER TABLE orders ADD CONSTRAINT orders_customer_idempotency_key UNIQUE (customer_id, idempotency_key);
