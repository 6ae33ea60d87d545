// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target for TLSA usability and digest agility (RFC 6698 §4.1,
// RFC 7671 §9): the input is split into TLSA rdata (usage, selector, mtype,
// then association data). The whole input is one record; it is also cut at
// each 0xff octet into several records. select_for_authentication() must
// return a subsequence of its input (order kept) made only of usable records,
// and never drop a usable Full(0) record.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "tlspolicy/dane/dane.hpp"

// Declared here for -Wmissing-declarations; libFuzzer or standalone_main.cpp calls it.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

tlspolicy::dns::TlsaRecord to_record(const std::uint8_t* data, std::size_t size) {
  tlspolicy::dns::TlsaRecord r;
  if (size > 0) r.usage = data[0];
  if (size > 1) r.selector = data[1];
  if (size > 2) r.mtype = data[2];
  if (size > 3) r.data.assign(data + 3, data + size);
  return r;
}

void check(const std::vector<tlspolicy::dns::TlsaRecord>& in) {
  using namespace tlspolicy::dane;
  const auto out = select_for_authentication(in);
  std::size_t next = 0;  // out must be a subsequence of in
  for (const auto& r : out) {
    if (!usable(r)) std::abort();
    while (next < in.size() && !(in[next] == r)) ++next;
    if (next == in.size()) std::abort();
    ++next;
  }
  std::size_t full_in = 0;
  std::size_t full_out = 0;
  for (const auto& r : in) full_in += (usable(r) && r.mtype == 0) ? 1U : 0U;
  for (const auto& r : out) full_out += r.mtype == 0 ? 1U : 0U;
  if (full_in != full_out) std::abort();
  // Some usable record in → some record out.
  bool any_usable = false;
  for (const auto& r : in) any_usable = any_usable || usable(r);
  if (any_usable == out.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check({to_record(data, size)});

  std::vector<tlspolicy::dns::TlsaRecord> records;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= size; ++i) {
    if (i == size || data[i] == 0xff) {
      records.push_back(to_record(data + start, i - start));
      start = i + 1;
    }
  }
  check(records);
  return 0;
}
