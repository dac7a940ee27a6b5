// Bad database input: each gives one clear error, never shows the password, touches no data.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

std::string with_password(const std::string& server_url, const std::string& pw) {
  // mysql://user:SECRET@host:port/ -> same with another password
  const size_t scheme = server_url.find("://") + 3;
  const size_t colon = server_url.find(':', scheme);
  const size_t at = server_url.find('@', scheme);
  return server_url.substr(0, colon + 1) + pw + server_url.substr(at);
}

int closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);  // bound, never listened, now closed: connecting is refused
  return ntohs(a.sin_port);
}

TEST(BadInput, UnsupportedOrMalformedUrlsAreRejectedBeforeConnecting) {
  for (const std::string url :
       {"postgres://u:hunter2@h/db", "nonsense", "sqlite:relative.db",
        "mysql://u:hunter2@h:99999/db", "mysql://u:hunter2@127.0.0.1:3306/"}) {
    auto s = open_store(url);
    ASSERT_FALSE(s.ok()) << url;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument) << url << ": " << s.error().message;
    EXPECT_EQ(s.error().message.find("hunter2"), std::string::npos) << s.error().message;
  }
}

TEST(BadInput, UnreachableHostIsUnavailableAndRedacted) {
  const std::string url =
      "mysql://gpucloud:hunter2@127.0.0.1:" + std::to_string(closed_port()) + "/nova";
  auto s = open_store(url);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable) << s.error().message;
  EXPECT_NE(s.error().message.find("mysql://gpucloud:***@127.0.0.1:"), std::string::npos)
      << s.error().message;
  EXPECT_EQ(s.error().message.find("hunter2"), std::string::npos);
  auto r = read_pci_devices(url);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos);
}

TEST(BadInput, WrongPasswordIsDeniedAndRedacted) {
  const std::string server = mariadb_server_url();
  if (server.empty()) GTEST_SKIP() << "no MariaDB for this run";
  TestDb db(Kind::kMariadb);
  const std::string wrong = with_password(db.url(), "not-the-password-x9");
  auto s = open_store(wrong);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message.find("Access denied"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find(":***@"), std::string::npos) << s.error().message;
  EXPECT_EQ(s.error().message.find("not-the-password-x9"), std::string::npos);
  // Nothing was created in the database the URL named.
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
                     "DATABASE()"),
            0);
}

TEST(BadInput, ReadOnlySqliteFileIsRefusedAndLeftUnchanged) {
  TestDb db(Kind::kSqlite);
  db.exec("CREATE TABLE keep (x INTEGER)");  // any content; we compare bytes
  const std::string path = DatabaseUrl::parse(db.url())->database();
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::group_read |
                                         std::filesystem::perms::others_read);
  auto bytes = [&] {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const std::string before = bytes();
  auto s = open_store(db.url());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message.find("read-only"), std::string::npos) << s.error().message;
  EXPECT_EQ(bytes(), before);
  // Reading nova's table needs no write access.
  auto r = read_pci_devices(db.url());
  ASSERT_FALSE(r.ok());  // no pci_devices table here: a clear error, not a crash
  EXPECT_NE(r.error().message.find("pci_devices"), std::string::npos) << r.error().message;
}

TEST(BadInput, MissingSqliteDirectoryIsAClearError) {
  auto s = open_store("sqlite:////nonexistent-dir-gpucloud/x.db");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("/nonexistent-dir-gpucloud/x.db"), std::string::npos)
      << s.error().message;
}

}  // namespace
}  // namespace gpucloud::store::testing
