// Helpers of the controller's unit tests: temporary files and the nova-shaped SQLite database.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace gpucloud::controller::testing {

inline std::string temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "gpucloud-ctl-XXXXXX").string();
  return mkdtemp(tmpl.data());
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// A SQLite file with nova's pci_devices table and the rows of tests/data/controller (made with
// the sqlite3 client: the table is not gpucloud's schema).
inline std::string nova_sqlite(const std::string& dir) {
  const std::string db = dir + "/nova.sqlite";
  const std::string cmd =
      "sqlite3 " + db + " < " + GPUCLOUD_TEST_DATA + "/controller/nova_pci_devices.sql";
  if (std::system(cmd.c_str()) != 0) return "";
  return db;
}

inline std::string cloudcontroller_ini(const std::string& url, const std::string& extra = "") {
  return "[app:main]\nuse = egg:cloudcontroller\nopenstack.gpu_query = " + url +
         "\nopenstack.gpu_pci_ids = 0ff2 11bf 13f2\n" + extra;
}

// Accepts connections on ip:<any port> and writes `banner` to each.
class BannerServer {
 public:
  BannerServer(const std::string& ip, std::string banner) : banner_(std::move(banner)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) {
          if (c >= 0) ::close(c);
          return;
        }
        if (!banner_.empty()) (void)!::write(c, banner_.data(), banner_.size());
        ::shutdown(c, SHUT_WR);
        ::close(c);
      }
    });
  }
  ~BannerServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  std::string banner_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace gpucloud::controller::testing
