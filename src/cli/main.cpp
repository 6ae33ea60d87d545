// SPDX-License-Identifier: Apache-2.0
//
// tlspolicy: entry point. Initialises libcurl once, before any thread starts,
// then hands over to the command dispatcher (commands.cpp).
#include <exception>
#include <iostream>

#include "tlspolicy/fetch/https_fetcher.hpp"

#include "commands.hpp"

int main(int argc, char** argv) {
  try {
    const tlspolicy::fetch::CurlGlobal curl;
    return tlspolicy::cli::run(argc, argv, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "tlspolicy: fatal: " << e.what() << '\n';
    return tlspolicy::k_exit_software;
  }
}
