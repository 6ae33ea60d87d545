// SPDX-License-Identifier: Apache-2.0
//
// The config loader, derived entirely from the settings table: embedded
// defaults, then one TOML file (given, or the default file when it exists),
// then `--set section.key=value` overrides, then derived defaults. Unknown
// keys are Errc::ConfigSyntax, bad values Errc::ConfigValue, each naming the
// key and the source. toml++ throws; every exception stops here, so the
// public functions never throw.
#include "tlspolicy/config/settings.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <exception>
#include <fstream>
#include <iterator>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "policies.hpp"
#include "settings_table.hpp"
#include "values.hpp"

namespace tlspolicy::config {
namespace {

using detail::SettingRow;

/// Largest accepted config text (file or string), in bytes.
constexpr std::size_t k_max_config_bytes = std::size_t{1} << 20;

/// Rejects input whose tables would nest deeper than toml++ can destroy without recursing off
/// the stack (long dotted keys are not bounded by TOML_MAX_NESTED_VALUES). Returns the 1-based
/// line of the offence, or 0.
std::size_t excessive_nesting_line(std::string_view text) {
  // Tables nest once per '.' of a dotted key or table header and once per
  // '[' / '{'. No tlspolicy setting is deeper than 3; these limits bound
  // the tree toml++ builds (and destroys recursively) to ~1000 levels.
  constexpr int k_max_chain = 32;
  constexpr int k_max_brackets = 32;
  std::size_t line = 1;
  int brackets = 0;
  int chain = 0;
  bool prev_key = false;   // last significant token was a key-like token
  bool after_dot = false;  // last significant token was a '.' after a key
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto key_token = [&] {
    if (!after_dot) chain = 0;
    after_dot = false;
    prev_key = true;
  };
  while (i < n) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      chain = 0;
      prev_key = after_dot = false;
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '#') {
      while (i < n && text[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool multi = text.substr(i, 3) == std::string(3, c);
      const bool basic = c == '"';
      i += multi ? 3 : 1;
      while (i < n) {
        const char d = text[i];
        if (basic && d == '\\') {
          if (i + 1 < n && text[i + 1] == '\n') ++line;
          i += 2;
          continue;
        }
        if (d == '\n') {
          if (!multi) break;  // unterminated; toml++ reports it
          ++line;
        }
        if (d == c && (!multi || text.substr(i, 3) == std::string(3, c))) {
          i += multi ? 3 : 1;
          break;
        }
        ++i;
      }
      key_token();
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '+') {
      while (i < n && ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z') ||
                       (text[i] >= '0' && text[i] <= '9') || text[i] == '_' || text[i] == '-' ||
                       text[i] == '+')) {
        ++i;
      }
      key_token();
    } else if (c == '.') {
      if (prev_key) {
        ++chain;
        after_dot = true;
      } else {
        chain = 0;
        after_dot = false;
      }
      prev_key = false;
      ++i;
    } else {
      if (c == '[' || c == '{') ++brackets;
      if ((c == ']' || c == '}') && brackets > 0) --brackets;
      chain = 0;
      prev_key = after_dot = false;
      ++i;
    }
    if (chain > k_max_chain || brackets > k_max_brackets) return line;
  }
  return 0;
}

Unexpected<Error> syntax_error(std::string detail) {
  return fail(Errc::ConfigSyntax, Retry::Permanent, std::move(detail));
}

/// Parses TOML text, turning toml++'s exception and our size and nesting
/// limits into ConfigSyntax errors.
Result<toml::table> parse_toml(std::string_view text, std::string_view source) {
  if (text.size() > k_max_config_bytes) {
    return syntax_error(std::string{source} + ": larger than " +
                        std::to_string(k_max_config_bytes) + " bytes");
  }
  if (const auto line = excessive_nesting_line(text); line != 0) {
    return syntax_error(std::string{source} + ":" + std::to_string(line) +
                        ": keys or values nested too deeply");
  }
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    std::string at{source};
    if (begin.line != 0)
      at += ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column);
    return syntax_error("TOML syntax error in " + at + ": " + std::string{e.description()});
  }
}

