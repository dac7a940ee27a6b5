// GET /servers and /servers/detail as nova lists them: the caller's project (admins: all_tenants),
// filters status, name (a regular expression), flavor, image, host (admins) and changes-since
// (which shows deleted servers too), then nova's sort_key / sort_dir, limit / marker and the next
// link (list_query.cc).
#include <algorithm>
#include <cctype>
#include <set>

#include "api/agent_guests_impl.h"
#include "api/compute_impl.h"
#include "api/list_query_impl.h"

namespace gpucloud::api {
namespace {

bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// nova's servers sort keys that gpucloud's instances hold.
const ListRules kServerRules = {
    {"created_at", "updated_at", "launched_at", "display_name", "uuid", "host", "vm_state",
     "task_state", "power_state", "availability_zone", "key_name", "project_id", "user_id",
     "image_ref", "instance_type_id", "launch_index"},
    {{"created_at", true}},
    true};

int64_t micros(store::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// imageRef may be a URL whose last segment is the id (nova strips it the same way).
std::string last_segment(const std::string& ref) {
  const size_t slash = ref.find_last_of('/');
  return slash == std::string::npos ? ref : ref.substr(slash + 1);
}

bool is_true(const std::optional<std::string>& v) {
  return v && *v != "0" && *v != "false" && *v != "False" && *v != "no";
}

std::map<std::string, json> sort_values(const store::Instance& i) {
  return {{"created_at", micros(i.created_at)},
          {"updated_at", micros(i.updated_at)},
          {"launched_at", i.launched_at ? json(micros(*i.launched_at)) : json(nullptr)},
          {"display_name", i.name},
          {"uuid", i.uuid},
          {"host", i.host ? json(*i.host) : json(nullptr)},
          {"vm_state", i.vm_state},
          {"task_state", i.task_state ? json(*i.task_state) : json(nullptr)},
          {"power_state", static_cast<int>(i.power_state)},
          {"availability_zone", i.availability_zone},
          {"key_name", i.key_name},
          {"project_id", i.project_id},
          {"user_id", i.user_id},
          {"image_ref", i.image_id},
          {"instance_type_id", i.flavor_id},
          {"launch_index", i.launch_index}};
}

bool known_status(const std::string& s) {
  static const char* kStatuses[] = {
      "ACTIVE",    "BUILD",        "DELETED",       "ERROR",   "HARD_REBOOT",
      "MIGRATING", "PASSWORD",     "PAUSED",        "REBOOT",  "REBUILD",
      "RESCUE",    "RESIZE",       "REVERT_RESIZE", "SHELVED", "SHELVED_OFFLOADED",
      "SHUTOFF",   "SOFT_DELETED", "SUSPENDED",     "UNKNOWN", "VERIFY_RESIZE"};
  for (const char* k : kStatuses) {
    if (iequals(s, k)) return true;
  }
  return false;
}

bool sys_has(const store::Instance& i, const char* key) { return i.system_metadata.count(key) > 0; }

std::vector<std::string> split_tags(const std::optional<std::string>& v) {
  std::vector<std::string> out;
  if (!v) return out;
  size_t start = 0;
  while (start <= v->size()) {
    const size_t comma = v->find(',', start);
    const std::string t =
        v->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!t.empty()) out.push_back(t);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

struct TagFilters {
  std::vector<std::string> all, any, not_all, not_any;
};

bool tags_match(const store::Instance& i, const TagFilters& f) {
  if (f.all.empty() && f.any.empty() && f.not_all.empty() && f.not_any.empty()) return true;
  std::set<std::string> have;
  for (const auto& t : server_tags(i)) have.insert(t.get<std::string>());
  const auto has = [&](const std::string& t) { return have.count(t) > 0; };
  if (!std::all_of(f.all.begin(), f.all.end(), has)) return false;
  if (!f.any.empty() && !std::any_of(f.any.begin(), f.any.end(), has)) return false;
  if (!f.not_all.empty() && std::all_of(f.not_all.begin(), f.not_all.end(), has)) return false;
  if (std::any_of(f.not_any.begin(), f.not_any.end(), has)) return false;
  return true;
}

}  // namespace

Result<Reply> list_servers(ApiContext& ctx, Call& call, bool detail) {
  auto q = parse_list_query(call, kServerRules);
  if (!q.ok()) return q.error();
  std::shared_ptr<NameFilter> name;
  if (auto n = call.query("name")) {
    auto f = NameFilter::compile(*n);
    if (!f.ok()) return f.error();
    name = *f;
  }
  const Caller& who = call.who();
  std::string project = who.project_id;
  if (who.is_admin() && is_true(call.query("all_tenants"))) {
    project = "";
    if (auto p = call.query("project_id")) project = *p;
    if (auto p = call.query("tenant_id")) project = *p;
  }
  const auto status = call.query("status");
  // 2.38: a status nova does not know is a 400 (before, the list was empty).
  if (status && call.microversion.at_least(2, 38) && !known_status(*status)) {
    return bad_request("Invalid status value");
  }
  // 2.73: locked=true|false.
  std::optional<bool> locked;
  if (auto l = call.query("locked"); l && call.microversion.at_least(2, 73)) {
    if (*l != "true" && *l != "false" && *l != "True" && *l != "False" && *l != "1" && *l != "0") {
      return bad_request("Unrecognized value '" + *l + "', acceptable values are: true, false");
    }
    locked = *l == "true" || *l == "True" || *l == "1";
  }
  // 2.26: tags (all of), tags-any, not-tags (not all of), not-tags-any, comma-separated.
  TagFilters tag_filters;
  if (call.microversion.at_least(2, 26)) {
    tag_filters.all = split_tags(call.query("tags"));
    tag_filters.any = split_tags(call.query("tags-any"));
    tag_filters.not_all = split_tags(call.query("not-tags"));
    tag_filters.not_any = split_tags(call.query("not-tags-any"));
  }
  ServerViews views(ctx, call);
  const auto host = call.query("host");
  const auto flavor = call.query("flavor");
  const auto image = call.query("image");
  const auto reservation = call.query("reservation_id");  // one multi-create request's servers
  // ip / ip6: nova's regular expressions, matched from the start of each of the server's
  // addresses of that IP version (gpucloud's guests have IPv4 addresses only).
  // With ip6 alone no IPv4 address can match.
  std::shared_ptr<NameFilter> ip_filter;
  const bool ip6_only = call.query("ip6").has_value() && !call.query("ip").has_value();
  if (auto ip = call.query("ip")) {
    auto f = NameFilter::compile("^(" + *ip + ")", "ip");
    if (!f.ok()) return f.error();
    ip_filter = *f;
  }
  // nova: changes-since also lists servers deleted since then.
  auto list = ctx.store().list_instances(project, q->changes_since.has_value());
  if (!list.ok()) return list.error();
  // One read for every server's reported address, and one for their security groups.
  const auto reported =
      detail || ip_filter ? reported_addresses(ctx) : std::map<std::string, ReportedAddress>{};
  if (detail) views.prefetch_security_groups(project);
  std::vector<ListRow> rows;
  for (const auto& i : *list) {
    const bool deleted = i.status == store::ServerStatus::kDeleted;
    if (deleted && !q->changes_since) continue;
    if (q->changes_since && i.updated_at < *q->changes_since) continue;
    if (status && !iequals(*status, to_string(i.status))) continue;  // nova: any case
    if (name && !name->matches(i.name)) continue;
    if (host && who.is_admin() && (!i.host || *i.host != *host)) continue;
    if (flavor && last_segment(*flavor) != i.flavor_id) continue;
    if (image && last_segment(*image) != i.image_id) continue;
    if (reservation && i.reservation_id != *reservation) continue;
    if (locked && sys_has(i, "locked_by") != *locked) continue;
    if (!tags_match(i, tag_filters)) continue;
    const auto a = reported.find(i.uuid);
    if (ip6_only) continue;
    if (ip_filter) {
      const std::string address = a != reported.end() && !a->second.ip_address.empty()
                                      ? a->second.ip_address
                                      : i.ip_address;
      if (address.empty() || !ip_filter->matches(address)) continue;
    }
    rows.push_back({i.uuid, sort_values(i),
                    views.show(i, detail ? ServerView::kList : ServerView::kBrief,
                               a == reported.end() ? nullptr : &a->second)});
  }
  auto page = list_page(std::move(rows), *q, call, ctx.base_url, "servers");
  if (!page.ok()) return page.error();
  return Reply::ok(*page);
}

}  // namespace gpucloud::api
