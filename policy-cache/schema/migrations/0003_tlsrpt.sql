-- SPDX-License-Identifier: Apache-2.0
--
-- Schema version 3: SMTP TLS Reporting (RFC 8460) state, used by
-- cache::ReportStore (policy-cache/sqlite_report_store.cpp).
--
--  rpt_policy   one row per (UTC day, report domain, policy): the summed
--               session counts (RFC 8460 §4.4 "summary"). `id` is a rowid
--               alias and grows with each new row, so ORDER BY id is the
--               order in which policies were first counted. policy_strings
--               and mx_hosts hold the lists as compact JSON arrays of strings
--               (the store's canonical encoding, so equal lists are equal
--               text and the UNIQUE key works; [] and [""] differ).
--  rpt_failure  one row per distinct failure detail of a policy, with the
--               number of failed sessions that had it ("failed-session-count").
--               Absent optional fields are '' (never NULL), so that equal
--               details meet in the primary key.
--  rpt_report   at most one report per (day, report domain), with its
--               delivery state (RFC 8460 §5: sent once, retried up to 24 h).
--
-- day is 'YYYY-MM-DD' (UTC, RPT-8), so text order is date order; times are
-- Unix seconds (UTC); counts are integers (RPT-9). Applied by
-- policy-cache/migrate.cpp inside one transaction; never edit a migration
-- once released.

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
  UNIQUE (day, domain)
) STRICT;

-- ReportStore::due_reports(): state = 'pending' AND next_attempt_at <= now.
CREATE INDEX rpt_report_due ON rpt_report (state, next_attempt_at);

PRAGMA user_version = 3;