class Loader {
 public:
  Loader() : m_origins(detail::settings_table().size(), Origin::Default) {}

  Result<void> apply_defaults() {
    for (const auto& row : detail::settings_table()) {
      auto doc = parse_toml("v = " + std::string{row.default_value}, "<default>");
      const toml::node* v = doc ? doc->get("v") : nullptr;
      if (v == nullptr) {
        return fail(Errc::Internal, Retry::Permanent,
                    "bad embedded default for '" + std::string{row.name} + "'");
      }
      if (auto ok = row.parse(*v, m_settings); !ok) {
        return fail(
            Errc::Internal, Retry::Permanent,
            "bad embedded default for '" + std::string{row.name} + "': " + ok.error().detail);
      }
    }
    return {};
  }

  Result<void> apply_text(std::string_view text, std::string_view source) {
    auto doc = parse_toml(text, source);
    if (!doc) return Unexpected{doc.error()};
    return apply_table(*doc, "", source);
  }

  Result<void> apply_override(std::string_view assignment) {
    const std::string source = "--set " + detail::printable(assignment);
    const auto eq = assignment.find('=');
    if (eq == std::string_view::npos) {
      return syntax_error("expected section.key=value in " + source);
    }
    std::string_view name = assignment.substr(0, eq);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
    const std::string_view text = assignment.substr(eq + 1);

    // The value as TOML (`key = <value>`), else as a bare string.
    std::optional<toml::table> doc;
    if (auto parsed = parse_toml("v = " + std::string{text}, "--set");
        parsed && parsed->size() == 1) {
      doc = std::move(*parsed);
    }
    if (!doc || doc->get("v") == nullptr) {
      doc.emplace();
      doc->insert("v", std::string{text});
    }
    const toml::node& value = *doc->get("v");

    if (name == detail::k_policy_name) {
      if (auto ok = detail::parse_policies(value, "--set", m_settings.policies); !ok) return ok;
      m_policy_origin = Origin::CommandLine;
      return {};
    }
    const SettingRow* row = detail::find_row(name);
    if (row == nullptr) {
      return syntax_error("unknown setting '" + detail::printable(name) + "' in " + source);
    }
    return apply_row(*row, value, "--set", Origin::CommandLine);
  }

  Result<void> derive() {
    for (const auto& row : detail::settings_table()) {
      if (row.derive == nullptr) continue;
      if (auto ok = row.derive(m_settings); !ok) {
        return fail(
            Errc::ConfigValue, Retry::Permanent,
            "invalid derived default for '" + std::string{row.name} + "': " + ok.error().detail);
      }
    }
    return {};
  }

  LoadedConfig finish(std::optional<std::filesystem::path> file) && {
    LoadedConfig out;
    const auto table = detail::settings_table();
    out.values.reserve(table.size() + 1);
    for (std::size_t i = 0; i < table.size(); ++i) {
      out.values.push_back({std::string{table[i].name}, table[i].render(m_settings), m_origins[i]});
    }
    out.values.push_back({std::string{detail::k_policy_name},
                          detail::render_policies(m_settings.policies), m_policy_origin});
    out.settings = std::move(m_settings);
    out.file = std::move(file);
    return out;
  }

 private:
  Result<void> apply_row(const SettingRow& row, const toml::node& value, std::string_view at,
                         Origin origin) {
    if (auto ok = row.parse(value, m_settings); !ok) {
      return fail(Errc::ConfigValue, Retry::Permanent,
                  "invalid value for '" + std::string{row.name} + "' in " + std::string{at} + ": " +
                      ok.error().detail);
    }
    const auto table = detail::settings_table();
    m_origins[static_cast<std::size_t>(&row - table.data())] = origin;
    return {};
  }

