// The API server: the route table of every service, wrapped with authentication, the policy
// check, body limits, microversions, metrics and the error mapping, served by the event-driven
// HTTP server (http_server.h). No handler sees a request that failed those checks, and no
// exception leaves a handler as a stack trace. Handlers run on bounded worker pools, never on the
// HTTP I/O threads; a long poll is parked (long_poll.h) instead of holding a worker.
#include <fmt/format.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "api/http_server.h"
#include "api/identity_impl.h"
#include "api/long_poll.h"
#include "api/policy_impl.h"
#include "api/router_impl.h"
#include "api/worker_pool.h"
#include "compute/compute.h"
#include "core/host_task_notifier.h"

namespace gpucloud::api {

// health_routes.cc: /healthz and /readyz (public).
std::vector<Route> health_routes(ApiContext& ctx);

namespace {

// A route's pattern split into segments; "{name}" takes one segment, a last "{name*}" the rest.
struct CompiledRoute {
  const Route* route = nullptr;
  const PolicyRule* rule = nullptr;
  std::vector<std::string> segments;
  bool rest = false;   // the last segment is {name*}
  bool agent = false;  // runs on the agents' worker pool
};

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 1;  // paths start with '/'
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool match(const CompiledRoute& c, std::string_view path,
           std::map<std::string, std::string>* params) {
  if (path.empty() || path.front() != '/') return false;
  const auto parts = split_path(path);
  const size_t fixed = c.rest ? c.segments.size() - 1 : c.segments.size();
  if (c.rest ? parts.size() < fixed : parts.size() != fixed) return false;
  for (size_t i = 0; i < fixed; ++i) {
    const std::string& seg = c.segments[i];
    if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
      if (parts[i].empty()) return false;
      if (params) (*params)[seg.substr(1, seg.size() - 2)] = std::string(parts[i]);
    } else if (seg != parts[i]) {
      return false;
    }
  }
  if (c.rest && params) {
    const std::string& seg = c.segments.back();
    std::string rest;
    for (size_t i = fixed; i < parts.size(); ++i) {
      if (i > fixed) rest += '/';
      rest += parts[i];
    }
    (*params)[seg.substr(1, seg.size() - 3)] = rest;
  }
  return true;
}

// The compute microversion a request names: OpenStack-API-Version "compute X" (2.27+) wins over
// the older X-OpenStack-Nova-API-Version.
std::string requested_version_text(const HttpRequest& req) {
  std::string v = req.header("X-OpenStack-Nova-API-Version");
  const std::string generic = req.header("OpenStack-API-Version");
  if (!generic.empty() && generic.rfind("compute ", 0) == 0) v = generic.substr(8);
  return v;
}

// Parses the requested compute microversion; nullopt when it is out of range or malformed.
std::optional<Microversion> requested_microversion(const HttpRequest& req) {
  const std::string v = requested_version_text(req);
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

HttpResponse to_response(Reply& reply) {
  HttpResponse res;
  res.status = reply.status;
  for (auto& [k, v] : reply.headers) res.headers.emplace_back(std::move(k), std::move(v));
  res.tunnel = std::move(reply.tunnel);
  if (reply.status == 204) return res;
  if (reply.file) {
    res.file = std::move(reply.file);
    res.content_type = reply.content_type;
  } else if (reply.raw) {
    res.set_content(std::move(*reply.raw), reply.content_type);
  } else if (!reply.body.is_null()) {
    res.set_content(reply.body.dump(), reply.content_type);
  }
  return res;
}

}  // namespace

struct ApiServer::Impl : HttpApp {
  ApiContext ctx;
  std::vector<Route> routes;
  std::vector<CompiledRoute> compiled;
  std::unique_ptr<HostTaskNotifier> own_notifier;
  HostTaskNotifier* notifier = nullptr;
  std::unique_ptr<WorkerPool> api_pool;
  std::unique_ptr<WorkerPool> agent_pool;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<LongPolls> long_polls;
  bool started = false;
  bool stopped = false;

