-- SPDX-License-Identifier: Apache-2.0
--
-- Schema version 2: records the last failed policy fetch per domain (for the
-- RFC 8461 §3.3 back-off and for operators), and indexes policies by
-- expires_at so that refresh scans and purge_expired() need no table scan.

CREATE TABLE fetch_failures (
  domain    TEXT    NOT NULL PRIMARY KEY,
  id        TEXT    NOT NULL,
  failed_at INTEGER NOT NULL,
  error     TEXT    NOT NULL
) STRICT;

CREATE INDEX policies_expires_at ON policies (expires_at);

PRAGMA user_version = 2;