  /// Applies every key of `table` (a TOML table named `prefix`), in file
  /// order so that the first error reported is the first in the file.
  Result<void> apply_table(const toml::table& table, const std::string& prefix,
                           std::string_view source) {
    std::vector<std::pair<const toml::key*, const toml::node*>> entries;
    for (const auto& [key, node] : table) entries.emplace_back(&key, &node);
    std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      const auto& x = a.first->source().begin;
      const auto& y = b.first->source().begin;
      return x.line != y.line ? x.line < y.line : x.column < y.column;
    });
    for (const auto& [key, node] : entries) {
      const std::string name =
          prefix.empty() ? std::string{key->str()} : prefix + "." + std::string{key->str()};
      const std::string at = detail::where(source, key->source());
      if (prefix.empty() && name == detail::k_policy_name) {
        if (auto ok = detail::parse_policies(*node, source, m_settings.policies); !ok) return ok;
        m_policy_origin = Origin::File;
        continue;
      }
      if (const SettingRow* row = detail::find_row(name)) {
        if (auto ok = apply_row(*row, *node, at, Origin::File); !ok) return ok;
        continue;
      }
      if (detail::is_section(name)) {
        const auto* sub = node->as_table();
        if (sub == nullptr) {
          return fail(Errc::ConfigValue, Retry::Permanent,
                      "invalid value for '" + detail::printable(name) + "' in " + at +
                          ": expected a table ([" + detail::printable(name) + "])");
        }
        if (auto ok = apply_table(*sub, name, source); !ok) return ok;
        continue;
      }
      return syntax_error("unknown setting '" + detail::printable(name) + "' in " + at);
    }
    return {};
  }

  Settings m_settings;
  std::vector<Origin> m_origins;
  Origin m_policy_origin = Origin::Default;
};

/// Everything after the file: overrides, derived defaults, the listing.
Result<LoadedConfig> load(const std::optional<std::string>& text, std::string_view source,
                          const std::vector<std::string>& overrides,
                          std::optional<std::filesystem::path> file) {
  Loader loader;
  if (auto ok = loader.apply_defaults(); !ok) return Unexpected{ok.error()};
  if (text) {
    if (auto ok = loader.apply_text(*text, source); !ok) return Unexpected{ok.error()};
  }
  for (const auto& o : overrides) {
    if (auto ok = loader.apply_override(o); !ok) return Unexpected{ok.error()};
  }
  if (auto ok = loader.derive(); !ok) return Unexpected{ok.error()};
  return std::move(loader).finish(std::move(file));
}

Result<std::string> read_file(const std::filesystem::path& path) {
  std::error_code dir_ec;
  if (std::filesystem::is_directory(path, dir_ec)) {
    return syntax_error("cannot read " + path.string() + ": is a directory");
  }
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    const std::error_code ec{errno, std::generic_category()};
    return syntax_error("cannot read " + path.string() + ": " + ec.message());
  }
  std::string text;
  constexpr std::size_t k_chunk = std::size_t{64} * 1024;
  std::string buf(k_chunk, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    text.append(buf.data(), static_cast<std::size_t>(in.gcount()));
    if (text.size() > k_max_config_bytes) {
      return syntax_error("cannot read " + path.string() + ": larger than " +
                          std::to_string(k_max_config_bytes) + " bytes");
    }
  }
  if (in.bad()) return syntax_error("cannot read " + path.string() + ": read error");
  return text;
}

Unexpected<Error> internal(std::string_view what) {
  return fail(Errc::Internal, Retry::Permanent, "loading the config: " + std::string{what});
}

}  // namespace

std::string_view to_string(Origin o) noexcept {
  switch (o) {
    case Origin::Default:
      return "default";
    case Origin::File:
      return "file";
    case Origin::CommandLine:
      return "command-line";
  }
  return "default";
}

Result<LoadedConfig> load_config(const std::optional<std::filesystem::path>& file,
                                 const std::vector<std::string>& overrides) {
  try {
    std::optional<std::filesystem::path> path;
    if (file && !file->empty()) {
      path = *file;
    } else {
      std::error_code ec;
      const std::filesystem::path def{k_default_config_file};
      if (std::filesystem::exists(def, ec)) path = def;
    }
    std::optional<std::string> text;
    if (path) {
      auto t = read_file(*path);
      if (!t) return Unexpected{t.error()};
      text = std::move(*t);
    }
    const std::string source = path ? path->string() : std::string{};
    return load(text, source, overrides, std::move(path));
  } catch (const std::bad_alloc&) {
    return internal("out of memory");
  } catch (const std::exception& e) {
    return internal(e.what());
  }
}