  // The route for a method and path: a HEAD request takes a HEAD route, else the GET route.
  const CompiledRoute* find(const std::string& method, std::string_view path,
                            std::map<std::string, std::string>* params) const {
    const CompiledRoute* get = nullptr;
    for (const auto& c : compiled) {
      if (c.route->method != method && !(method == "HEAD" && c.route->method == "GET")) continue;
      if (!match(c, path, nullptr)) continue;
      if (c.route->method == method) {
        if (params) match(c, path, params);
        return &c;
      }
      if (!get) get = &c;
    }
    if (get && params) match(*get, path, params);
    return get;
  }

  WorkerPool& pool_for(const CompiledRoute& c) { return c.agent ? *agent_pool : *api_pool; }

  HttpResponse busy(std::string_view path) {
    HttpResponse res;
    write_error_status(service_of_path(path), 503, "The server is busy; try again in a moment.",
                       res);
    res.set_header("Retry-After", "1");
    return res;
  }

  // ---- HttpApp ----
  BodyPlan plan(const HttpRequest& head) override {
    BodyPlan p;
    p.limit = ctx.options.max_json_body;
    const CompiledRoute* c = find(head.method, head.path, nullptr);
    if (c && c->route->upload_handler) {
      p.limit = ctx.options.max_image_size;
      p.spool = true;
      p.check_first = true;
    }
    return p;
  }

  // Uploads: the token, the policy and the route's own checks run before the body is accepted.
  void check_head(HttpRequest& head,
                  std::function<void(std::optional<HttpResponse>)> proceed) override {
    auto params = std::make_shared<std::map<std::string, std::string>>();
    const CompiledRoute* c = find(head.method, head.path, params.get());
    if (!c || !c->route->upload_handler) return proceed(std::nullopt);
    HttpRequest* req = &head;  // the server keeps it alive until proceed is called
    const bool queued = pool_for(*c).try_submit([this, c, req, params, proceed] {
      Call call{*req, std::move(*params), std::nullopt, {}};
      Result<std::unique_ptr<Upload>> upload = Error::internal("no upload");
      try {
        upload = [&]() -> Result<std::unique_ptr<Upload>> {
          if (c->rule->scope != Scope::kPublic) {
            auto caller = validate_token(ctx.store(), request_token(*req));
            if (!caller.ok()) return caller.error();
            call.caller = *caller;
            if (auto s = authorize(*call.caller, *c->rule); !s.ok()) return s.error();
          }
          return c->route->upload_handler(call);
        }();
      } catch (const std::exception& e) {
        upload = Error::internal(e.what());
      }
      if (!upload.ok()) {
        if (http_status(upload.error()) >= 500) {
          spdlog::error("{} {} [{}]: {}", req->method, c->route->pattern, req->request_id,
                        upload.error().message);
        }
        HttpResponse res;
        write_error(c->route->service, upload.error(), res, req->request_id);
        res.user_id = call.caller ? call.caller->user_id : "";
        return proceed(std::move(res));
      }
      // An upload dropped unfinished undoes its first step, which may write to the database:
      // on a worker, never on the I/O thread that drops the request.
      WorkerPool* pool = &pool_for(*c);
      req->app_state = std::shared_ptr<Upload>(upload->release(), [pool](Upload* u) {
        if (!pool->try_submit([u] { delete u; })) delete u;
      });
      proceed(std::nullopt);
    });
    if (!queued) proceed(busy(head.path));
  }

  void handle(std::shared_ptr<HttpRequest> req, Respond respond) override {
    auto params = std::make_shared<std::map<std::string, std::string>>();
    const CompiledRoute* c = find(req->method, req->path, params.get());
    if (!c) {
      HttpResponse res;
      write_error(service_of_path(req->path) == Service::kPlain ? Service::kIdentity
                                                                : service_of_path(req->path),
                  Error::not_found("The resource could not be found."), res);
      return respond(std::move(res));
    }
    const bool queued = pool_for(*c).try_submit(
        [this, c, req, params, respond] { run(*c, req, std::move(*params), respond); });
    if (!queued) respond(busy(req->path));
  }

