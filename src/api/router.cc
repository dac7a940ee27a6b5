// The HTTP server: the route table of every service, wrapped with authentication, the policy
// check, body limits, microversions, metrics and the error mapping. No handler sees a request
// that failed those checks, and no exception leaves a handler as a stack trace.
#include <fmt/format.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <regex>
#include <thread>

#include "api/identity_impl.h"
#include "api/policy_impl.h"
#include "api/router_impl.h"

namespace gpucloud::api {

// health_routes.cc: /healthz and /readyz (public).
std::vector<Route> health_routes(ApiContext& ctx);

struct ApiServer::Impl {
  ApiContext ctx;
  std::unique_ptr<httplib::Server> http;
  std::thread thread;
  int port = 0;
  std::vector<Route> routes;
};

namespace {

// "/compute/v2.1/flavors/{flavor_id}" -> regex and the names of its groups.
std::pair<std::string, std::vector<std::string>> compile_pattern(const std::string& pattern) {
  std::string re;
  std::vector<std::string> names;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '{') {
      size_t end = pattern.find('}', i);
      names.push_back(pattern.substr(i + 1, end - i - 1));
      re += "([^/]+)";
      i = end;
    } else if (std::string_view(".+*?()[]^$|\\").find(c) != std::string_view::npos) {
      re += '\\';
      re += c;
    } else {
      re += c;
    }
  }
  return {re, names};
}

// Parses the requested compute microversion; nullopt when it is out of range or malformed.
std::optional<Microversion> requested_microversion(const httplib::Request& req) {
  std::string v = req.get_header_value("X-OpenStack-Nova-API-Version");
  const std::string generic = req.get_header_value("OpenStack-API-Version");
  if (!generic.empty() && generic.rfind("compute ", 0) == 0) v = generic.substr(8);
  if (v.empty()) return Microversion{2, kMinComputeMinor};
  if (v == "latest") return Microversion{2, kMaxComputeMinor};
  int major = 0, minor = 0;
  char dot = 0;
  if (std::sscanf(v.c_str(), "%d%c%d", &major, &dot, &minor) != 3 || dot != '.' || major != 2 ||
      minor < kMinComputeMinor || minor > kMaxComputeMinor) {
    return std::nullopt;
  }
  return Microversion{major, minor};
}

bool is_upload(const Route& r) { return static_cast<bool>(r.upload_handler); }

void send(const Reply& reply, httplib::Response& res) {
  res.status = reply.status;
  for (const auto& [k, v] : reply.headers) res.set_header(k, v);
  if (reply.streamed || reply.status == 204) return;
  if (reply.raw) {
    res.set_content(*reply.raw, reply.content_type);
  } else if (!reply.body.is_null()) {
    res.set_content(reply.body.dump(), reply.content_type);
  }
}

}  // namespace

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
conductor::Conductor* ApiServer::conductor() const { return impl_->ctx.deps.conductor; }
ApiServer::~ApiServer() { stop(); }

