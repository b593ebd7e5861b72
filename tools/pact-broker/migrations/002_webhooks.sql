-- Webhooks, as the real broker models them: a webhook names the events it
-- fires on, an optional consumer and provider it is limited to, and a request
-- template whose ${pactbroker.*} parameters are filled in when it fires.

CREATE TABLE webhooks (
  uuid        uuid PRIMARY KEY,
  description text,
  consumer_id integer REFERENCES pacticipants(id) ON DELETE CASCADE,
  provider_id integer REFERENCES pacticipants(id) ON DELETE CASCADE,
  enabled     boolean NOT NULL DEFAULT true,
  events      text[] NOT NULL,
  -- method, url, headers, body, username, password (never sent back out)
  request     jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- An outbox of what happened, written by triggers in the very transaction that
-- publishes a pact or a verification result, so a webhook is only considered
-- once that transaction has committed (and never for one that rolled back).
-- The broker's webhook runner reads it after a NOTIFY or on its poll.
CREATE TABLE broker_events (
  id           serial PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('pact_publication', 'verification')),
  ref_id       integer NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  processed_at timestamptz
);
CREATE INDEX broker_events_pending ON broker_events (id) WHERE processed_at IS NULL;

CREATE FUNCTION pact_broker_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO broker_events (kind, ref_id) VALUES (TG_ARGV[0], NEW.id);
  -- Delivered on commit only.
  PERFORM pg_notify('pact_broker_events', TG_ARGV[0]);
  RETURN NEW;
END
$$;

CREATE TRIGGER pact_publications_broker_event AFTER INSERT ON pact_publications
  FOR EACH ROW EXECUTE FUNCTION pact_broker_record_event('pact_publication');
CREATE TRIGGER verifications_broker_event AFTER INSERT ON verifications
  FOR EACH ROW EXECUTE FUNCTION pact_broker_record_event('verification');

-- One firing of a webhook for one event (a contract_requiring_verification_published
-- event fires once per provider version that has to verify). The template
-- parameters are fixed when it is triggered; retries send the same request.
CREATE TABLE triggered_webhooks (
  uuid                uuid PRIMARY KEY,
  webhook_uuid        uuid NOT NULL REFERENCES webhooks(uuid) ON DELETE CASCADE,
  trigger_type        text NOT NULL CHECK (trigger_type IN ('resource_creation', 'user')),
  event_name          text NOT NULL,
  status              text NOT NULL CHECK (status IN ('not_run', 'retrying', 'success', 'failure')),
  consumer_id         integer REFERENCES pacticipants(id) ON DELETE CASCADE,
  provider_id         integer REFERENCES pacticipants(id) ON DELETE CASCADE,
  consumer_version_id integer REFERENCES versions(id) ON DELETE CASCADE,
  pact_version_id     integer REFERENCES pact_versions(id) ON DELETE CASCADE,
  verification_id     integer REFERENCES verifications(id) ON DELETE CASCADE,
  parameters          jsonb NOT NULL,
  attempts_made       integer NOT NULL DEFAULT 0,
  next_attempt_at     timestamptz,
  created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX triggered_webhooks_due ON triggered_webhooks (next_attempt_at)
  WHERE status IN ('not_run', 'retrying');
CREATE INDEX triggered_webhooks_pact ON triggered_webhooks (consumer_id, provider_id);

-- Each attempt: its outcome and its log (headers that carry credentials redacted).
CREATE TABLE webhook_executions (
  id                     serial PRIMARY KEY,
  triggered_webhook_uuid uuid NOT NULL REFERENCES triggered_webhooks(uuid) ON DELETE CASCADE,
  success                boolean NOT NULL,
  logs                   text NOT NULL,
  created_at             timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_executions_triggered ON webhook_executions (triggered_webhook_uuid, id);
