// SPDX-License-Identifier: Apache-2.0
//
// Anchor translation unit of the tlspolicy_testing library (the fakes are
// header-only or have their own .cpp files beside this one).
#include "support/testing.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tlspolicy::testing {

std::string param_name(std::string_view row_name) {
  std::string name;
  for (const char c : row_name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    name += alnum ? c : '_';
  }
  return name;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  return done();
}

std::filesystem::path test_data(std::string_view relative) {
  return std::filesystem::path{TLSPOLICY_TEST_DATA} / relative;
}

dns::DomainName query_name(std::string_view text) {
  std::vector<std::string_view> service;
  while (text.starts_with('_')) {
    const auto dot = text.find('.');
    service.push_back(text.substr(0, dot));
    text.remove_prefix(dot == std::string_view::npos ? text.size() : dot + 1);
  }
  auto n = dns::DomainName::parse(text);
  if (!n) throw std::runtime_error{std::string{text} + ": " + n.error().detail};
  for (auto it = service.rbegin(); it != service.rend(); ++it) {
    n = n->prefixed(*it);
    if (!n) throw std::runtime_error{std::string{*it} + ": " + n.error().detail};
  }
  return *n;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "tlspolicy-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error{"mkdtemp " + pattern};
  m_path = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(m_path, ec);
}

}  // namespace tlspolicy::testing
