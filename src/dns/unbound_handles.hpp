// SPDX-License-Identifier: Apache-2.0
//
// Private to src/dns: owning handles for the libunbound objects the validate
// resolver creates (HOUSE-STYLE §5). Nothing from libunbound leaves src/dns/.
#pragma once

#include <unbound.h>

#include "tlspolicy/util/c_handle.hpp"

namespace tlspolicy::dns::detail {

/// ub_ctx_create(). ub_ctx_delete() also stops the background thread and
/// drops outstanding async queries without calling their callbacks.
using UbContext = util::CHandle<ub_ctx, ub_ctx_delete>;

/// The result handed to a ub_resolve_async() callback (the callback owns it).
using UbResult = util::CHandle<ub_result, ub_resolve_free>;

// BORROWED, never wrap: ub_result::answer_packet, ::why_bogus, ::data — they
// belong to the ub_result above.

}  // namespace tlspolicy::dns::detail
