// SPICE consoles (docs/consoles.md): nova's remote-consoles API and os-getSPICEConsole action
// give a URL with a token; the server's relay (/websockify) turns the token into a WebSocket
// relayed to the guest's SPICE port, checked again when it opens. The fake driver's guests have a
// stand-in SPICE server that answers a client's link message; an agent's guest is reached where
// its host reported it (here a TCP echo server of the test's own).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <random>

#include "api/identity_impl.h"  // token_hash
#include "compute/fake_guest_services.h"
#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

// A minimal RFC 6455 client over a plain socket: the handshake, masked binary frames out, and
// frames in. Enough to see what a browser's spice-html5 would see.
class WsClient {
 public:
  ~WsClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Sends the opening handshake; returns the status line's code and keeps the head in head().
  int open(int port, const std::string& path, const std::string& extra_headers) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n" +
                            extra_headers + "\r\n";
    send_all(req);
    while (head_.find("\r\n\r\n") == std::string::npos) {
      char c;
      if (::recv(fd_, &c, 1, 0) != 1) return -1;
      head_ += c;
    }
    return std::stoi(head_.substr(9, 3));
  }
  const std::string& head() const { return head_; }
  // The rest of a refusal's body (the connection closes after it).
  std::string rest() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd_, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  void send_binary(const std::string& payload) {
    std::string f;
    f += static_cast<char>(0x82);
    // Short messages only (under 126 bytes), masked as a client must.
    f += static_cast<char>(0x80 | payload.size());
    const char mask[4] = {0x11, 0x22, 0x33, 0x44};
    f.append(mask, 4);
    for (size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
    send_all(f);
  }
  // Payload bytes of data frames until `n` arrived (control frames skipped); "" on close/error.
  std::string receive(size_t n) {
    std::string out;
    while (out.size() < n) {
      std::string h = read_exact(2);
      if (h.size() < 2) return out;
      const int opcode = h[0] & 0x0f;
      uint64_t len = static_cast<unsigned char>(h[1]) & 0x7f;
      if (len == 126) {
        const std::string l = read_exact(2);
        len = (uint64_t(static_cast<unsigned char>(l[0])) << 8) | static_cast<unsigned char>(l[1]);
      } else if (len == 127) {
        const std::string l = read_exact(8);
        len = 0;
        for (char c : l) len = (len << 8) | static_cast<unsigned char>(c);
      }
      const std::string data = read_exact(len);
      if (opcode == 8) {
        closed_ = true;
        return out;
      }
      if (opcode == 1 || opcode == 2 || opcode == 0) out += data;
    }
    return out;
  }
  bool closed() const { return closed_; }

 private:
  void send_all(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  std::string read_exact(uint64_t n) {
    std::string out;
    char buf[4096];
    while (out.size() < n) {
      const ssize_t got = ::recv(fd_, buf, std::min<uint64_t>(sizeof buf, n - out.size()), 0);
      if (got <= 0) break;
      out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }
  int fd_ = -1;
  std::string head_;
  bool closed_ = false;
};

// A TCP echo server on 127.0.0.1 (the guest console of an agent's host, for the relay).
class ConsoleEchoServer {
 public:
  ConsoleEchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        ++accepted_;
        ++open_;
        conn_ = c;
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(c, buf, sizeof buf, 0)) > 0) ::send(c, buf, n, MSG_NOSIGNAL);
        conn_ = -1;
        ::close(c);
        --open_;
      }
    });
  }
  ~ConsoleEchoServer() {
    if (const int c = conn_; c >= 0) ::shutdown(c, SHUT_RDWR);  // a relay left open: end it
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }
  int open_connections() const { return open_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<int> conn_{-1};
  std::atomic<int> open_{0};
  std::thread thread_;
};

// A port nothing listens on (bound once, then released).
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// The client's part of a SPICE link: SpiceLinkHeader ("REDQ", version 2.2, size) and its body.
std::string spice_link_message() {
  std::string m = "REDQ";
  for (uint32_t v : {2u, 2u, 18u}) {
    for (int k = 0; k < 4; ++k) m += static_cast<char>((v >> (8 * k)) & 0xff);
  }
  return m + std::string(18, '\0');
}

uint32_t le32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(s[at + k]);
  return v;
}

