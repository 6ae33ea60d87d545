// SPDX-License-Identifier: Apache-2.0
//
// Small helpers shared by all unit tests.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "tlspolicy/dns/name.hpp"

namespace tlspolicy::testing {

/// Path of a file under tests/data.
[[nodiscard]] std::filesystem::path test_data(std::string_view relative);

/// A query name as the resolver's callers build it: `text` parsed as a
/// domain, its leading service labels ("_25._tcp.", "_mta-sts.") added with
/// DomainName::prefixed(). Throws std::runtime_error on a bad name.
[[nodiscard]] dns::DomainName query_name(std::string_view text);

/// A GoogleTest parameter name from a table row's name: each character other than an ASCII
/// letter or digit becomes '_'.
[[nodiscard]] std::string param_name(std::string_view row_name);

/// For INSTANTIATE_TEST_SUITE_P: names each instance after its row's `name` member.
struct RowName {
  template <class Row>
  std::string operator()(const ::testing::TestParamInfo<Row>& info) const {
    return param_name(info.param.name);
  }
};

/// Polls `done` every millisecond until it is true or `limit` passed; its last answer.
[[nodiscard]] bool wait_until(const std::function<bool()>& done,
                              std::chrono::milliseconds limit = std::chrono::seconds{10});

/// A fresh directory under $TMPDIR, removed with everything in it at scope end. Throws
/// std::runtime_error when it cannot be made.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return m_path; }
  [[nodiscard]] std::filesystem::path operator/(std::string_view name) const {
    return m_path / name;
  }

 private:
  std::filesystem::path m_path;
};

}  // namespace tlspolicy::testing
