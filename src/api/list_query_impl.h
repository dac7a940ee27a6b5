// Internal to api/: nova's list parameters, shared by GET /servers, /flavors and /os-aggregates
// (nova/api/openstack/common.py: get_limit_and_marker, get_sort_params; the servers' query
// schema): `limit` and `marker` page, `sort_key` / `sort_dir` order, `changes-since` picks rows
// changed since a time, `name` is a regular expression. Every bad value is a 400 naming the
// parameter, never silently ignored. Handlers filter their rows; page() orders, pages and adds the
// `next` link.
#pragma once

#include <regex.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/router_impl.h"

namespace gpucloud::api {

struct ListSortKey {
  std::string key;
  bool desc = false;
};

struct ListRules {
  std::vector<std::string> sort_keys;     // what sort_key may name
  std::vector<ListSortKey> default_sort;  // without sort_key
  bool changes_since = false;             // the collection takes changes-since
};

struct ListQuery {
  std::optional<int64_t> limit;  // nova's osapi_max_limit (1000) applies either way
  std::optional<std::string> marker;
  std::vector<ListSortKey> sort;
  std::optional<store::TimePoint> changes_since;
};

Result<ListQuery> parse_list_query(const Call& call, const ListRules& rules);

// ISO 8601 as nova's date-time format takes it: 2026-12-02T07:00:00[.ffffff][Z|+hh:mm].
Result<store::TimePoint> parse_iso8601(const std::string& text, const std::string& field);

// `name` as nova filters it: a regular expression searched in the name (POSIX extended, which
// runs in time linear in the name: a client's pattern cannot stall a thread).
class NameFilter {
 public:
  // `param`: the query parameter the pattern came from, for the 400.
  static Result<std::shared_ptr<NameFilter>> compile(const std::string& pattern,
                                                     const std::string& param = "name");
  ~NameFilter();
  bool matches(const std::string& name) const;

 private:
  NameFilter() = default;
  regex_t re_{};
  bool compiled_ = false;
};

// One row of a list: its id (markers name it), the values its sort keys read, and its JSON.
struct ListRow {
  std::string id;
  std::map<std::string, json> sort_values;
  json view;
};

// Orders `rows` by the query's sort keys (ties by id), starts after the marker (400 when no row
// has that id), keeps `limit` rows and, when more remain, adds "<collection>_links" with a `next`
// link that repeats the request's other parameters. Returns {collection: [...], links...}.
Result<json> list_page(std::vector<ListRow> rows, const ListQuery& q, const Call& call,
                       const std::string& base_url, const std::string& collection);

}  // namespace gpucloud::api
