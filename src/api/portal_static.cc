// The portal's static files (web/) under /portal/, and / redirecting there. Only page assets are
// served: names are checked segment by segment (no "..", no hidden files, no node_modules, known
// extensions only), so neither the test tooling in web/ nor anything outside it can be fetched.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/router_impl.h"

namespace gpucloud::api {
namespace {

namespace fs = std::filesystem;

const char* content_type_for(const std::string& ext) {
  static const std::map<std::string, const char*> types = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
  };
  auto it = types.find(ext);
  return it == types.end() ? nullptr : it->second;
}

// A relative path under the web root that may be served, or nullopt.
std::optional<fs::path> safe_relative(const std::string& rel) {
  if (rel.empty() || rel.size() > 200) return std::nullopt;
  fs::path out;
  size_t pos = 0;
  while (pos <= rel.size()) {
    size_t end = rel.find('/', pos);
    if (end == std::string::npos) end = rel.size();
    const std::string seg = rel.substr(pos, end - pos);
    if (seg.empty() || seg.front() == '.' || seg == "node_modules" || seg == "package.json" ||
        seg == "package-lock.json") {
      return std::nullopt;
    }
    for (char c : seg) {
      const bool ok =
          std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      if (!ok) return std::nullopt;
    }
    out /= seg;
    pos = end + 1;
  }
  return out;
}

void security_headers(Reply& r, StaticPage page) {
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  if (page == StaticPage::kConsole) {
    // spice_auto.html is one inline module script; the console draws into blob: and data: images
    // and talks to this server only (ws: / wss: to the same host).
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                           "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                           "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'");
    return;
  }
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                         "base-uri 'none'; form-action 'self'");
}

Reply text(int status, std::string body) {
  Reply r;
  r.status = status;
  r.raw = std::move(body);
  r.content_type = "text/plain; charset=utf-8";
  return r;
}

Reply serve_file(const fs::path& root, const std::string& rel, const HttpRequest& req,
                 StaticPage page) {
  auto safe = safe_relative(rel);
  const char* type = safe ? content_type_for(safe->extension().string()) : nullptr;
  if (!type) return text(404, "Not found\n");
  const fs::path file = root / *safe;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return text(404, "Not found\n");
  const auto size = fs::file_size(file, ec);
  const auto mtime = fs::last_write_time(file, ec).time_since_epoch().count();
  // Revalidate every time (the files change with the binary), but cheaply: a 304 on a match.
  const std::string etag = fmt::format("\"{:x}-{:x}\"", size, mtime);
  Reply r;
  security_headers(r, page);
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("ETag", etag);
  if (req.header("If-None-Match") == etag) {
    r.status = 304;
    return r;
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream data;
  data << in.rdbuf();
  if (!in && !in.eof()) return text(404, "Not found\n");
  r.status = 200;
  r.raw = data.str();
  r.content_type = type;
  return r;
}

}  // namespace

std::vector<Route> portal_file_routes(ApiContext& ctx) {
  if (ctx.options.web_root.empty()) return {};
  const fs::path root = fs::absolute(ctx.options.web_root).lexically_normal();
  auto redirect = [](Call&) -> Result<Reply> {
    Reply r = text(302, "See /portal/\n");
    r.headers.emplace_back("Location", "/portal/");
    return r;
  };
  auto file = [root](Call& call) -> Result<Reply> {
    const std::string& rel = call.param("file");
    return serve_file(root, rel.empty() ? "index.html" : rel, call.req, StaticPage::kPortal);
  };
  return {{"GET", "/", Service::kPlain, "public", redirect, {}},
          {"GET", "/portal", Service::kPlain, "public", redirect, {}},
          {"GET", "/portal/{file*}", Service::kPlain, "public", file, {}}};
}

Result<Reply> static_file(const std::string& root, const std::string& rel, const HttpRequest& req,
                          StaticPage page) {
  return serve_file(fs::path(root), rel, req, page);
}

std::string default_web_root() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const fs::path dir = exe.parent_path();
  // Installed (prefix/bin -> prefix/share/gpucloud/web) or run from a build directory inside
  // the source tree (build/gpucloud -> web/).
  for (const fs::path& candidate : {dir / "../share/gpucloud/web", dir / "web", dir / "../web",
                                    dir / "../../web", dir / "../../../web"}) {
    if (fs::is_regular_file(candidate / "index.html", ec)) {
      return fs::weakly_canonical(candidate, ec).string();
    }
  }
  return "";
}

}  // namespace gpucloud::api
