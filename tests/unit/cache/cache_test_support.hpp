// SPDX-License-Identifier: Apache-2.0
//
// Helpers for the SQLite store tests (policy cache, report store, migrations):
// a temporary directory, a raw SQLite connection for setting up states the
// store interfaces cannot produce (old schemas, foreign writers holding locks,
// bad rows), builders for CachedPolicy values, and the checks both stores
// share (opening, a locked store, a read-only store).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "tlspolicy/cache/policy_cache.hpp"
#include "tlspolicy/dns/name.hpp"
#include "tlspolicy/sts/policy.hpp"
#include "tlspolicy/util/c_handle.hpp"
#include "tlspolicy/util/result.hpp"

#include "support/testing.hpp"
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tlspolicy::cache::test {

using tlspolicy::testing::TempDir;

inline dns::DomainName name(std::string_view text) {
  auto n = dns::DomainName::parse(text);
  if (!n) {
    ADD_FAILURE() << "bad test domain " << text << ": " << n.error().detail;
    return *dns::DomainName::parse("invalid.test");
  }
  return *n;
}

inline util::TimePoint at(std::int64_t unix_seconds) {
  return util::TimePoint{std::chrono::seconds{unix_seconds}};
}

/// A policy for `domain` fetched at `fetched` (Unix seconds) with the body
/// the parsed fields describe.
inline CachedPolicy make_policy(std::string domain, std::string id = "20240101T000000",
                                sts::StsMode mode = sts::StsMode::Enforce,
                                std::vector<std::string> mx = {"mx1.example.com",
                                                               "*.backup.example.com"},
                                std::int64_t fetched = 1'717'200'000,
                                std::int64_t max_age = 604'800) {
  CachedPolicy p;
  p.domain = std::move(domain);
  p.id = std::move(id);
  p.policy_text = "version: STSv1\r\nmode: " + std::string{sts::to_string(mode)} + "\r\n";
  for (const auto& m : mx) p.policy_text += "mx: " + m + "\r\n";
  p.policy_text += "max_age: " + std::to_string(max_age) + "\r\n";
  p.policy.mode = mode;
  p.policy.mx = std::move(mx);
  p.policy.max_age = std::chrono::seconds{max_age};
  p.fetched_at = at(fetched);
  p.expires_at = at(fetched + max_age);
  return p;
}

/// A second, raw connection to a store file (or a plain SQLite file).
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& path) {
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    m_db.reset(raw);
    if (rc != SQLITE_OK) ADD_FAILURE() << "sqlite3_open_v2 " << path << ": " << sqlite3_errstr(rc);
  }

  /// Runs `sql` (several statements allowed); fails the test on error.
  void exec(const std::string& sql) {
    char* msg = nullptr;
    if (sqlite3_exec(m_db.get(), sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      ADD_FAILURE() << "sqlite3_exec: " << (msg != nullptr ? msg : "?") << "\nin: " << sql;
    }
    sqlite3_free(msg);
  }

  /// The first column of the first row of `sql`, as text ("" for no row).
  std::string query(const std::string& sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(m_db.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "prepare: " << sqlite3_errmsg(m_db.get()) << "\nin: " << sql;
      return {};
    }
    const util::CHandle<sqlite3_stmt, sqlite3_finalize> stmt{raw};
    if (sqlite3_step(stmt.get()) != SQLITE_ROW) return {};
    const auto* text = sqlite3_column_text(stmt.get(), 0);
    return text != nullptr ? reinterpret_cast<const char*>(text) : "";
  }

  /// Every row of `sql`, columns joined by '|'.
  std::vector<std::string> rows(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(m_db.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "prepare: " << sqlite3_errmsg(m_db.get()) << "\nin: " << sql;
      return out;
    }
    const util::CHandle<sqlite3_stmt, sqlite3_finalize> stmt{raw};
    while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(stmt.get()); ++i) {
        if (i > 0) row += '|';
        const auto* text = sqlite3_column_text(stmt.get(), i);
        if (text != nullptr) row += reinterpret_cast<const char*>(text);
      }
      out.push_back(std::move(row));
    }
    return out;
  }

 private:
  util::CHandle<sqlite3, sqlite3_close_v2> m_db;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) ADD_FAILURE() << "cannot read " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// policy-cache/fixtures/<name> in the source tree.
inline std::filesystem::path fixture(std::string_view name) {
  return std::filesystem::path{TLSPOLICY_SOURCE_DIR} / "policy-cache" / "fixtures" / name;
}

/// The store an open_sqlite_*() call returned, or null after a test failure
/// naming `call` and `path`.
template <class Store>
std::unique_ptr<Store> opened_or_fail(Result<std::unique_ptr<Store>> opened, std::string_view call,
                                      const std::filesystem::path& path) {
  if (!opened) {
    ADD_FAILURE() << call << "(" << path << "): " << opened.error().detail;
    return nullptr;
  }
  return std::move(*opened);
}

/// The permission bits of `path` (0, after a test failure, when stat fails).
inline unsigned permissions_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    ADD_FAILURE() << "cannot stat " << path;
    return 0;
  }
  return st.st_mode & 0777U;
}

/// `e` is what a write to the store at `path` gives while another connection
/// holds the write lock: CacheIo, Transient, naming the lock and the file.
inline void expect_locked(const Error& e, const std::filesystem::path& path,
                          std::string_view what) {
  EXPECT_EQ(e.code, Errc::CacheIo) << what;
  EXPECT_EQ(e.retry, Retry::Transient) << what;
  EXPECT_NE(e.detail.find("sqlite: database is locked ("), std::string::npos)
      << what << ": " << e.detail;
  EXPECT_NE(e.detail.find(path.string()), std::string::npos) << what << ": " << e.detail;
}

/// Makes the store file `path` read-only (r--r--r--). Its directory `dir`
/// stays writable so SQLite can make its -shm/-wal files for reading (see
/// BUGS in sqlite_policy_cache.cpp).
inline void make_read_only(const TempDir& dir, const std::filesystem::path& path) {
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::group_read |
                                         std::filesystem::perms::others_read);
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
}

/// The body of a death-test child (EXPECT_EXIT) that uses a store on a file
/// made read-only: `open()` must give the store (else exit 3), `read(store)`
/// must return true (else exit 4) and `write(store)` must fail with CacheIo
/// (else exit 5). Then it prints "read-only ok: <the write's error>" and exits
/// 0. As root, file permissions do not apply, so the child drops to nobody
/// first (exit 2 when it cannot). `write_name` names the write in messages.
template <class Open, class Read, class Write>
[[noreturn]] void read_only_store_child(std::string_view write_name, Open open, Read read,
                                        Write write) {
  if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) {
    std::cerr << "cannot drop root privileges\n";
    std::_Exit(2);
  }
  auto store = open();
  if (!store) {
    std::cerr << "open failed: " << store.error().detail << "\n";
    std::_Exit(3);
  }
  if (!read(**store)) {
    std::cerr << "read failed on a read-only store\n";
    std::_Exit(4);
  }
  auto written = write(**store);
  if (written || written.error().code != Errc::CacheIo) {
    std::cerr << write_name << " on a read-only store: want CacheIo, got "
              << (written ? std::string{"success"} : written.error().detail) << "\n";
    std::_Exit(5);
  }
  std::cerr << "read-only ok: " << written.error().detail << "\n";
  std::_Exit(0);
}

}  // namespace tlspolicy::cache::test
