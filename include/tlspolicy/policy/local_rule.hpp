// SPDX-License-Identifier: Apache-2.0
//
// policy::LocalRule: a local per-domain override (SPEC §3 step 1), as the
// engine and the rules use it. The configuration's [[policy]] tables become
// these in the composition root (daemon/runtime.cpp), so that the policy
// module does not depend on config.
#pragma once

#include <string>
#include <vector>

#include "tlspolicy/policy/decision.hpp"

namespace tlspolicy::policy {

/// What a local rule asks of delivery to its domain.
enum class LocalAction { RequireTls, Opportunistic };

struct LocalRule {
  std::string domain;  ///< normalised A-label
  LocalAction action = LocalAction::Opportunistic;
  Verify verify = Verify::None;    ///< how RequireTls authenticates; None for Opportunistic
  std::vector<std::string> match;  ///< Verify::Pkix: names to match (Postfix match=)
  friend bool operator==(const LocalRule&, const LocalRule&) = default;
};

}  // namespace tlspolicy::policy
