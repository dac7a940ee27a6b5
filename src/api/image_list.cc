// GET /v2/images: glance's filters (name, visibility, status, owner, member_status, tag, size_min,
// size_max, os_hidden, protected, formats, custom properties, "in:" lists) and its pagination
// (limit, marker, sort_key/sort_dir or sort=key:dir, and a `next` link relative to the endpoint).
#include <algorithm>
#include <map>
#include <set>

#include "api/image_impl.h"

namespace gpucloud::api::image {
namespace {

// The core attributes a plain `key=value` filter compares (glance: size, checksum, min_ram, ...).
std::optional<std::string> core_value(const store::Image& img, const std::string& key) {
  auto number = [](const std::optional<int64_t>& n) { return n ? std::to_string(*n) : "None"; };
  if (key == "size") return number(img.size);
  if (key == "virtual_size") return number(img.virtual_size);
  if (key == "checksum") return img.checksum;
  if (key == "min_ram") return std::to_string(img.min_ram);
  if (key == "min_disk") return std::to_string(img.min_disk);
  if (key == "os_hash_value") return img.os_hash_value;
  return std::nullopt;
}

constexpr int64_t kDefaultLimit = 25;  // glance's limit_param_default
constexpr int64_t kMaxLimit = 1000;    // glance's api_limit_max

const std::vector<std::string> kSortKeys = {
    "name",       "status",     "container_format", "disk_format", "size",     "id",
    "created_at", "updated_at", "visibility",       "owner",       "min_disk", "min_ram"};
const std::set<std::string> kControl = {"limit", "marker", "sort_key", "sort_dir", "sort"};
const std::set<std::string> kFilters = {
    "name",     "visibility", "status",    "owner",       "member_status",    "tag", "size_min",
    "size_max", "os_hidden",  "protected", "disk_format", "container_format", "id"};

struct SortKey {
  std::string key;
  bool desc = true;
};

// Compares two images on one sort key: -1, 0, 1. Unset values sort first, as NULLs in SQL.
int compare(const store::Image& a, const store::Image& b, const std::string& key) {
  auto cmp = [](const auto& x, const auto& y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (key == "name") return cmp(a.name, b.name);
  if (key == "status")
    return cmp(std::string(store::to_string(a.status)), store::to_string(b.status));
  if (key == "container_format") return cmp(a.container_format, b.container_format);
  if (key == "disk_format") return cmp(a.disk_format, b.disk_format);
  if (key == "size") return cmp(a.size.value_or(-1), b.size.value_or(-1));
  if (key == "created_at") return cmp(a.created_at, b.created_at);
  if (key == "updated_at") return cmp(a.updated_at, b.updated_at);
  if (key == "visibility") {
    return cmp(std::string(store::to_string(a.visibility)), store::to_string(b.visibility));
  }
  if (key == "owner") return cmp(a.owner, b.owner);
  if (key == "min_disk") return cmp(a.min_disk, b.min_disk);
  if (key == "min_ram") return cmp(a.min_ram, b.min_ram);
  return cmp(a.id, b.id);
}

std::string percent_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':' || c == ',') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::vector<std::string> params(const HttpRequest& req, const std::string& name) {
  std::vector<std::string> out;
  auto range = req.params.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

// "in:a,b" matches any of a, b; anything else matches itself.
bool matches(const std::string& filter, const std::string& value) {
  if (filter.rfind("in:", 0) != 0) return filter == value;
  std::string rest = filter.substr(3);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find(',', start);
    if (end == std::string::npos) end = rest.size();
    if (rest.substr(start, end - start) == value) return true;
    start = end + 1;
  }
  return false;
}

Result<int64_t> integer_param(const std::string& name, const std::string& text) {
  try {
    size_t used = 0;
    const long long n = std::stoll(text, &used);
    if (used == text.size() && n >= 0) return static_cast<int64_t>(n);
  } catch (const std::exception&) {
  }
  return bad_request("Invalid value for '" + name + "': '" + text +
                     "' is not a non-negative integer.");
}

Result<bool> bool_param(const std::string& name, const std::string& text) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), ::tolower);
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  return bad_request("Invalid value for '" + name + "': '" + text + "' is not a boolean.");
}

