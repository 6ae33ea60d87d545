// SPDX-License-Identifier: Apache-2.0
//
// Derived defaults (derived.hpp): what an empty state_dir, store.path,
// fleet.node, server.*, tlsrpt.socket, tlsrpt.submitter, tlsrpt.contact_info
// and tlsrpt.organization_name become.
#include "derived.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <utility>

#include "values.hpp"
#include <pwd.h>
#include <unistd.h>

namespace tlspolicy::config::detail {
namespace {

std::optional<std::string> env_absolute(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read at load only
  if (v == nullptr || v[0] != '/') return std::nullopt;
  return std::string{v};
}

std::optional<std::string> home_dir() {
  if (auto h = env_absolute("HOME")) return h;
  std::array<char, 4096> buf{};
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr && found->pw_dir[0] == '/') {
    return std::string{found->pw_dir};
  }
  return std::nullopt;
}

Result<void> derive_listener(const Settings& s, std::string& field, std::string_view file) {
  if (!field.empty()) return {};
  std::string value = "unix:" + (run_dir(s) / file).string();
  if (auto ok = check_listener(value); !ok) return ok;
  field = std::move(value);
  return {};
}

}  // namespace

std::string host_name() {
  std::array<char, 256> buf{};
  if (gethostname(buf.data(), buf.size() - 1) != 0) return "localhost";
  std::string name{buf.data()};
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name.empty() ? "localhost" : name;
}

std::filesystem::path run_dir(const Settings& s) {
  if (geteuid() == 0) return "/run/tlspolicy";
  if (auto xdg = env_absolute("XDG_RUNTIME_DIR")) return std::filesystem::path{*xdg} / "tlspolicy";
  return s.state_dir / "run";
}

Result<void> derive_state_dir(Settings& s) {
  if (!s.state_dir.empty()) return {};
  if (geteuid() == 0) {
    s.state_dir = "/var/lib/tlspolicy";
  } else if (auto xdg = env_absolute("XDG_STATE_HOME")) {
    s.state_dir = std::filesystem::path{*xdg} / "tlspolicy";
  } else if (auto home = home_dir()) {
    s.state_dir = std::filesystem::path{*home} / ".local/state/tlspolicy";
  } else {
    return value_error("no $XDG_STATE_HOME or home directory to derive it from; set it");
  }
  return {};
}

Result<void> derive_store_path(Settings& s) {
  if (s.store.path.empty()) s.store.path = s.state_dir / "policies.sqlite";
  return {};
}

Result<void> derive_fleet_node(Settings& s) {
  if (s.fleet.node.empty()) s.fleet.node = host_name();
  return {};
}

Result<void> derive_socketmap(Settings& s) {
  return derive_listener(s, s.server.socketmap, "socketmap.sock");
}

Result<void> derive_json(Settings& s) {
  return derive_listener(s, s.server.json, "tlspolicy.sock");
}

Result<void> derive_admin(Settings& s) { return derive_listener(s, s.server.admin, "admin.sock"); }

Result<void> derive_tlsrpt_socket(Settings& s) {
  // Beside the JSON socket, so that daemons with their own sockets
  // (tests, several instances) never share a datagram socket.
  if (s.tlsrpt.socket.empty() && s.server.json.starts_with("unix:")) {
    const std::filesystem::path json{s.server.json.substr(5)};
    s.tlsrpt.socket = "unix:" + (json.parent_path() / "tlsrpt.sock").string();
    if (auto ok = check_listener(s.tlsrpt.socket); !ok) s.tlsrpt.socket.clear();
  }
  return derive_listener(s, s.tlsrpt.socket, "tlsrpt.sock");
}

/// RFC 8460 §5.3 (RPT-14): the submitter is the domain of contact-info.
/// Fills in whichever of the two is empty, then checks they agree.
Result<void> derive_submitter(Settings& s) {
  auto& r = s.tlsrpt;
  const auto at = r.contact_info.rfind('@');
  if (!r.contact_info.empty() &&
      (at == std::string::npos || at == 0 || at + 1 == r.contact_info.size())) {
    return value_error("tlsrpt.contact_info must be an e-mail address, got " +
                       quote(printable(r.contact_info)));
  }
  if (r.submitter.empty()) {
    r.submitter = r.contact_info.empty() ? host_name() : r.contact_info.substr(at + 1);
    if (auto d = normalise_domain(r.submitter)) r.submitter = *d;
  }
  if (r.contact_info.empty()) r.contact_info = "postmaster@" + r.submitter;
  const auto contact_domain =
      normalise_domain(r.contact_info.substr(r.contact_info.rfind('@') + 1));
  if (!contact_domain || *contact_domain != r.submitter) {
    return value_error("the submitter " + quote(r.submitter) +
                       " must be the domain of tlsrpt.contact_info " + quote(r.contact_info) +
                       " (RFC 8460 5.3)");
  }
  if (r.send && r.submitter.find('.') == std::string::npos) {
    return value_error("tlsrpt.send needs a fully qualified submitter domain, got " +
                       quote(r.submitter) + "; set tlsrpt.contact_info");
  }
  return {};
}

Result<void> derive_organization_name(Settings& s) {
  if (s.tlsrpt.organization_name.empty()) s.tlsrpt.organization_name = s.tlsrpt.submitter;
  return {};
}

}  // namespace tlspolicy::config::detail