class ConsoleTest : public ComputeTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    ComputeTest::customize(deps, options);
    if (::testing::Test::HasFatalFailure()) return;
    auto cfg = std::make_shared<config::NovaConfig>(*deps.nova_config);
    cfg->console_token_ttl = token_ttl_seconds_;
    cfg->console_allowed_origins = {"portal.example"};
    deps.nova_config = cfg;
    options.agent_answer_timeout = answer_timeout_;
    options.long_poll_recheck = std::chrono::milliseconds(200);
    ASSERT_TRUE(ensure_user(*store_, "service", "nova-agent", "agent-secret", "service").ok());
  }

  // POST remote-consoles at 2.6; the whole answer.
  httplib::Result console(const std::string& id, const std::string& token, const json& body,
                          const std::string& version = "2.6") {
    return client_->Post((kV + "/servers/" + id + "/remote-consoles").c_str(),
                         {{"X-Auth-Token", token}, {"OpenStack-API-Version", "compute " + version}},
                         body.dump(), "application/json");
  }
  std::string spice_url(const std::string& id) {
    auto r =
        console(id, alice_, {{"remote_console", {{"protocol", "spice"}, {"type", "spice-html5"}}}});
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    if (!r || r->status != 200) return "";
    return json::parse(r->body)["remote_console"]["url"].get<std::string>();
  }
  static std::string token_of(const std::string& url) {
    const size_t at = url.find("token=");
    return at == std::string::npos ? "" : url.substr(at + 6);
  }
  std::string active_server(const std::string& name) {
    const std::string id = boot(alice_, name, "2", "");
    EXPECT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
    return id;
  }
  // alice's server ACTIVE on the agent's host kvm1.
  std::string active_on_kvm1(const std::string& name) {
    agent_ = login("nova-agent", "agent-secret", "service");
    return active_on_agent_host(agent_, alice_, name);
  }

  // os-getConsoleOutput through `client` (this server or another replica).
  httplib::Result console_log(httplib::Client& client, const std::string& id, const json& args) {
    return client.Post((kV + "/servers/" + id + "/action").c_str(), {{"X-Auth-Token", alice_}},
                       json{{"os-getConsoleOutput", args}}.dump(), "application/json");
  }
  // The agent of kvm1 takes its next task (through `via`) and answers it with `details`.
  void answer_next_task(httplib::Client& via, const json& details, const char* kind) {
    auto r = via.Get((kAgentHosts + "kvm1/tasks?wait=10").c_str(), {{"X-Auth-Token", agent_}});
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    json task = json::parse(r->body)["tasks"][0];
    EXPECT_EQ(task["kind"], kind);
    json result = {{"result", {{"succeeded", true}, {"details", details}}}};
    auto a = via.Post((kAgentHosts + "kvm1/tasks/" + task["id"].get<std::string>()).c_str(),
                      {{"X-Auth-Token", agent_}}, result.dump(), "application/json");
    ASSERT_TRUE(a && a->status == 204) << (a ? a->body : "no response");
  }

  int token_ttl_seconds_ = 600;
  std::chrono::milliseconds answer_timeout_{std::chrono::seconds(30)};
  std::string agent_;
};

TEST_F(ConsoleTest, SpiceConsoleUrlOpensTheGuestsConsoleThroughTheRelay) {
  const std::string id = active_server("vm1");
  const std::string url = spice_url(id);
  const std::string base = "http://127.0.0.1:" + std::to_string(server_->port());
  ASSERT_EQ(url.rfind(base + "/spice/spice_auto.html?token=", 0), 0u) << url;
  const std::string token = token_of(url);
  ASSERT_GE(token.size(), 40u);
  // Only the token's hash is kept.
  EXPECT_TRUE(store_->get_console_token(token_hash(token), std::chrono::system_clock::now()).ok());
  EXPECT_FALSE(store_->get_console_token(token, std::chrono::system_clock::now()).ok());

  // As spice-html5 does: the token in the cookie its page set, the default path /websockify.
  WsClient ws;
  ASSERT_EQ(ws.open(server_->port(), "/websockify", "Cookie: token=" + token + "\r\n"), 101)
      << ws.head();
  EXPECT_NE(ws.head().find("Sec-WebSocket-Protocol: binary"), std::string::npos) << ws.head();
  ws.send_binary(spice_link_message());
  const std::string reply = ws.receive(16 + 4);
  ASSERT_EQ(reply.size(), 16u + 178u);    // SpiceLinkHeader and SpiceLinkReply
  EXPECT_EQ(reply.substr(0, 4), "REDQ");  // the guest's SPICE server answered, through the relay
  EXPECT_EQ(le32(reply, 4), 2u);
  EXPECT_EQ(le32(reply, 16), compute::kSpiceChannelNotAvailable);  // a stand-in has no display

  // The token in the query works as well, on /spice/websockify, and more than once (nova's tokens
  // last their TTL).
  WsClient again;
  EXPECT_EQ(again.open(server_->port(), "/spice/websockify?token=" + token, ""), 101);
}