Result<std::vector<SortKey>> sort_keys(const Call& call) {
  std::vector<SortKey> keys;
  auto check_key = [](const std::string& k) -> Status {
    if (std::find(kSortKeys.begin(), kSortKeys.end(), k) != kSortKeys.end()) return {};
    std::string list;
    for (const auto& s : kSortKeys) list += (list.empty() ? "" : ", ") + s;
    return bad_request("Invalid sort key: " + k + ". It must be one of the following: " + list +
                       ".");
  };
  auto check_dir = [](const std::string& d) -> Result<bool> {
    if (d == "asc") return false;
    if (d == "desc") return true;
    return bad_request("Invalid sort direction: " + d + ". It must be one of: asc, desc.");
  };
  const auto names = params(call.req, "sort_key");
  const auto dirs = params(call.req, "sort_dir");
  if (auto sort = call.query("sort")) {
    if (!names.empty() || !dirs.empty()) {
      return bad_request("The 'sort' parameter cannot be combined with sort_key or sort_dir.");
    }
    size_t start = 0;
    while (start <= sort->size()) {
      size_t end = sort->find(',', start);
      if (end == std::string::npos) end = sort->size();
      std::string item = sort->substr(start, end - start);
      SortKey k{item, true};
      if (auto colon = item.find(':'); colon != std::string::npos) {
        k.key = item.substr(0, colon);
        auto desc = check_dir(item.substr(colon + 1));
        if (!desc.ok()) return desc.error();
        k.desc = *desc;
      }
      if (auto s = check_key(k.key); !s.ok()) return s.error();
      keys.push_back(k);
      start = end + 1;
    }
  } else {
    if (dirs.size() > 1 && dirs.size() != names.size()) {
      return bad_request("The number of sort_dir values must be 1 or match the sort_key values.");
    }
    for (size_t i = 0; i < names.size(); ++i) {
      if (auto s = check_key(names[i]); !s.ok()) return s.error();
      bool desc = true;
      if (!dirs.empty()) {
        auto d = check_dir(dirs.size() == 1 ? dirs[0] : dirs[i]);
        if (!d.ok()) return d.error();
        desc = *d;
      }
      keys.push_back({names[i], desc});
    }
    if (names.empty()) {
      bool desc = true;
      if (!dirs.empty()) {
        auto d = check_dir(dirs[0]);
        if (!d.ok()) return d.error();
        desc = *d;
      }
      keys.push_back({"created_at", desc});
    }
  }
  // Ties are broken by created_at and id so that markers always give a total order.
  const bool last_desc = keys.back().desc;
  for (const char* tie : {"created_at", "id"}) {
    if (std::none_of(keys.begin(), keys.end(), [&](const SortKey& k) { return k.key == tie; })) {
      keys.push_back({tie, last_desc});
    }
  }
  return keys;
}

