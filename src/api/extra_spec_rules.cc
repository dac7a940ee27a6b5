// Flavor extra spec validation from microversion 2.86, as nova does it: a key nova's registry
// knows must have a value of its kind (an integer within its limits, a boolean-like word, one
// of its values or matching its format); a key in a namespace nova knows but not in the
// registry is refused ("hw:cpu_polcy" is a typo, not a new feature); a key in any other
// namespace, or without one, is the operator's own and passes. The registry is data:
// extra_spec_rules.inc, generated from python3-nova by tools/gen_extra_spec_rules.py.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <regex>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/compute_impl.h"

namespace gpucloud::api {
namespace {

enum Kind { kInt, kBool, kString };

struct Rule {
  std::string name;  // the name pattern, as nova writes it with parameters filled in
  Kind kind;
  std::optional<long long> min, max;
  std::vector<std::string> allowed;  // for strings: one of these, when not empty
  std::string pattern;               // for strings: the whole value matches, when not empty
  std::regex name_re, value_re;
};

struct Registry {
  std::vector<std::regex> namespaces;
  std::vector<Rule> rules;
  std::unordered_map<std::string, size_t> exact;  // names without a parameter
};

std::vector<std::string> split_bar(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  size_t start = 0;
  while (true) {
    const size_t bar = text.find('|', start);
    out.push_back(text.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) return out;
    start = bar + 1;
  }
}

const Registry& registry() {
  static const Registry r = [] {
    Registry out;
#define KNOWN_NAMESPACE(re) out.namespaces.emplace_back(re);
#define EXTRA_SPEC(name, kind, lo, hi, allowed, pattern)                                  \
  out.rules.push_back({name, kind, lo, hi, split_bar(allowed), pattern, std::regex(name), \
                       std::regex(std::string(pattern).empty() ? std::string(".*") : pattern)});
#include "api/extra_spec_rules.inc"
#undef EXTRA_SPEC
#undef KNOWN_NAMESPACE
    for (size_t i = 0; i < out.rules.size(); ++i) {
      const std::string& n = out.rules[i].name;
      if (n.find_first_of("()[]\\*+?{}|^$") == std::string::npos) out.exact[n] = i;
    }
    return out;
  }();
  return r;
}

std::string lower_trimmed(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  std::string out = s.substr(b, e - b);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Status refuse(const std::string& key, const std::string& why) {
  return bad_request(fmt::format("Validation failed; extra spec '{}': {}", key, why));
}

Status check_value(const Rule& rule, const std::string& key, const std::string& value) {
  switch (rule.kind) {
    case kInt: {
      static const std::regex kInteger("\\s*[+-]?[0-9]{1,18}\\s*");
      if (!std::regex_match(value, kInteger)) {
        return refuse(key, fmt::format("'{}' is not a valid integer value.", value));
      }
      const long long n = std::stoll(value);
      if (rule.max && n > *rule.max) {
        return refuse(key,
                      fmt::format("'{}' is greater than the max value of '{}'.", n, *rule.max));
      }
      if (rule.min && n < *rule.min) {
        return refuse(key, fmt::format("'{}' is less than the min value of '{}'.", n, *rule.min));
      }
      return {};
    }
    case kBool: {
      // oslo's strict bool_from_string.
      static const std::vector<std::string> kWords = {"1", "t", "true",  "on",  "y", "yes",
                                                      "0", "f", "false", "off", "n", "no"};
      if (std::find(kWords.begin(), kWords.end(), lower_trimmed(value)) == kWords.end()) {
        return refuse(key, fmt::format("'{}' is not a valid boolean-like value.", value));
      }
      return {};
    }
    case kString:
      if (!rule.pattern.empty() && !std::regex_match(value, rule.value_re)) {
        return refuse(key, fmt::format("'{}' is not of the format '{}'.", value, rule.pattern));
      }
      if (rule.pattern.empty() && !rule.allowed.empty() &&
          std::find(rule.allowed.begin(), rule.allowed.end(), value) == rule.allowed.end()) {
        return refuse(key,
                      fmt::format("'{}' is not one of: {}.", value, fmt::join(rule.allowed, ", ")));
      }
      return {};
  }
  return {};
}

}  // namespace

Status validate_known_extra_specs(const std::map<std::string, std::string>& specs) {
  const Registry& r = registry();
  for (const auto& [key, value] : specs) {
    const Rule* rule = nullptr;
    if (auto it = r.exact.find(key); it != r.exact.end()) {
      rule = &r.rules[it->second];
    } else {
      for (const Rule& candidate : r.rules) {
        if (std::regex_match(key, candidate.name_re)) {
          rule = &candidate;
          break;
        }
      }
    }
    if (rule) {
      if (auto s = check_value(*rule, key, value); !s.ok()) return s;
      continue;
    }
    const size_t colon = key.find(':');
    if (colon == std::string::npos) continue;
    const std::string ns = key.substr(0, colon);
    const bool known = std::any_of(r.namespaces.begin(), r.namespaces.end(),
                                   [&](const std::regex& re) { return std::regex_match(ns, re); });
    if (known) {
      return bad_request(fmt::format(
          "Validation failed; extra spec '{}' does not appear to be a valid extra spec.", key));
    }
  }
  return {};
}

}  // namespace gpucloud::api
