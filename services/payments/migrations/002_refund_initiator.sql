-- Who asked for a refund: the order saga (compensating) or an operator. Only
-- the saga's refund requests block a later charge of the order (its
-- compensation ran); an operator's is recorded only for a captured payment.
-- Rows written before this column existed came from the saga.
ALTER TABLE refunds
  ADD COLUMN initiator text NOT NULL DEFAULT 'SAGA' CHECK (initiator IN ('SAGA', 'OPS'));

-- Who refunded the payment, set with REFUNDED: PaymentRefunded carries it,
-- and orders moves a confirmed order to REFUNDED only for OPS.
ALTER TABLE payments
  ADD COLUMN refund_initiator text CHECK (refund_initiator IN ('SAGA', 'OPS'));
UPDATE payments SET refund_initiator = 'SAGA' WHERE status = 'REFUNDED';