Result<Reply> list(ApiContext& ctx, Call& call) {
  const Caller& caller = call.who();
  int64_t limit = kDefaultLimit;
  if (auto l = call.query("limit")) {
    auto n = integer_param("limit", *l);
    if (!n.ok()) return n.error();
    limit = std::min(*n, kMaxLimit);
  }
  auto keys = sort_keys(call);
  if (!keys.ok()) return keys.error();

  // Validate the enumerated filters before reading anything.
  auto visibility = call.query("visibility");
  if (visibility && *visibility != "all" && !store::parse_image_visibility(*visibility).ok()) {
    return bad_request("Invalid value for 'visibility': '" + *visibility +
                       "' is not one of public, private, shared, community, all.");
  }
  // Shared images of other projects are listed when the caller's project is a member whose
  // answer is member_status (glance's default: accepted; `all`: any answer).
  std::optional<store::ImageMemberStatus> member_status = store::ImageMemberStatus::kAccepted;
  if (auto ms = call.query("member_status")) {
    auto parsed = store::parse_image_member_status(*ms);
    if (*ms == "all") {
      member_status.reset();
    } else if (parsed.ok()) {
      member_status = *parsed;
    } else {
      return bad_request("Invalid value for 'member_status': '" + *ms +
                         "' is not one of accepted, pending, rejected, all.");
    }
  }
  std::optional<int64_t> size_min, size_max;
  for (auto [name, slot] : {std::pair{"size_min", &size_min}, std::pair{"size_max", &size_max}}) {
    if (auto v = call.query(name)) {
      auto n = integer_param(name, *v);
      if (!n.ok()) return n.error();
      *slot = *n;
    }
  }
  bool hidden = false;
  if (auto h = call.query("os_hidden")) {
    auto b = bool_param("os_hidden", *h);
    if (!b.ok()) return b.error();
    hidden = *b;
  }
  std::optional<bool> is_protected;
  if (auto p = call.query("protected")) {
    auto b = bool_param("protected", *p);
    if (!b.ok()) return b.error();
    is_protected = *b;
  }
  const auto tags = params(call.req, "tag");
  std::map<std::string, std::string> property_filters;
  for (const auto& [k, v] : call.req.params) {
    if (!kControl.count(k) && !kFilters.count(k)) property_filters[k] = v;
  }

  auto all = ctx.store().list_images();
  if (!all.ok()) return all.error();
  auto mine = memberships_of(ctx, caller);
  if (!mine.ok()) return mine.error();
  auto listed = [&](const store::Image& img) { return can_see(caller, img, *mine, member_status); };

  auto less = [&](const store::Image& a, const store::Image& b) {
    for (const auto& k : *keys) {
      const int c = compare(a, b, k.key);
      if (c != 0) return k.desc ? c > 0 : c < 0;
    }
    return false;
  };
  std::optional<store::Image> marker;
  if (auto m = call.query("marker")) {
    for (const auto& img : *all) {
      if (img.id == *m && listed(img)) marker = img;
    }
    if (!marker) return bad_request("Invalid marker. Image " + *m + " could not be found.");
  }

  std::vector<store::Image> out;
  for (const auto& img : *all) {
    if (!listed(img)) continue;
    const std::string vis = store::to_string(img.visibility);
    if (visibility) {
      if (*visibility != "all" && vis != *visibility) continue;
    } else if (img.visibility == store::ImageVisibility::kCommunity &&
               img.owner != caller.project_id) {
      continue;  // community images appear only when asked for, as in glance
    }
    if (img.os_hidden != hidden && call.query("os_hidden")) continue;
    if (img.os_hidden && !call.query("os_hidden")) continue;
    if (is_protected && img.is_protected != *is_protected) continue;
    if (auto f = call.query("name"); f && !matches(*f, img.name)) continue;
    if (auto f = call.query("id"); f && !matches(*f, img.id)) continue;
    if (auto f = call.query("status"); f && !matches(*f, store::to_string(img.status))) continue;
    if (auto f = call.query("owner"); f && *f != img.owner) continue;
    if (auto f = call.query("disk_format"); f && !matches(*f, img.disk_format)) continue;
    if (auto f = call.query("container_format"); f && !matches(*f, img.container_format)) continue;
    if (size_min && (!img.size || *img.size < *size_min)) continue;
    if (size_max && (!img.size || *img.size > *size_max)) continue;
    if (!std::all_of(tags.begin(), tags.end(), [&](const std::string& t) {
          return std::find(img.tags.begin(), img.tags.end(), t) != img.tags.end();
        })) {
      continue;
    }
    if (!std::all_of(property_filters.begin(), property_filters.end(), [&](const auto& kv) {
          // Core attributes kept outside the properties filter by their value, as glance's.
          if (auto core = core_value(img, kv.first)) return *core == kv.second;
          auto it = img.properties.find(kv.first);
          return it != img.properties.end() && it->second == kv.second;
        })) {
      continue;
    }
    if (marker && !less(*marker, img)) continue;
    out.push_back(img);
  }
  std::sort(out.begin(), out.end(), less);

  json images = json::array();
  for (size_t i = 0; i < out.size() && static_cast<int64_t>(i) < limit; ++i) {
    images.push_back(image_view(out[i]));
  }
  json body = {{"images", images}, {"first", "/v2/images"}, {"schema", "/v2/schemas/images"}};
  if (static_cast<int64_t>(out.size()) > limit && limit > 0) {
    std::string query;
    for (const auto& [k, v] : call.req.params) {
      if (k == "marker") continue;
      query += (query.empty() ? "" : "&") + percent_encode(k) + "=" + percent_encode(v);
    }
    query += (query.empty() ? "" : "&") + std::string("marker=") + out[limit - 1].id;
    body["next"] = "/v2/images?" + query;
  }
  return Reply::ok(body);
}

}  // namespace

std::vector<Route> list_routes(ApiContext& ctx) {
  return {{"GET",
           "/image/v2/images",
           Service::kImage,
           "image:read",
           [&ctx](Call& call) { return list(ctx, call); },
           {}}};
}

}  // namespace gpucloud::api::image
