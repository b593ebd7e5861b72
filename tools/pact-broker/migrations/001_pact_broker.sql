-- Accord's own Pact Broker: the subset of the real broker's data model that
-- publishing, verification, environments and can-i-deploy need.

CREATE TABLE pacticipants (
  id          serial PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  main_branch text,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE versions (
  id             serial PRIMARY KEY,
  pacticipant_id integer NOT NULL REFERENCES pacticipants(id),
  number         text NOT NULL,
  build_url      text,
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (pacticipant_id, number)
);

CREATE TABLE branches (
  id             serial PRIMARY KEY,
  pacticipant_id integer NOT NULL REFERENCES pacticipants(id),
  name           text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (pacticipant_id, name)
);

-- A version may sit on several branches; "latest on a branch" is the newest row here.
CREATE TABLE branch_versions (
  id         serial PRIMARY KEY,
  branch_id  integer NOT NULL REFERENCES branches(id) ON DELETE CASCADE,
  version_id integer NOT NULL REFERENCES versions(id),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (branch_id, version_id)
);

CREATE TABLE tags (
  version_id integer NOT NULL REFERENCES versions(id),
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (version_id, name)
);

-- Pact content, stored once per consumer/provider/sha: a verification belongs
-- to the content, so it counts for every consumer version that published it.
CREATE TABLE pact_versions (
  id          serial PRIMARY KEY,
  consumer_id integer NOT NULL REFERENCES pacticipants(id),
  provider_id integer NOT NULL REFERENCES pacticipants(id),
  sha         text NOT NULL,
  content     jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (consumer_id, provider_id, sha)
);

-- Each publish for a consumer version and provider is a new revision; the
-- highest revision is the pact of that version.
CREATE TABLE pact_publications (
  id                  serial PRIMARY KEY,
  consumer_version_id integer NOT NULL REFERENCES versions(id),
  provider_id         integer NOT NULL REFERENCES pacticipants(id),
  pact_version_id     integer NOT NULL REFERENCES pact_versions(id),
  revision            integer NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (consumer_version_id, provider_id, revision)
);

CREATE TABLE verifications (
  id                  serial PRIMARY KEY,
  pact_version_id     integer NOT NULL REFERENCES pact_versions(id),
  provider_version_id integer NOT NULL REFERENCES versions(id),
  success             boolean NOT NULL,
  build_url           text,
  verified_by         jsonb,
  test_results        jsonb,
  created_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX verifications_pact_version ON verifications (pact_version_id, provider_version_id);

CREATE TABLE environments (
  uuid         uuid PRIMARY KEY,
  name         text NOT NULL UNIQUE,
  display_name text,
  production   boolean NOT NULL DEFAULT false,
  contacts     jsonb,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Recording a deployment ends the previous deployment of the same
-- pacticipant in the same environment and application instance.
CREATE TABLE deployed_versions (
  uuid                 uuid PRIMARY KEY,
  version_id           integer NOT NULL REFERENCES versions(id),
  environment_uuid     uuid NOT NULL REFERENCES environments(uuid) ON DELETE CASCADE,
  application_instance text,
  created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  undeployed_at        timestamptz
);

CREATE TABLE released_versions (
  uuid             uuid PRIMARY KEY,
  version_id       integer NOT NULL REFERENCES versions(id),
  environment_uuid uuid NOT NULL REFERENCES environments(uuid) ON DELETE CASCADE,
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  support_ended_at timestamptz,
  UNIQUE (version_id, environment_uuid)
);
