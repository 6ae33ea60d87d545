// SPDX-License-Identifier: Apache-2.0
//
// Replays files and directories (recursively) through LLVMFuzzerTestOneInput,
// so every fuzz target's corpus runs under ctest without libFuzzer. Fails when
// a path is missing or holds no input: a replay that replays nothing is red.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool run_file(const std::filesystem::path& p) {
  std::ifstream in{p, std::ios::binary};
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", p.c_str());
    return false;
  }
  const std::vector<char> bytes{std::istreambuf_iterator<char>{in},
                                std::istreambuf_iterator<char>{}};
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path p{argv[i]};
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator{p}) {
        if (!e.is_regular_file()) continue;
        if (!run_file(e.path())) return 1;
        ++count;
      }
    } else if (std::filesystem::is_regular_file(p)) {
      if (!run_file(p)) return 1;
      ++count;
    } else {
      std::fprintf(stderr, "no such input: %s\n", p.c_str());
      return 1;
    }
  }
  std::printf("replayed %zu inputs\n", count);
  return count > 0 ? 0 : 1;
}
