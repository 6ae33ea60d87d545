// SPDX-License-Identifier: Apache-2.0
//
// Private to src/dns: the one way ldns is included (tools/check-layering.sh keeps ldns here).
// ldns/common.h defines `bool`, `true` and `false` as macros unless
// __bool_true_false_are_defined is set, in C++ too (ldns 1.8.3 and 1.8.4). With GCC 14's
// <functional> ("requires true") that breaks the build; <stdbool.h> sets the guard and, in
// C++, defines none of them.
#pragma once

// NOLINTNEXTLINE(modernize-deprecated-headers): the guard ldns tests, see above
#include <ldns/ldns.h>

#include <stdbool.h>
