// A guest's endpoint (address and forwarded ports) turned into the probe's target URL.
#include <gtest/gtest.h>

#include "probe/probe.h"

namespace gpucloud::probe {
namespace {

TEST(ServiceUrlFor, BracesBecomeTheAddress) {
  auto url = service_url_for("http://{}:8080/health", Endpoint{"10.0.0.5", {}});
  ASSERT_TRUE(url.ok()) << url.error().message;
  EXPECT_EQ(*url, "http://10.0.0.5:8080/health");
}

TEST(ServiceUrlFor, ForwardedPortReplacesTheGivenPort) {
  auto url = service_url_for("http://{}:8080/health", Endpoint{"127.0.1.2", {{8080, 41234}}});
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(*url, "http://127.0.1.2:41234/health");
}

TEST(ServiceUrlFor, SchemeDefaultPortIsForwardedToo) {
  Endpoint e{"127.0.0.1", {{80, 2080}, {443, 2443}}};
  EXPECT_EQ(*service_url_for("http://{}/", e), "http://127.0.0.1:2080/");
  EXPECT_EQ(*service_url_for("https://{}", e), "https://127.0.0.1:2443");
}

TEST(ServiceUrlFor, PortNotForwardedStays) {
  EXPECT_EQ(*service_url_for("http://{}:9000/x", Endpoint{"127.0.1.2", {{22, 2222}}}),
            "http://127.0.1.2:9000/x");
}

TEST(ServiceUrlFor, NotHttpIsRefused) {
  auto url = service_url_for("ftp://{}/", Endpoint{"10.0.0.5", {}});
  ASSERT_FALSE(url.ok());
  EXPECT_NE(url.error().message.find("not an http(s) URL"), std::string::npos);
}

TEST(ProbeGuest, NoAddressSaysSo) {
  Status s = probe_guest(Endpoint{}, Spec{});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "no address known yet");
}

TEST(ProbeGuest, ForwardedSshPortIsUsed) {
  // Nothing listens on the forwarded port: the error names it, not 22.
  Endpoint e{"127.0.0.9", {{22, 1}}};
  Spec spec;
  spec.timeout = std::chrono::milliseconds(500);
  Status s = probe_guest(e, spec);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("127.0.0.9:1"), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace gpucloud::probe
