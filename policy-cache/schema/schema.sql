-- SPDX-License-Identifier: Apache-2.0
--
-- The full current schema (version 2), applied to a fresh, empty database in
-- one transaction. It must describe exactly what migrations/0001..0002 build
-- from nothing; tests/unit/cache/ compares the two. When adding a migration,
-- update this file and its final user_version together (CMake checks that the
-- numbers agree). Times are Unix seconds (UTC); policies.mx holds the
-- normalised MX patterns joined by '\n'. application_id 0x544C5350 ("TLSP")
-- marks the file as a tlspolicy store.

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

PRAGMA user_version = 2;
