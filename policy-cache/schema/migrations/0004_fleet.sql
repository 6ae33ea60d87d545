-- SPDX-License-Identifier: Apache-2.0
--
-- Schema version 4: what a fleet sharing a PostgreSQL store (store.url,
-- issue 13) needs from the local SQLite store, used by cache::ReportStore
-- (policy-cache/sqlite_report_store.cpp).
--
--  rpt_report.claimed_by   the sender (fleet node and process) delivering the
--  rpt_report.claim_until  report, until when (Unix seconds, the store's
--                          clock); NULL = unclaimed. ReportStore::claim_report()
--                          sets both, update_report() clears them, so two
--                          senders (the daemon and `tlspolicy report send`)
--                          deliver a report once; a sender that died holds it
--                          no longer than its lease.
--  meta                    small counters by name. 'rpt_push_seq': the
--                          sequence number of the last push of local TLS-RPT
--                          results to the shared store (push_local_results()
--                          in policy-cache/report_push.hpp), so a push retried
--                          after a crash is recognised by the receiver.
--
-- ALTER TABLE ... ADD COLUMN keeps every row (the new columns read NULL: no
-- report is claimed). Applied by policy-cache/migrate.cpp inside one
-- transaction; never edit a migration once released.

ALTER TABLE rpt_report ADD COLUMN claimed_by TEXT;
ALTER TABLE rpt_report ADD COLUMN claim_until INTEGER;

CREATE TABLE meta (
  key   TEXT    NOT NULL PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;

PRAGMA user_version = 4;