  HttpResponse error(const std::string& path, int status, const std::string& message) override {
    HttpResponse res;
    write_error_status(service_of_path(path), status, message, res);
    ctx.metrics.inc("gpucloud_http_refused_total", {{"status", std::to_string(status)}});
    return res;
  }

  void draining() override {
    if (long_polls) long_polls->drain();
  }

  // Everything a request goes through before and after its handler, on a worker.
  void run(const CompiledRoute& c, const std::shared_ptr<HttpRequest>& req,
           std::map<std::string, std::string> params, const Respond& respond) {
    const auto started = std::chrono::steady_clock::now();
    const Route& route = *c.route;
    Call call{*req, std::move(params), std::nullopt, {}};
    std::vector<std::pair<std::string, std::string>> extra_headers;
    Result<Reply> reply = Error::internal("no reply");
    try {
      reply = [&]() -> Result<Reply> {
        if (c.rule->scope != Scope::kPublic) {
          auto caller = validate_token(ctx.store(), request_token(*req));
          if (!caller.ok()) return caller.error();
          call.caller = *caller;
          if (auto s = authorize(*call.caller, *c.rule); !s.ok()) return s.error();
        }
        if (route.service == Service::kCompute) {
          auto mv = requested_microversion(*req);
          if (!mv) {
            return Reply::ok(
                {{"computeFault",
                  {{"code", 406},
                   {"message", fmt::format("Version {} is not supported by the API. Minimum is "
                                           "2.{} and maximum is 2.{}.",
                                           requested_version_text(*req), kMinComputeMinor,
                                           kMaxComputeMinor)}}}},
                406);
          }
          call.microversion = *mv;
          const std::string v = fmt::format("{}.{}", mv->major, mv->minor);
          extra_headers.emplace_back("X-OpenStack-Nova-API-Version", v);
          extra_headers.emplace_back("OpenStack-API-Version", "compute " + v);
          extra_headers.emplace_back("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version");
        }
        if (route.upload_handler) {
          auto* upload = static_cast<Upload*>(req->app_state.get());
          if (!upload || !req->spool) return bad_request("The upload has no body.");
          return upload->finish(call, *req->spool);
        }
        return route.handler(call);
      }();
    } catch (const std::exception& e) {
      spdlog::error("{} {}: unexpected exception: {}", req->method, route.pattern, e.what());
      reply = Error::internal(e.what());
    }
    const std::string user_id = call.caller ? call.caller->user_id : "";
    finish(c, req, std::move(reply), std::move(extra_headers), user_id, started, respond);
  }

  void finish(const CompiledRoute& c, const std::shared_ptr<HttpRequest>& req, Result<Reply> reply,
              std::vector<std::pair<std::string, std::string>> extra_headers,
              const std::string& user_id, std::chrono::steady_clock::time_point started,
              const Respond& respond) {
    const Route& route = *c.route;
    if (reply.ok() && reply->wait) {
      park(c, req, std::move(reply->wait), std::move(extra_headers), user_id, started, respond);
      return;
    }
    HttpResponse res;
    if (reply.ok()) {
      res = to_response(*reply);
    } else {
      // A 5xx's detail (database URL, SQL) goes to the log only; the client gets a generic
      // message with the request id that finds the log line.
      if (http_status(reply.error()) >= 500) {
        spdlog::error("{} {} [{}]: {}", req->method, route.pattern, req->request_id,
                      reply.error().message);
      }
      write_error(route.service, reply.error(), res, req->request_id);
    }
    for (auto& [k, v] : extra_headers) res.set_header(std::move(k), std::move(v));
    res.user_id = user_id;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ctx.metrics.observe_request(req->method, route.pattern, res.status, secs);
    respond(std::move(res));
  }

