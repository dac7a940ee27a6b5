#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "api/list_query_impl.h"
#include "api/validation_impl.h"

namespace gpucloud::api {
namespace {

constexpr int64_t kMaxLimit = 1000;  // nova's [api] max_limit

std::vector<std::string> all_values(const HttpRequest& req, const std::string& name) {
  std::vector<std::string> out;
  auto range = req.params.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace

Result<store::TimePoint> parse_iso8601(const std::string& text, const std::string& field) {
  auto bad = [&] {
    return bad_request("Invalid input for query parameter " + field + ". Value: " + shown(text) +
                       ". It is not a valid ISO 8601 date-time (2026-12-02T07:00:00Z).");
  };
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return bad();
  }
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return bad();
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  size_t i = 19;
  long micros = 0;
  if (i < text.size() && text[i] == '.') {
    long scale = 100000;
    for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      micros += (text[i] - '0') * scale;
      scale /= 10;
    }
  }
  long offset = 0;  // seconds east of UTC
  if (i < text.size()) {
    if (text[i] == 'Z' && i + 1 == text.size()) {
      ++i;
    } else if ((text[i] == '+' || text[i] == '-') && text.size() == i + 6 && text[i + 3] == ':') {
      int hh = 0, mm = 0;
      if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &hh, &mm) != 2) return bad();
      offset = (text[i] == '+' ? 1 : -1) * (hh * 3600L + mm * 60L);
      i = text.size();
    } else {
      return bad();
    }
  }
  const std::time_t t = timegm(&tm) - offset;
  return std::chrono::system_clock::from_time_t(t) + std::chrono::microseconds(micros);
}

Result<ListQuery> parse_list_query(const Call& call, const ListRules& rules) {
  ListQuery q;
  if (auto l = call.query("limit")) {
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(l->c_str(), &end, 10);
    if (l->empty() || *end != '\0' || errno == ERANGE) {
      return bad_request("limit param must be an integer (got " + shown(*l) + ")");
    }
    if (n < 0) return bad_request("limit param must be positive");
    q.limit = n;
  }
  if (auto m = call.query("marker")) q.marker = *m;
  const auto keys = all_values(call.req, "sort_key");
  const auto dirs = all_values(call.req, "sort_dir");
  if (dirs.size() > 1 && dirs.size() != keys.size()) {
    return bad_request("The number of sort_dir values must be 1 or match the sort_key values.");
  }
  std::vector<bool> desc;
  for (const auto& d : dirs) {
    if (d != "asc" && d != "desc") {
      return bad_request("Invalid input for query parameter sort_dir. Value: " + shown(d) +
                         ". It is not one of asc, desc.");
    }
    desc.push_back(d == "desc");
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (std::find(rules.sort_keys.begin(), rules.sort_keys.end(), keys[i]) ==
        rules.sort_keys.end()) {
      std::string list;
      for (const auto& k : rules.sort_keys) list += (list.empty() ? "" : ", ") + k;
      return bad_request("Invalid input for query parameter sort_key. Value: " + shown(keys[i]) +
                         ". It is not one of " + list + ".");
    }
    const bool d = desc.empty()       ? rules.default_sort.front().desc
                   : desc.size() == 1 ? desc[0]
                                      : desc[i];
    q.sort.push_back({keys[i], d});
  }
  if (q.sort.empty()) {
    q.sort = rules.default_sort;
    if (desc.size() == 1) {
      for (auto& k : q.sort) k.desc = desc[0];
    }
  }
  if (auto since = call.query("changes-since")) {
    if (!rules.changes_since) {
      return bad_request("Invalid input for query parameter changes-since: not taken here.");
    }
    auto t = parse_iso8601(*since, "changes-since");
    if (!t.ok()) return t.error();
    q.changes_since = *t;
  }
  return q;
}

Result<std::shared_ptr<NameFilter>> NameFilter::compile(const std::string& pattern,
                                                        const std::string& param) {
  if (pattern.size() > 255) {
    return bad_request("Invalid input for query parameter " + param +
                       ": longer than 255 characters.");
  }
  std::shared_ptr<NameFilter> f(new NameFilter());
  if (regcomp(&f->re_, pattern.c_str(), REG_EXTENDED | REG_NOSUB) != 0) {
    return bad_request("Invalid input for query parameter " + param + ". Value: " + shown(pattern) +
                       ". It is not a valid regular expression.");
  }
  f->compiled_ = true;
  return f;
}

NameFilter::~NameFilter() {
  if (compiled_) regfree(&re_);
}

bool NameFilter::matches(const std::string& name) const {
  return regexec(&re_, name.c_str(), 0, nullptr, 0) == 0;
}

Result<json> list_page(std::vector<ListRow> rows, const ListQuery& q, const Call& call,
                       const std::string& base_url, const std::string& collection) {
  std::stable_sort(rows.begin(), rows.end(), [&](const ListRow& a, const ListRow& b) {
    for (const auto& k : q.sort) {
      const json& x = a.sort_values.at(k.key);
      const json& y = b.sort_values.at(k.key);
      if (x != y) return k.desc ? y < x : x < y;
    }
    const bool desc = !q.sort.empty() && q.sort.back().desc;
    return desc ? b.id < a.id : a.id < b.id;
  });
  size_t start = 0;
  if (q.marker) {
    auto it =
        std::find_if(rows.begin(), rows.end(), [&](const ListRow& r) { return r.id == *q.marker; });
    if (it == rows.end()) return bad_request("marker [" + shown(*q.marker) + "] not found");
    start = static_cast<size_t>(it - rows.begin()) + 1;
  }
  // limit=0 is an empty page (nova and glance alike), not "no limit".
  const int64_t limit = std::min(kMaxLimit, q.limit ? *q.limit : kMaxLimit);
  const size_t end = std::min(rows.size(), start + static_cast<size_t>(limit));
  json items = json::array();
  for (size_t i = start; i < end; ++i) items.push_back(std::move(rows[i].view));
  json out = {{collection, items}};
  if (end < rows.size() && end > start) {
    std::string query;
    for (const auto& [k, v] : call.req.params) {
      if (k == "marker" || k == "limit") continue;
      query += (query.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);
    }
    query += (query.empty() ? "" : "&") + fmt::format("limit={}", limit);
    query += "&marker=" + url_encode(rows[end - 1].id);
    out[collection + "_links"] =
        json::array({{{"rel", "next"}, {"href", base_url + call.req.path + "?" + query}}});
  }
  return out;
}

}  // namespace gpucloud::api
