// The access log's line and the request pieces the server decodes: no secret query value reaches
// the log, control characters cannot forge a line, and query strings decode as clients encode.
#include "api/access_log.h"

#include <gtest/gtest.h>

#include "api/http_message.h"
#include "core/host_task_notifier.h"

namespace gpucloud::api {
namespace {

TEST(AccessLog, QueryValuesThatMayBeSecretsAreMasked) {
  EXPECT_EQ(loggable_target("/compute/v2.1/flavors?limit=5&marker=3"),
            "/compute/v2.1/flavors?limit=5&marker=3");
  EXPECT_EQ(loggable_target("/x?X-Auth-Token=abc&password=p&api_key=k&limit=1&sig"),
            "/x?X-Auth-Token=***&password=***&api_key=***&limit=1&sig");
  EXPECT_EQ(loggable_target("/no/query"), "/no/query");
}

TEST(AccessLog, LineHasTheFieldsAndEscapesControlCharacters) {
  AccessEntry e;
  e.address = "127.0.0.1";
  e.user_id = "u1";
  e.method = "GET";
  e.target = "/a\r\nforged line \"x\"?token=t0ken";
  e.status = 200;
  e.bytes_in = 10;
  e.bytes_out = 20;
  e.seconds = 0.0015;
  e.request_id = "req-1";
  const std::string line = access_line(e);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find("t0ken"), std::string::npos) << line;
  EXPECT_NE(
      line.find("access 127.0.0.1 user=u1 \"GET /a\\x0d\\x0aforged line \\x22x\\x22?token=***\" "
                "200 in=10 out=20 1.5ms req-1"),
      std::string::npos)
      << line;
}

TEST(HttpMessage, QueryAndPathDecodeAsClientsEncode) {
  std::multimap<std::string, std::string> q;
  parse_query("name=my%20image&tag=a&tag=b&plus=x+y&empty=&flag", q);
  EXPECT_EQ(q.find("name")->second, "my image");
  EXPECT_EQ(q.count("tag"), 2u);
  EXPECT_EQ(q.find("plus")->second, "x y");
  EXPECT_EQ(q.find("empty")->second, "");
  EXPECT_EQ(q.count("flag"), 1u);
  EXPECT_EQ(percent_decode("/images/a%2Fb+c%zz", false), "/images/a/b+c%zz");
}

TEST(HttpMessage, HeadersCompareCaseInsensitively) {
  HttpRequest r;
  r.headers = {{"x-auth-token", "t"}, {"Content-Type", "application/json"}};
  EXPECT_EQ(r.header("X-Auth-Token"), "t");
  EXPECT_TRUE(r.has_header("content-type"));
  EXPECT_EQ(r.header("Missing"), "");
}

TEST(HostTaskNotifier, WakesOnlyTheHostsWaitersOnceAndNotCancelledOnes) {
  HostTaskNotifier n;
  int a = 0, b = 0, c = 0;
  n.wait("kvm1", [&] { ++a; });
  auto cancelled = n.wait("kvm1", [&] { ++c; });
  n.wait("kvm2", [&] { ++b; });
  EXPECT_TRUE(n.cancel(cancelled));
  n.notify("kvm1");
  n.notify("kvm1");
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
  EXPECT_EQ(c, 0);
  EXPECT_EQ(n.waiting(), 1u);
  EXPECT_FALSE(n.cancel(cancelled));
}

}  // namespace
}  // namespace gpucloud::api