TEST_F(ConsoleTest, ConsolePageIsServedWithItsOwnContentSecurityPolicy) {
  auto r = client_->Get("/spice/spice_auto.html");
  if (r && r->status == 404 && !std::filesystem::exists("/usr/share/spice-html5")) {
    GTEST_SKIP() << "spice-html5 not installed (scripts/packages.txt)";
  }
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_NE(r->body.find("spice_query_var('token'"), std::string::npos);
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("connect-src 'self' ws: wss:"),
            std::string::npos);
  auto js = client_->Get("/spice/main.js");
  ASSERT_TRUE(js && js->status == 200);
  EXPECT_EQ(js->get_header_value("Content-Type").rfind("text/javascript", 0), 0u);
  EXPECT_EQ(client_->Get("/spice/../../etc/passwd")->status, 404);
}

TEST_F(ConsoleTest, LegacyActionBelow26AndRemoteConsolesFrom26) {
  const std::string id = active_server("vm1");
  auto r = client_->Post((kV + "/servers/" + id + "/action").c_str(),
                         {{"X-Auth-Token", alice_}, {"OpenStack-API-Version", "compute 2.1"}},
                         R"({"os-getSPICEConsole": {"type": "spice-html5"}})", "application/json");
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  json body = json::parse(r->body);
  EXPECT_EQ(body["console"]["type"], "spice-html5");
  EXPECT_NE(body["console"]["url"].get<std::string>().find("token="), std::string::npos);
  // Gone at 2.6, where remote-consoles takes over; remote-consoles is not there below.
  r = client_->Post((kV + "/servers/" + id + "/action").c_str(),
                    {{"X-Auth-Token", alice_}, {"OpenStack-API-Version", "compute 2.6"}},
                    R"({"os-getSPICEConsole": {"type": "spice-html5"}})", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(console(id, alice_,
                    {{"remote_console", {{"protocol", "spice"}, {"type", "spice-html5"}}}}, "2.5")
                ->status,
            404);
  // The old action's type is checked by its schema.
  r = client_->Post((kV + "/servers/" + id + "/action").c_str(),
                    {{"X-Auth-Token", alice_}, {"OpenStack-API-Version", "compute 2.1"}},
                    R"({"os-getSPICEConsole": {"type": "novnc"}})", "application/json");
  EXPECT_EQ(r->status, 400);
}

TEST_F(ConsoleTest, ConsoleErrorsAreNovas) {
  const std::string id = active_server("vm1");
  auto status = [&](const json& rc, const std::string& token, const std::string& v = "2.6") {
    auto r = console(id, token, {{"remote_console", rc}}, v);
    return r ? r->status : -1;
  };
  EXPECT_EQ(status({{"protocol", "vnc"}, {"type", "novnc"}}, alice_), 400);  // SPICE guests only
  EXPECT_EQ(status({{"protocol", "rdp"}, {"type", "rdp-html5"}}, alice_), 501);  // not libvirt's
  EXPECT_EQ(status({{"protocol", "spice"}, {"type", "novnc"}}, alice_), 400);    // mismatch
  EXPECT_EQ(status({{"protocol", "telnet"}, {"type", "novnc"}}, alice_), 400);   // schema
  EXPECT_EQ(status({{"protocol", "mks"}, {"type", "webmks"}}, alice_), 400);     // 2.8+
  EXPECT_EQ(status({{"protocol", "mks"}, {"type", "webmks"}}, alice_, "2.8"), 501);
  EXPECT_EQ(status({{"protocol", "spice"}, {"type", "spice-html5"}, {"x", 1}}, alice_), 400);
  EXPECT_EQ(console(id, alice_, json::object())->status, 400);
  const json spice = {{"protocol", "spice"}, {"type", "spice-html5"}};
  EXPECT_EQ(status(spice, bob_), 404);   // another project's server does not exist for bob
  EXPECT_EQ(status(spice, rita_), 403);  // a reader cannot open consoles (nova: member)
  EXPECT_EQ(status(spice, admin_), 200);
  // A stopped server has no console (409), as nova's InstanceNotReady.
  post_ok(kV + "/servers/" + id + "/action", alice_, {{"os-stop", nullptr}}, 202);
  wait_idle(id, alice_);
  EXPECT_EQ(status(spice, alice_), 409);
}

TEST_F(ConsoleTest, RelayRefusesForeignOriginsBadTokensAndServersThatChanged) {
  const std::string id = active_server("vm1");
  const std::string token = token_of(spice_url(id));
  const int port = server_->port();
  auto open = [&](const std::string& path, const std::string& headers) {
    WsClient ws;
    return ws.open(port, path, headers);
  };
  // Another site's page opening the console with the user's cookie (cross-site WebSocket
  // hijacking), unless the operator allowed that origin.
  EXPECT_EQ(open("/websockify?token=" + token, "Origin: http://evil.example\r\n"), 403);
  EXPECT_EQ(open("/websockify?token=" + token, "Origin: https://portal.example:8443\r\n"), 101);
  EXPECT_EQ(open("/websockify?token=" + token, "Origin: http://127.0.0.1:1\r\n"), 101);
  EXPECT_EQ(open("/websockify", ""), 401);
  EXPECT_EQ(open("/websockify?token=" + token + "x", ""), 401);
  // Not a WebSocket: a clear 400.
  auto plain = client_->Get(("/websockify?token=" + token).c_str());
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 400);
  // The admin API shows where a token leads (2.31+; below, nova shows RDP tokens only).
  auto shown = vget(kV + "/os-console-auth-tokens/" + token, admin_, "2.31");
  ASSERT_TRUE(shown && shown->status == 200) << (shown ? shown->body : "");
  EXPECT_EQ(json::parse(shown->body)["console"]["instance_uuid"], id);
  EXPECT_EQ(vget(kV + "/os-console-auth-tokens/" + token, admin_, "2.30")->status, 401);
  EXPECT_EQ(vget(kV + "/os-console-auth-tokens/nope", admin_, "2.31")->status, 404);
  EXPECT_EQ(vget(kV + "/os-console-auth-tokens/" + token, alice_, "2.31")->status, 403);

  // Stopped: the token no longer opens anything (the guest is not running there).
  post_ok(kV + "/servers/" + id + "/action", alice_, {{"os-stop", nullptr}}, 202);
  wait_idle(id, alice_);
  EXPECT_EQ(open("/websockify?token=" + token, ""), 409);
  // Deleted: as an unknown token.
  ASSERT_EQ(del(kV + "/servers/" + id, alice_)->status, 204);
  for (int i = 0; i < 500 && get(kV + "/servers/" + id, alice_)->status != 404; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(open("/websockify?token=" + token, ""), 401);
}

class ShortTokenConsoleTest : public ConsoleTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    token_ttl_seconds_ = 1;
    ConsoleTest::customize(deps, options);
  }
};

