-- SPDX-License-Identifier: Apache-2.0
--
-- The full current schema (version 4), applied to a fresh, empty database in
-- one transaction. It must describe exactly what migrations/0001..0004 build
-- from nothing; tests/unit/cache/ compares the two. When adding a migration,
-- update this file and its final user_version together (CMake checks that the
-- numbers agree). Times are Unix seconds (UTC); policies.mx holds the
-- normalised MX patterns joined by '\n'. The rpt_* tables (TLS-RPT, RFC 8460)
-- are described in migrations/0003_tlsrpt.sql, the report claims and the meta
-- counters in migrations/0004_fleet.sql. application_id 0x544C5350
-- ("TLSP") marks the file as a tlspolicy store.

PRAGMA application_id = 1414288208;

-- One row per policy domain: the MTA-STS policy as fetched (RFC 8461 §5.1)
-- plus its parsed fields.
CREATE TABLE policies (
  domain      TEXT    NOT NULL PRIMARY KEY,
  id          TEXT    NOT NULL,
  policy_text TEXT    NOT NULL,
  mode        TEXT    NOT NULL CHECK (mode IN ('enforce', 'testing', 'none')),
  max_age     INTEGER NOT NULL CHECK (max_age >= 0),
  mx          TEXT    NOT NULL,
  fetched_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
) STRICT;

-- The last failed policy fetch per domain (RFC 8461 §3.3 back-off).
CREATE TABLE fetch_failures (
  domain    TEXT    NOT NULL PRIMARY KEY,
  id        TEXT    NOT NULL,
  failed_at INTEGER NOT NULL,
  error     TEXT    NOT NULL
) STRICT;

CREATE INDEX policies_expires_at ON policies (expires_at);

-- TLS-RPT (RFC 8460): results per (UTC day, report domain, policy), their
-- failure details, and the reports made from them (migrations/0003_tlsrpt.sql
-- explains the columns).
CREATE TABLE rpt_policy (
  id             INTEGER NOT NULL PRIMARY KEY,
  day            TEXT    NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
  domain         TEXT    NOT NULL CHECK (domain <> ''),
  policy_type    TEXT    NOT NULL CHECK (policy_type IN ('tlsa', 'sts', 'no-policy-found')),
  policy_domain  TEXT    NOT NULL,
  policy_strings TEXT    NOT NULL,
  mx_hosts       TEXT    NOT NULL,
  successes      INTEGER NOT NULL CHECK (successes >= 0),
  failures       INTEGER NOT NULL CHECK (failures >= 0),
  UNIQUE (day, domain, policy_type, policy_domain, policy_strings, mx_hosts)
) STRICT;

CREATE TABLE rpt_failure (
  policy_id              INTEGER NOT NULL REFERENCES rpt_policy (id) ON DELETE CASCADE,
  result_type            TEXT    NOT NULL CHECK (result_type IN (
                           'starttls-not-supported', 'certificate-host-mismatch',
                           'certificate-expired', 'certificate-not-trusted', 'validation-failure',
                           'tlsa-invalid', 'dnssec-invalid', 'dane-required',
                           'sts-policy-fetch-error', 'sts-policy-invalid', 'sts-webpki-invalid')),
  sending_mta_ip         TEXT    NOT NULL,
  receiving_mx_hostname  TEXT    NOT NULL,
  receiving_mx_helo      TEXT    NOT NULL,
  receiving_ip           TEXT    NOT NULL,
  additional_information TEXT    NOT NULL,
  failure_reason_code    TEXT    NOT NULL,
  failed_sessions        INTEGER NOT NULL CHECK (failed_sessions > 0),
  PRIMARY KEY (policy_id, result_type, sending_mta_ip, receiving_mx_hostname, receiving_mx_helo,
               receiving_ip, additional_information, failure_reason_code)
) STRICT, WITHOUT ROWID;

CREATE TABLE rpt_report (
  report_id       TEXT    NOT NULL PRIMARY KEY CHECK (report_id <> ''),
  day             TEXT    NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
  domain          TEXT    NOT NULL CHECK (domain <> ''),
  state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
  created_at      INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  give_up_at      INTEGER NOT NULL,
  attempts        INTEGER NOT NULL CHECK (attempts >= 0),
  last_error      TEXT    NOT NULL,
  sent_at         INTEGER,
  sent_to         TEXT    NOT NULL,
  claimed_by      TEXT,
  claim_until     INTEGER,
  UNIQUE (day, domain)
) STRICT;

-- ReportStore::due_reports(): state = 'pending' AND next_attempt_at <= now.
CREATE INDEX rpt_report_due ON rpt_report (state, next_attempt_at);

-- Small counters by name ('rpt_push_seq').
CREATE TABLE meta (
  key   TEXT    NOT NULL PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;

PRAGMA user_version = 4;
