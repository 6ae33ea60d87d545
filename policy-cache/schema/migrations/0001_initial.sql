-- SPDX-License-Identifier: Apache-2.0
--
-- Schema version 1: the policies table, one row per policy domain holding the
-- MTA-STS policy as fetched (RFC 8461 §5.1 caching) plus its parsed fields.
-- Times are Unix seconds (UTC); mx holds the normalised patterns joined by
-- '\n' (patterns never contain a newline). application_id 0x544C5350 ("TLSP")
-- marks the file as a tlspolicy store. Applied by policy-cache/migrate.cpp
-- inside one transaction; never edit a migration once released.

PRAGMA application_id = 1414288208;

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

PRAGMA user_version = 1;
