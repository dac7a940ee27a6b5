// `gpucloud server --cloudcontroller`: SIGHUP reloads; an invalid nova.conf is refused with
// file:line in the log and the server keeps running on the old configuration.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "controller_test_util.h"

extern char** environ;

namespace gpucloud::controller {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Waits (bounded) until the log contains `text`.
bool wait_for(const std::string& log, const std::string& text) {
  for (int k = 0; k < 1000; ++k) {
    if (read_all(log).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(ServerSighup, ReloadsAndRefusesInvalidFiles) {
  const std::string dir = testing::temp_dir();
  const std::string ini = dir + "/cloudcontroller.ini", nova = dir + "/nova.conf",
                    log = dir + "/log";
  testing::write_file(ini, testing::cloudcontroller_ini("sqlite:///" + dir + "/db.sqlite"));
  testing::write_file(nova, "[pci]\nalias = {\"product_id\": \"11bf\", \"name\": \"K2_Grid\"}\n");
  const std::string cmd = std::string("exec ") + GPUCLOUD_BINARY + " server --database sqlite:///" +
                          dir + "/db.sqlite --port 0 --data-dir " + dir + " --config " + nova +
                          " --cloudcontroller " + ini + " --watch-seconds 3600 >" + log + " 2>&1";
  const char* argv[] = {"sh", "-c", cmd.c_str(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  ASSERT_TRUE(wait_for(log, "listening on")) << read_all(log);

  testing::write_file(nova, "[pci]\nalias = {\"product_id\": \"zz\", \"name\": \"Bad\"}\n");
  ::kill(pid, SIGHUP);
  EXPECT_TRUE(wait_for(log, "reload refused")) << read_all(log);
  EXPECT_NE(read_all(log).find(nova + ":2"), std::string::npos) << read_all(log);

  testing::write_file(nova, "[pci]\nalias = {\"product_id\": \"13f2\", \"name\": \"M60\"}\n");
  ::kill(pid, SIGHUP);
  EXPECT_TRUE(wait_for(log, "configuration reloaded")) << read_all(log);

  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_all(log);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gpucloud::controller