TEST_F(ShortTokenConsoleTest, ExpiredTokenOpensNothing) {
  const std::string id = active_server("vm1");
  const std::string token = token_of(spice_url(id));
  WsClient fresh;
  EXPECT_EQ(fresh.open(server_->port(), "/websockify?token=" + token, ""), 101);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  WsClient late;
  EXPECT_EQ(late.open(server_->port(), "/websockify?token=" + token, ""), 401);
}

// An agent's guest: its host reports the console port (fixed for the guest's life) with the
// address the server reaches it at; the relay connects there.
TEST_F(ConsoleTest, AgentReportedConsoleIsRelayedToTheHostsPort) {
  const std::string id = active_on_kvm1("vm1");
  const json spice = {{"remote_console", {{"protocol", "spice"}, {"type", "spice-html5"}}}};
  // No report yet: the server cannot know where the console is.
  EXPECT_EQ(console(id, alice_, spice)->status, 409);

  ConsoleEchoServer echo;
  auto report = [&](const json& guest) {
    return put(kAgentHosts + "kvm1/guests", agent_, json{{"guests", {guest}}}.dump());
  };
  json bad = {{"instance_uuid", id},
              {"console", {{"type", "spice"}, {"host", "127.0.0.1"}, {"port", 0}}}};
  auto r = report(bad);
  ASSERT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("guests[0].console.port"), std::string::npos) << r->body;
  ASSERT_EQ(report({{"instance_uuid", id},
                    {"console", {{"type", "spice"}, {"host", "127.0.0.1"}, {"port", echo.port()}}}})
                ->status,
            200);
  // A later report without the console (its lookup failed once) keeps it.
  ASSERT_EQ(report({{"instance_uuid", id}, {"ip_address", "192.0.2.5"}})->status, 200);

  const std::string token = token_of(spice_url(id));
  WsClient ws;
  ASSERT_EQ(ws.open(server_->port(), "/websockify?token=" + token, ""), 101) << ws.head();
  ws.send_binary("hello console");
  EXPECT_EQ(ws.receive(13), "hello console");
  EXPECT_EQ(echo.accepted(), 1);

  // The host now reports another port (the guest was redefined): the old token must not reach
  // whatever listens on the old one.
  const int gone = closed_port();
  ASSERT_EQ(report({{"instance_uuid", id},
                    {"console", {{"type", "spice"}, {"host", "127.0.0.1"}, {"port", gone}}}})
                ->status,
            200);
  WsClient stale;
  EXPECT_EQ(stale.open(server_->port(), "/websockify?token=" + token, ""), 409);
  // A new token for the new port, where nothing listens: 502 and no handshake.
  WsClient unreachable;
  EXPECT_EQ(unreachable.open(server_->port(), "/websockify?token=" + token_of(spice_url(id)), ""),
            502);
}

