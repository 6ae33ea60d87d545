-- SPDX-License-Identifier: Apache-2.0
--
-- The shared fleet store in PostgreSQL (store.url), version 1: what the
-- SQLite store holds (policies, failed fetches, TLS-RPT results and reports)
-- plus what a fleet needs to do each thing once: claims with leases on policy
-- fetches and on report deliveries, the node that fetched each policy, and
-- the result pushes received from each node. Applied by pg_migrate()
-- (policy-cache/pg_connection.cpp) inside one transaction under an advisory
-- lock. Times are Unix seconds (bigint) as in SQLite, except lease ends,
-- which are the server's timestamptz so that nodes with skewed clocks agree.
--
-- PostgreSQL text holds neither NUL nor invalid UTF-8, which TLS-RPT results
-- from libtlsrpt datagrams or the JSON op may carry: those columns are bytea
-- and the uniqueness of long values is enforced on a SHA-256 of them (a btree
-- entry has a size limit; the hashed columns are length-prefixed so that no
-- two different field lists hash alike by concatenation).

-- MTA-STS policies (RFC 8461 §5.1), one row per policy domain.
CREATE TABLE policies (
  domain      text   NOT NULL PRIMARY KEY,
  id          text   NOT NULL,
  policy_text text   NOT NULL,
  mode        text   NOT NULL CHECK (mode IN ('enforce', 'testing', 'none')),
  max_age     bigint NOT NULL CHECK (max_age >= 0),
  mx          text   NOT NULL,
  fetched_at  bigint NOT NULL,
  expires_at  bigint NOT NULL,
  fetched_by  text   NOT NULL
);
CREATE INDEX policies_expires_at ON policies (expires_at);

-- The last failed fetch per domain (RFC 8461 §3.3 back-off), for the fleet.
CREATE TABLE fetch_failures (
  domain    text   NOT NULL PRIMARY KEY,
  id        text   NOT NULL,
  failed_at bigint NOT NULL,
  error     text   NOT NULL,
  node      text   NOT NULL
);

-- Who fetches (or refreshes) a domain's policy for the fleet, and until when.
-- A node that dies mid-fetch blocks nobody past `until`. A fetch stored ends
-- the lease and leaves its fetched_at/expires_at here (NULL while a fetch
-- runs): a claim racing with that store sees them when it takes the row's
-- lock (ON CONFLICT reads the row as committed), so the id just stored is
-- not fetched again.
CREATE TABLE fetch_claims (
  domain     text        NOT NULL PRIMARY KEY,
  id         text        NOT NULL,
  node       text        NOT NULL,
  until      timestamptz NOT NULL,
  fetched_at bigint,
  expires_at bigint
);

-- TLS-RPT (RFC 8460): as SQLite's migrations/0003_tlsrpt.sql.
CREATE TABLE rpt_policy (
  id             bigserial NOT NULL PRIMARY KEY,
  day            text      NOT NULL CHECK (day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
  domain         text      NOT NULL CHECK (domain <> ''),
  policy_type    text      NOT NULL CHECK (policy_type IN ('tlsa', 'sts', 'no-policy-found')),
  policy_domain  bytea     NOT NULL,
  policy_strings bytea     NOT NULL,
  mx_hosts       bytea     NOT NULL,
  successes      bigint    NOT NULL CHECK (successes >= 0),
  failures       bigint    NOT NULL CHECK (failures >= 0),
  key_hash       bytea     NOT NULL GENERATED ALWAYS AS (sha256(
                   int4send(length(policy_domain)) || policy_domain ||
                   int4send(length(policy_strings)) || policy_strings ||
                   int4send(length(mx_hosts)) || mx_hosts)) STORED,
  UNIQUE (day, domain, policy_type, key_hash)
);

CREATE TABLE rpt_failure (
  policy_id              bigint NOT NULL REFERENCES rpt_policy (id) ON DELETE CASCADE,
  result_type            text   NOT NULL CHECK (result_type IN (
                           'starttls-not-supported', 'certificate-host-mismatch',
                           'certificate-expired', 'certificate-not-trusted', 'validation-failure',
                           'tlsa-invalid', 'dnssec-invalid', 'dane-required',
                           'sts-policy-fetch-error', 'sts-policy-invalid', 'sts-webpki-invalid')),
  sending_mta_ip         bytea  NOT NULL,
  receiving_mx_hostname  bytea  NOT NULL,
  receiving_mx_helo      bytea  NOT NULL,
  receiving_ip           bytea  NOT NULL,
  additional_information bytea  NOT NULL,
  failure_reason_code    bytea  NOT NULL,
  failed_sessions        bigint NOT NULL CHECK (failed_sessions > 0),
  detail_hash            bytea  NOT NULL GENERATED ALWAYS AS (sha256(
                           int4send(length(sending_mta_ip)) || sending_mta_ip ||
                           int4send(length(receiving_mx_hostname)) || receiving_mx_hostname ||
                           int4send(length(receiving_mx_helo)) || receiving_mx_helo ||
                           int4send(length(receiving_ip)) || receiving_ip ||
                           int4send(length(additional_information)) || additional_information ||
                           int4send(length(failure_reason_code)) || failure_reason_code)) STORED,
  PRIMARY KEY (policy_id, result_type, detail_hash)
);

-- One report per (day, report domain) for the whole fleet (UNIQUE); the node
-- delivering it holds it until claim_until. last_error (a peer's answer, a
-- sendmail message) and sent_to (a rua URI from DNS) may hold any bytes: bytea.
CREATE TABLE rpt_report (
  report_id       text        NOT NULL PRIMARY KEY CHECK (report_id <> ''),
  day             text        NOT NULL CHECK (day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
  domain          text        NOT NULL CHECK (domain <> ''),
  state           text        NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
  created_at      bigint      NOT NULL,
  next_attempt_at bigint      NOT NULL,
  give_up_at      bigint      NOT NULL,
  attempts        integer     NOT NULL CHECK (attempts >= 0),
  last_error      bytea       NOT NULL,
  sent_at         bigint,
  sent_to         bytea       NOT NULL,
  claimed_by      text,
  claim_until     timestamptz,
  UNIQUE (day, domain)
);
CREATE INDEX rpt_report_due ON rpt_report (state, next_attempt_at);

-- Result pushes received: a node's local results are added in the same
-- transaction that records (node, seq), so a push retried after a crash or a
-- lost COMMIT answer is counted once.
CREATE TABLE rpt_push (
  node      text        NOT NULL,
  seq       bigint      NOT NULL,
  pushed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (node, seq)
);

UPDATE tlspolicy_schema SET version = 1;