  // No answer yet: hold the request as an entry, not a thread; `again` runs on a worker when the
  // host may have news, at the deadline, or when the server stops.
  void park(const CompiledRoute& c, const std::shared_ptr<HttpRequest>& req,
            std::shared_ptr<LongPollWait> wait,
            std::vector<std::pair<std::string, std::string>> extra_headers,
            const std::string& user_id, std::chrono::steady_clock::time_point started,
            const Respond& respond) {
    auto resume = [this, &c, req, wait, extra_headers, user_id, started, respond](bool final) {
      const bool queued = pool_for(c).try_submit([=, this, &c] {
        Result<Reply> again = Error::internal("no reply");
        try {
          again = wait->again(final);
          // A final call must answer; a handler that would wait again gets an empty answer.
          if (again.ok() && again->wait && final) again = Reply::ok(json::object());
        } catch (const std::exception& e) {
          spdlog::error("{} {}: unexpected exception: {}", req->method, c.route->pattern, e.what());
          again = Error::internal(e.what());
        }
        finish(c, req, std::move(again), extra_headers, user_id, started, respond);
      });
      if (!queued) respond(busy(req->path));
    };
    long_polls->park(wait->host, wait->deadline, std::move(resume));
  }
};

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
conductor::Conductor* ApiServer::conductor() const { return impl_->ctx.deps.conductor; }
ApiServer::~ApiServer() { stop(); }

Result<std::unique_ptr<ApiServer>> ApiServer::create(ServerDeps deps, ServerOptions options) {
  if (sodium_init() < 0) return Error::internal("libsodium failed to initialise");
  if (!deps.store) return Error::internal("ApiServer needs a store");
  auto impl = std::make_unique<Impl>();
  impl->ctx.deps = std::move(deps);
  impl->ctx.options = options;
  if (impl->ctx.deps.task_notifier) {
    impl->notifier = impl->ctx.deps.task_notifier;
  } else {
    impl->own_notifier = std::make_unique<HostTaskNotifier>();
    impl->notifier = impl->own_notifier.get();
    impl->ctx.deps.task_notifier = impl->notifier;  // the conductor it starts tells it
  }
  HttpServerOptions h;
  h.listen_host = options.listen_host;
  h.port = options.port;
  h.tls_cert_file = options.tls_cert_file;
  h.tls_key_file = options.tls_key_file;
  h.io_threads = options.io_threads;
  h.header_timeout = options.header_timeout;
  h.idle_timeout = options.idle_timeout;
  h.max_connections = options.max_connections;
  h.max_connections_per_address = options.max_connections_per_address;
  h.spool_dir = (options.data_dir.empty() ? std::string("/tmp") : options.data_dir) + "/spool";
  h.drain_timeout = options.drain_timeout;
  h.access_log_file = options.access_log_file;
  auto http = HttpServer::create(std::move(h), *impl);
  if (!http.ok()) return http.error();
  impl->http = std::move(*http);
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

Status ApiServer::start() {
  Impl& m = *impl_;
  if (m.started) return Error::internal("ApiServer started twice");
  m.started = true;
  m.api_pool =
      std::make_unique<WorkerPool>("api", m.ctx.options.threads, m.ctx.options.max_queued_requests);
  m.agent_pool = std::make_unique<WorkerPool>("agent", m.ctx.options.agent_threads,
                                              m.ctx.options.max_queued_requests);
  HttpServer* http = m.http.get();
  WorkerPool* agent_pool = m.agent_pool.get();
  store::Store* store = m.ctx.deps.store;
  m.long_polls = std::make_unique<LongPolls>(
      *m.notifier,
      [http](std::chrono::milliseconds d, std::function<void()> fn) {
        return http->schedule(d, std::move(fn));
      },
      [agent_pool](std::function<void()> fn) { return agent_pool->try_submit(std::move(fn)); },
      [store](const std::set<std::string>& parked) -> Result<std::vector<std::string>> {
        auto hosts = store->hosts_with_pending_agent_tasks();
        if (!hosts.ok()) return hosts.error();
        // Requests waiting for an agent task's answer: the tasks that finished (one query).
        std::vector<std::string> ids;
        for (const auto& key : parked) {
          if (key.rfind(kAgentTaskWaitKey, 0) == 0)
            ids.push_back(key.substr(kAgentTaskWaitKey.size()));
        }
        if (!ids.empty()) {
          auto done = store->finished_agent_tasks(ids);
          if (!done.ok()) return done.error();
          for (const auto& t : *done) hosts->push_back(std::string(kAgentTaskWaitKey) + t.id);
        }
        return hosts;
      },
      m.ctx.options.long_poll_recheck);
  if (auto s = m.http->listen(); !s.ok()) return s;
  const bool tls = !m.ctx.options.tls_cert_file.empty();
  m.ctx.base_url = !m.ctx.options.public_url.empty()
                       ? m.ctx.options.public_url
                       : fmt::format("{}://{}:{}", tls ? "https" : "http",
                                     m.ctx.options.listen_host, m.http->port());

  if (m.ctx.deps.driver) {
    auto hosts = m.ctx.deps.driver->hosts();
    if (!hosts.ok()) return hosts.error();
    for (const auto& h : *hosts) m.ctx.local_hosts.insert(h.name);
  }
  if (auto s = start_conductor(m.ctx); !s.ok()) return s;
  for (auto& r : identity_token_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_password_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_admin_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_project_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_role_assignment_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_domain_role_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_project_role_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_system_role_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_implied_role_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_credential_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_policy_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_domain_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_group_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_catalog_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_endpoint_group_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_domain_config_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : identity_oauth1_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : image_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : controller_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : portal_session_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : agent_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : health_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto* table :
       {compute_misc_routes, compute_flavor_routes, compute_aggregate_routes, compute_host_routes,
        compute_server_routes, compute_server_edit_routes, compute_server_admin_routes,
        compute_instance_action_routes, compute_image_routes, compute_usage_routes,
        compute_gpu_routes, compute_quota_routes, compute_server_group_routes,
        compute_security_group_routes, compute_server_metadata_routes, compute_network_routes}) {
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
  // After the API routes: /portal/session stays an API route.
  for (auto& r : console_routes(m.ctx)) m.routes.push_back(std::move(r));
  for (auto& r : portal_file_routes(m.ctx)) m.routes.push_back(std::move(r));

  for (const Route& route : m.routes) {
    CompiledRoute c;
    c.route = &route;
    c.rule = find_rule(route.policy);
    if (!c.rule) {
      return Error::internal("route " + route.pattern + " names unknown policy " + route.policy);
    }
    for (auto seg : split_path(route.pattern)) c.segments.emplace_back(seg);
    c.rest =
        !c.segments.empty() && c.segments.back().size() > 3 && c.segments.back().ends_with("*}");
    c.agent = route.pattern.rfind("/gpucloud/v1/agent/", 0) == 0;
    m.compiled.push_back(std::move(c));
  }
  m.http->serve();
  return {};
}

void ApiServer::stop() {
  if (!impl_ || !impl_->started || impl_->stopped) return;
  Impl& m = *impl_;
  m.stopped = true;
  // Order: parked polls are answered and requests in flight finish while the workers still run;
  // then the workers finish what is queued (their answers go nowhere); then the services stop.
  m.http->stop();
  m.api_pool->stop();
  m.agent_pool->stop();
  m.long_polls.reset();
  auto hooks = std::move(m.ctx.stop_hooks);
  m.ctx.stop_hooks.clear();
  for (auto& hook : hooks) hook();
}

int ApiServer::port() const { return impl_->http->port(); }
std::vector<RouteInfo> ApiServer::routes() const {
  std::vector<RouteInfo> out;
  for (const auto& r : impl_->routes) out.push_back({r.method, r.pattern, r.policy});
  return out;
}
std::string ApiServer::base_url() const { return impl_->ctx.base_url; }
void ApiServer::set_nova_config(std::shared_ptr<const config::NovaConfig> config) {
  std::atomic_store(&impl_->ctx.deps.nova_config, std::move(config));
}

}  // namespace gpucloud::api
