// The serial console log: where a domain writes it, reading its tail, nova's text rules
// (compute::console_text), and the libvirt driver's console_output on test:///default.
#include "agent/console_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/agent.h"

namespace gpucloud::agent {
namespace {

namespace fs = std::filesystem;

TEST(ConsoleLog, PathFromSerialLogOrFileConsole) {
  EXPECT_EQ(serial_log_path("<devices><serial type='pty'>\n  <log file='/i/u/console.log' "
                            "append='off'/>\n  <target port='0'/>\n</serial></devices>"),
            "/i/u/console.log");
  EXPECT_EQ(serial_log_path("<console type='file'><source path='/var/log/c.log'/></console>"),
            "/var/log/c.log");
  EXPECT_EQ(serial_log_path("<serial type='pty'><target port='0'/></serial>"), "");
}

TEST(ConsoleLog, TailOfAFileAndNothingForAMissingOne) {
  const fs::path f = fs::temp_directory_path() / ("gpucloud-console-" + std::to_string(getpid()));
  std::ofstream(f) << "0123456789";
  EXPECT_EQ(*read_tail(f.string(), 4), "6789");
  EXPECT_EQ(*read_tail(f.string(), 100), "0123456789");
  fs::remove(f);
  auto missing = read_tail(f.string(), 4);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, "");
}

// nova: the last N pieces between newlines (a trailing newline counts an empty last piece), bytes
// outside ASCII as U+FFFD, control characters but tab and newline removed.
TEST(ConsoleText, LinesAndCharactersAsNova) {
  const std::string log = "one\r\ntwo\r\nthree\r\n";
  EXPECT_EQ(compute::console_text(log, std::nullopt), "one\ntwo\nthree\n");
  EXPECT_EQ(compute::console_text(log, 3), "two\nthree\n");  // ["two", "three", ""]
  EXPECT_EQ(compute::console_text(log, 1), "");
  EXPECT_EQ(compute::console_text(log, 0), "");
  EXPECT_EQ(compute::console_text(log, 99), "one\ntwo\nthree\n");
  EXPECT_EQ(compute::console_text("a\x1b[0mb\tc\x01", std::nullopt), "a[0mb\tc");
  EXPECT_EQ(compute::console_text("caf\xc3\xa9\xff", std::nullopt),
            "caf\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(compute::console_text("no newline", 2), "no newline");
  // The agent shapes the text, the API takes lines of it: the second pass keeps it as it is.
  const std::string once = compute::console_text("caf\xc3\xa9\r\nok\n", std::nullopt);
  EXPECT_EQ(compute::console_text(once, std::nullopt), once);
  EXPECT_EQ(compute::console_text(once, 2), "ok\n");
}

TEST(LibvirtConsole, ReadsTheLogItsDomainWritesAndRefusesAGuestWithout) {
  const fs::path dir = fs::temp_directory_path() / ("gpucloud-lvc-" + std::to_string(getpid()));
  fs::create_directories(dir);
  LibvirtOptions o;
  o.uri = "test:///default";
  o.host_name = "gpu-host-1";
  o.instances_path = dir.string();
  o.domain.domain_type = "test";
  o.prepare_storage = false;
  auto d = make_libvirt_driver(o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  store::Instance i;
  i.uuid = "11111111-2222-4333-8444-00000000d001";
  i.name = "vm";
  i.host = "gpu-host-1";
  ASSERT_TRUE((*d)->spawn(i, {}, {}, {}).ok());
  // The test driver runs no QEMU: the log is what virtlogd would have written.
  auto empty = (*d)->console_output("gpu-host-1", i.uuid);
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_EQ(*empty, "");
  fs::create_directories(dir / i.uuid);
  std::ofstream(dir / i.uuid / "console.log") << std::string(200 * 1024, 'x') << "Linux version\n";
  auto log = (*d)->console_output("gpu-host-1", i.uuid);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->size(), compute::kMaxConsoleBytes);  // the tail only, as nova reads it
  EXPECT_EQ(log->substr(log->size() - 14), "Linux version\n");
  auto none = (*d)->console_output("gpu-host-1", "11111111-2222-4333-8444-00000000d0ff");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE((*d)->destroy("gpu-host-1", i.uuid).ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gpucloud::agent