// `openstack console log show`: a simulated guest's boot log, read by its in-process host.
TEST_F(ConsoleTest, ConsoleOutputAsNovaShapesIt) {
  const std::string id = active_server("vm1");
  auto r = console_log(*client_, id, json::object());
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  const std::string all = json::parse(r->body)["output"];
  EXPECT_NE(all.find("Linux version"), std::string::npos) << all;
  EXPECT_EQ(all.find('\r'), std::string::npos);  // control characters removed, as nova does
  // length: the last N pieces between newlines (Tempest counts split('\n') == 3).
  for (const json& length : {json(3), json("3")}) {
    r = console_log(*client_, id, {{"length", length}});
    ASSERT_EQ(r->status, 200) << r->body;
    const std::string three = json::parse(r->body)["output"];
    EXPECT_EQ(std::count(three.begin(), three.end(), '\n'), 2) << three;
    EXPECT_EQ(all.substr(all.size() - three.size()), three);
  }
  EXPECT_EQ(json::parse(console_log(*client_, id, {{"length", -1}})->body)["output"], all);
  EXPECT_EQ(json::parse(console_log(*client_, id, {{"length", nullptr}})->body)["output"], all);
  for (const json& bad : {json{{"length", -2}}, json{{"length", "x"}}, json{{"length", 1.5}},
                          json{{"lines", 3}}, json("3")}) {
    EXPECT_EQ(console_log(*client_, id, bad)->status, 400) << bad.dump();
  }
  // Another project's server does not exist for bob; a reader may not (nova: member).
  auto other = client_->Post((kV + "/servers/" + id + "/action").c_str(), {{"X-Auth-Token", bob_}},
                             R"({"os-getConsoleOutput": {}})", "application/json");
  EXPECT_EQ(other->status, 404);
  auto reader =
      client_->Post((kV + "/servers/" + id + "/action").c_str(), {{"X-Auth-Token", rita_}},
                    R"({"os-getConsoleOutput": {}})", "application/json");
  EXPECT_EQ(reader->status, 403);
  // A stopped guest's log is still there (Tempest's SHUTOFF case), with its power down.
  post_ok(kV + "/servers/" + id + "/action", alice_, {{"os-stop", nullptr}}, 202);
  wait_idle(id, alice_);
  r = console_log(*client_, id, json::object());
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(json::parse(r->body)["output"].get<std::string>().find("Power down"),
            std::string::npos);
}