Result<LoadedConfig> load_config_text(std::string_view toml,
                                      const std::vector<std::string>& overrides) {
  try {
    return load(std::string{toml}, "<config text>", overrides, std::nullopt);
  } catch (const std::bad_alloc&) {
    return internal("out of memory");
  } catch (const std::exception& e) {
    return internal(e.what());
  }
}

const std::vector<SettingDoc>& setting_docs() {
  static const std::vector<SettingDoc> docs = [] {
    std::vector<SettingDoc> out;
    for (const auto& row : detail::settings_table()) {
      out.push_back({std::string{row.name}, std::string{row.type},
                     std::string{row.default_doc.empty() ? row.default_value : row.default_doc},
                     std::string{row.doc}});
    }
    out.push_back({std::string{detail::k_policy_name}, std::string{detail::k_policy_type},
                   std::string{detail::k_policy_default}, std::string{detail::k_policy_doc}});
    return out;
  }();
  return docs;
}

namespace {

/// `text` as comment lines of at most k_width columns, words kept whole.
void append_comment(std::string& out, std::string_view text) {
  constexpr std::size_t k_width = 99;
  std::string line = "#";
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto end = std::min(text.find(' ', pos), text.size());
    const auto word = text.substr(pos, end - pos);
    if (line.size() > 1 && line.size() + 1 + word.size() > k_width) {
      out += line + '\n';
      line = "#";
    }
    if (!word.empty()) line += ' ' + std::string{word};
    pos = end + 1;
  }
  out += line + '\n';
}

void append_setting(std::string& out, const detail::SettingRow& row, std::string_view key,
                    bool commented) {
  append_comment(out, std::string{row.type} + ". " + std::string{row.doc});
  if (!row.default_doc.empty()) append_comment(out, "Default: " + std::string{row.default_doc});
  out += commented ? "#" : "";
  out += std::string{key} + " = " + std::string{row.default_value} + "\n\n";
}

}  // namespace

std::string defaults_toml(bool commented) {
  std::string out;
  append_comment(out, commented
                          ? "tlspolicy configuration (TOML): every setting, commented out, with "
                            "its embedded default. Uncomment a line to change it; "
                            "`tlspolicy check-config` shows what is in effect. tlspolicy.toml(5) "
                            "describes each setting."
                          : "tlspolicy's embedded defaults as a configuration file (TOML). "
                            "tlspolicy.toml(5) describes each setting.");
  out += '\n';
  const auto rows = detail::settings_table();
  for (const auto& row : rows) {
    if (row.name.find('.') == std::string_view::npos) append_setting(out, row, row.name, commented);
  }
  if (!commented) {
    append_comment(out,
                   std::string{detail::k_policy_type} + ". " + std::string{detail::k_policy_doc});
    out +=
        std::string{detail::k_policy_name} + " = " + std::string{detail::k_policy_default} + "\n\n";
  }
  std::string_view section;
  for (const auto& row : rows) {
    const auto dot = row.name.find('.');
    if (dot == std::string_view::npos) continue;
    if (row.name.substr(0, dot) != section) {
      section = row.name.substr(0, dot);
      out += "[" + std::string{section} + "]\n\n";
    }
    append_setting(out, row, row.name.substr(dot + 1), commented);
  }
  if (commented) {
    append_comment(out, std::string{detail::k_policy_type} + ". " +
                            std::string{detail::k_policy_doc} +
                            " None by default; one table "
                            "per domain, for example:");
    out +=
        "#[[policy]]\n#domain = \"example.org\"\n#action = \"require-tls\"\n"
        "#verify = \"pkix\"\n#match = [\"mx.example.org\"]\n";
  }
  return out;
}

}  // namespace tlspolicy::config