Result<std::unique_ptr<ApiServer>> ApiServer::create(ServerDeps deps, ServerOptions options) {
  if (sodium_init() < 0) return Error::internal("libsodium failed to initialise");
  if (!deps.store) return Error::internal("ApiServer needs a store");
  auto impl = std::make_unique<Impl>();
  impl->ctx.deps = std::move(deps);
  impl->ctx.options = options;
  const bool tls = !options.tls_cert_file.empty() && !options.tls_key_file.empty();
  if (tls) {
    auto ssl = std::make_unique<httplib::SSLServer>(options.tls_cert_file.c_str(),
                                                    options.tls_key_file.c_str());
    if (!ssl->is_valid()) {
      return Error::invalid("cannot use TLS certificate '" + options.tls_cert_file + "' / key '" +
                            options.tls_key_file + "': unreadable or not a matching pair");
    }
    impl->http = std::move(ssl);
  } else {
    impl->http = std::make_unique<httplib::Server>();
  }
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

Status ApiServer::start() {
  Impl& m = *impl_;
  httplib::Server& http = *m.http;
  const bool tls = !m.ctx.options.tls_cert_file.empty();
  m.port =
      m.ctx.options.port == 0
          ? http.bind_to_any_port(m.ctx.options.listen_host)
          : (http.bind_to_port(m.ctx.options.listen_host, m.ctx.options.port) ? m.ctx.options.port
                                                                              : -1);
  if (m.port <= 0) {
    return Error::unavailable(
        fmt::format("cannot listen on {}:{}", m.ctx.options.listen_host, m.ctx.options.port));
  }
  m.ctx.base_url =
      !m.ctx.options.public_url.empty()
          ? m.ctx.options.public_url
          : fmt::format("{}://{}:{}", tls ? "https" : "http", m.ctx.options.listen_host, m.port);

  if (auto s = start_conductor(m.ctx); !s.ok()) return s;
  for (auto& r : identity_token_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_admin_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : image_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : controller_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : portal_session_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : agent_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : health_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto* table : {compute_misc_routes, compute_flavor_routes, compute_aggregate_routes,
                      compute_host_routes, compute_server_routes, compute_gpu_routes}) {
    for (auto& r : table(m.ctx)) m.routes.push_back(std::move(r));
  }
  m.routes.push_back({"GET",
                      "/metrics",
                      Service::kPlain,
                      "metrics:read",
                      [&ctx = m.ctx](Call&) -> Result<Reply> {
                        Reply r;
                        r.raw = ctx.metrics.render();
                        r.content_type = "text/plain; version=0.0.4";
                        return r;
                      },
                      {}});

  const int threads = m.ctx.options.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };

  // Bodies: JSON requests are small; only upload routes stream large bodies.
  http.set_payload_max_length(size_t{1} << 40);
  const size_t max_json = m.ctx.options.max_json_body;
  std::vector<std::regex> upload_paths;
  for (const auto& r : m.routes) {
    if (is_upload(r)) upload_paths.emplace_back(compile_pattern(r.pattern).first);
  }
  http.set_pre_routing_handler(
      [max_json, upload_paths](const httplib::Request& req, httplib::Response& res) {
        if (!req.has_header("Content-Length")) return httplib::Server::HandlerResponse::Unhandled;
        const size_t length =
            std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
        if (length <= max_json) return httplib::Server::HandlerResponse::Unhandled;
        for (const auto& re : upload_paths) {
          if (std::regex_match(req.path, re)) return httplib::Server::HandlerResponse::Unhandled;
        }
        const Service service = req.path.rfind("/compute", 0) == 0    ? Service::kCompute
                                : req.path.rfind("/image", 0) == 0    ? Service::kImage
                                : req.path.rfind("/identity", 0) == 0 ? Service::kIdentity
                                                                      : Service::kPlain;
        write_error(service,
                    {ErrorCode::kPayloadTooLarge,
                     fmt::format("Request body is larger than the limit of {} bytes.", max_json)},
                    res);
        return httplib::Server::HandlerResponse::Handled;
      });

  for (const Route& route : m.routes) {
    auto [regex, names] = compile_pattern(route.pattern);
    const PolicyRule* rule = find_rule(route.policy);
    if (!rule)
      return Error::internal("route " + route.pattern + " names unknown policy " + route.policy);
    ApiContext* ctx = &m.ctx;
    // Everything a request goes through before and after its handler.
    auto run = [ctx, &route, names, rule](const httplib::Request& req, httplib::Response& res,
                                          const httplib::ContentReader* reader) {
      const auto started = std::chrono::steady_clock::now();
      Call call{req, res, {}, std::nullopt, {}};
      for (size_t i = 0; i < names.size() && i + 1 < req.matches.size(); ++i) {
        call.params[names[i]] = req.matches[i + 1];
      }
      Result<Reply> reply = Error::internal("no reply");
      try {
        reply = [&]() -> Result<Reply> {
          if (rule->scope != Scope::kPublic) {
            auto caller = validate_token(ctx->store(), request_token(req));
            if (!caller.ok()) return caller.error();
            call.caller = *caller;
            if (auto s = authorize(*call.caller, *rule); !s.ok()) return s.error();
          }
          if (route.service == Service::kCompute) {
            auto mv = requested_microversion(req);
            if (!mv) {
              Reply r = Reply::ok(
                  {{"computeFault",
                    {{"code", 406},
                     {"message", fmt::format("Version {} is not supported by the API. Minimum is "
                                             "2.{} and maximum is 2.{}.",
                                             req.get_header_value("X-OpenStack-Nova-API-Version"),
                                             kMinComputeMinor, kMaxComputeMinor)}}}},
                  406);
              return r;
            }
            call.microversion = *mv;
            const std::string v = fmt::format("{}.{}", mv->major, mv->minor);
            res.set_header("X-OpenStack-Nova-API-Version", v);
            res.set_header("OpenStack-API-Version", "compute " + v);
            res.set_header("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version");
          }
          if (reader) return route.upload_handler(call, *reader);
          return route.handler(call);
        }();
      } catch (const std::exception& e) {
        spdlog::error("{} {}: unexpected exception: {}", req.method, route.pattern, e.what());
        reply = Error::internal(e.what());
      }
      if (reply.ok()) {
        send(*reply, res);
      } else {
        // A 5xx's detail (database URL, SQL) goes to the log only; the client gets a generic
        // message with the request id that finds the log line.
        std::string request_id;
        if (http_status(reply.error()) >= 500) {
          request_id = res.get_header_value("x-openstack-request-id");
          if (request_id.empty()) {
            request_id = "req-" + new_uuid();
            res.set_header("x-openstack-request-id", request_id);
          }
          spdlog::error("{} {} [{}]: {}", req.method, route.pattern, request_id,
                        reply.error().message);
        }
        write_error(route.service, reply.error(), res, request_id);
      }
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      ctx->metrics.observe_request(req.method, route.pattern, res.status, secs);
    };
    const std::string& method = route.method;
    if (is_upload(route)) {
      auto h = [run](const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader) { run(req, res, &reader); };
      if (method == "PUT")
        http.Put(regex, h);
      else
        http.Post(regex, h);
      continue;
    }
    auto h = [run](const httplib::Request& req, httplib::Response& res) { run(req, res, nullptr); };
    if (method == "GET")
      http.Get(regex, h);
    else if (method == "POST")
      http.Post(regex, h);
    else if (method == "PUT")
      http.Put(regex, h);
    else if (method == "PATCH")
      http.Patch(regex, h);
    else if (method == "DELETE")
      http.Delete(regex, h);
    else if (method == "HEAD") {
      // httplib answers HEAD with the GET handler; a HEAD route of its own replaces nothing.
      continue;
    }
  }
  serve_portal_files(http, m.ctx);
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status != 404 || !res.body.empty()) return;
    const Service service = req.path.rfind("/compute", 0) == 0 ? Service::kCompute
                            : req.path.rfind("/image", 0) == 0 ? Service::kImage
                                                               : Service::kIdentity;
    write_error(service, Error::not_found("The resource could not be found."), res);
  });
  m.thread = std::thread([&http] { http.listen_after_bind(); });
  return {};
}

void ApiServer::stop() {
  if (!impl_ || !impl_->http) return;
  impl_->http->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  auto hooks = std::move(impl_->ctx.stop_hooks);
  impl_->ctx.stop_hooks.clear();
  for (auto& hook : hooks) hook();
}

int ApiServer::port() const { return impl_->port; }
std::vector<RouteInfo> ApiServer::routes() const {
  std::vector<RouteInfo> out;
  for (const auto& r : impl_->routes) {
    if (r.method != "HEAD") out.push_back({r.method, r.pattern, r.policy});  // HEAD: GET's handler
  }
  return out;
}
std::string ApiServer::base_url() const { return impl_->ctx.base_url; }
void ApiServer::set_nova_config(std::shared_ptr<const config::NovaConfig> config) {
  std::atomic_store(&impl_->ctx.deps.nova_config, std::move(config));
}

}  // namespace gpucloud::api