// An agent's guest: the request waits, without a thread, for the agent's answer to a
// console_output task, and takes its text (nova's rules applied here).
TEST_F(ConsoleTest, ConsoleOutputOfAnAgentsGuestIsItsAgentsAnswer) {
  const std::string id = active_on_kvm1("vm1");
  httplib::Client agent_side("127.0.0.1", server_->port());
  agent_side.set_read_timeout(std::chrono::seconds(30));
  std::thread agent([&] {
    answer_next_task(agent_side, {{"output", "BIOS\nLinux version 6.1\nlogin: \n"}},
                     "console_output");
  });
  auto r = console_log(*client_, id, {{"length", 2}});
  agent.join();
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["output"], "login: \n");
  // A guest without a console log (defined before logs, or gone): nova's 404.
  std::thread agent2([&] {
    answer_next_task(agent_side,
                     {{"error", {{"code", "not found"}, {"message", "no libvirt domain"}}}},
                     "console_output");
  });
  r = console_log(*client_, id, json::object());
  agent2.join();
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("Guest does not have a console available"), std::string::npos);
}

// Two replicas on one database: the agent answers through the other one, and the parked
// request learns of it from the long polls' re-check.
TEST_F(ConsoleTest, ConsoleOutputAnsweredThroughAnotherReplica) {
  const std::string id = active_on_kvm1("vm1");
  ServerDeps deps;
  deps.store = store_.get();
  deps.nova_config = std::make_shared<config::NovaConfig>();
  ServerOptions options;
  options.data_dir = (dir_ / "replica").string();
  auto other = ApiServer::create(deps, options);
  ASSERT_TRUE(other.ok()) << other.error().message;
  ASSERT_TRUE((*other)->start().ok());
  httplib::Client replica("127.0.0.1", (*other)->port());
  replica.set_read_timeout(std::chrono::seconds(30));
  std::thread agent([&] {
    answer_next_task(replica, {{"output", "from the other replica\n"}}, "console_output");
  });
  auto r = console_log(*client_, id, json::object());
  agent.join();
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["output"], "from the other replica\n");
  (*other)->stop();
}

class PatientStopConsoleTest : public ConsoleTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    ConsoleTest::customize(deps, options);
    // A relay counted as a request in flight would hold stop() this long (and time the test out).
    options.drain_timeout = std::chrono::minutes(10);
  }
};

// A console may stay open for hours: a graceful stop closes it as it closes idle connections,
// rather than waiting for it.
TEST_F(PatientStopConsoleTest, GracefulStopClosesOpenConsoles) {
  const std::string id = active_on_kvm1("vm1");
  ConsoleEchoServer echo;
  ASSERT_EQ(
      put(kAgentHosts + "kvm1/guests", agent_,
          json{{"guests",
                {{{"instance_uuid", id},
                  {"console", {{"type", "spice"}, {"host", "127.0.0.1"}, {"port", echo.port()}}}}}}}
              .dump())
          ->status,
      200);
  WsClient ws;
  ASSERT_EQ(ws.open(server_->port(), "/websockify?token=" + token_of(spice_url(id)), ""), 101);
  ws.send_binary("ping");
  ASSERT_EQ(ws.receive(4), "ping");
  server_->stop();
  EXPECT_EQ(ws.receive(1), "");  // closed by the server, not answered
  // The relay let go of the guest's console too: the echo server's connection ended.
  for (int i = 0; i < 100 && echo.open_connections() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(echo.open_connections(), 0);
}

class ImpatientConsoleTest : public ConsoleTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    answer_timeout_ = std::chrono::milliseconds(500);
    ConsoleTest::customize(deps, options);
  }
};

TEST_F(ImpatientConsoleTest, AnAgentThatDoesNotAnswerIs409AndItsTaskIsDropped) {
  const std::string id = active_on_kvm1("vm1");
  auto r = console_log(*client_, id, json::object());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("did not answer in time"), std::string::npos) << r->body;
  auto tasks = store_->list_agent_tasks("kvm1");
  ASSERT_TRUE(tasks.ok());
  bool dropped = false;
  for (const auto& t : *tasks) {
    if (t.kind == "console_output") dropped = t.state == store::AgentTaskState::kFailed;
  }
  EXPECT_TRUE(dropped);  // the agent will not read a log nobody waits for
}

}  // namespace
}  // namespace gpucloud::api::testing
