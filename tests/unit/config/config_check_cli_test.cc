// `gpucloud config check` run as a process: its output and exit status.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace {

struct ProcessResult {
  int status = -1;
  std::string output;  // stdout and stderr
};

// Runs the real binary in `dir`, so that file names in its output are short and stable.
ProcessResult config_check(const std::string& dir, const std::string& args) {
  std::string cmd = "cd '" + dir + "' && '" + GPUCLOUD_BINARY + "' config check " + args + " 2>&1";
  ProcessResult run;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) run.output.append(buf.data(), n);
  int raw = pclose(pipe);
  run.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return run;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string kSeed = std::string(GPUCLOUD_TEST_DATA) + "/../../examples/seed";
const std::string kData = std::string(GPUCLOUD_TEST_DATA) + "/config";

TEST(ConfigCheckCli, SeedFilesAreAcceptedAndPrintedAsTheGoldenFileSays) {
  ProcessResult run = config_check(kSeed, "nova.conf nova-compute.conf cloudcontroller.ini");
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output, read(kData + "/seed_check.golden"));
  EXPECT_EQ(run.output.find("SECURE_PASSWORD"), std::string::npos);
}

TEST(ConfigCheckCli, ProblemsAreListedAsFileLineMessageAndExitStatusIsOne) {
  ProcessResult run = config_check(kData, "bad_many.conf bad_cloudcontroller.ini");
  EXPECT_EQ(run.status, 1) << run.output;
  for (const char* line : {
           "bad_many.conf:3: [spice] enabled: 'maybe' is not a boolean (true/false, yes/no, "
           "on/off, 1/0)\n",
           "bad_many.conf:4: no ':' or '=' in assignment\n",
           "bad_many.conf:9: [database] connection: database URL: port 'notaport' is not a "
           "number from 1 to 65535\n",
           "bad_cloudcontroller.ini:3: [app:main] openstack.gpu_pci_ids: product id '11bfz' is "
           "not 4 hex digits\n",
           "7 errors, 1 warning\n",
       }) {
    EXPECT_NE(run.output.find(line), std::string::npos) << line << "\nin:\n" << run.output;
  }
  EXPECT_EQ(run.output.find("s3cret"), std::string::npos);
}

TEST(ConfigCheckCli, WarningsAloneDoNotFail) {
  ProcessResult run = config_check(kSeed, "nova.conf");
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("0 errors, 1 warning\n"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("spice: enabled"), std::string::npos) << run.output;
}

// The seed's two cloudcontroller.ini lines alone, without [app:main]: accepted with warnings; a
// nova.conf beside it keeps oslo's rules.
TEST(ConfigCheckCli, BareCloudControllerLinesAreAcceptedWithWarnings) {
  ProcessResult run = config_check(kData, "bare_cloudcontroller.ini");
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("GPU product ids: 0ff2 11bf 13f2"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("bare_cloudcontroller.ini:1: warning: openstack.gpu_query: outside "
                            "any section"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("0 errors, 2 warnings\n"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("SECURE_PASSWORD"), std::string::npos);
}

TEST(ConfigCheckCli, UnreadableFileGivesExitStatusTwo) {
  ProcessResult run = config_check(kData, "no_such.conf merge_first.conf");
  EXPECT_EQ(run.status, 2) << run.output;
  EXPECT_NE(run.output.find("no_such.conf: cannot be read\n"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("host: from-first  (merge_first.conf:3)"), std::string::npos)
      << run.output;
}

}  // namespace
