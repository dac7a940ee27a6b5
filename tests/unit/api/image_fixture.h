// Helpers for the Image v2 tests: requests in the shapes the glance client sends, and a snapshot
// of every image row to assert that a refused request changed nothing.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "api_fixture.h"

namespace gpucloud::api::testing {

class ImageTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    admin_ = login("admin", "admin-secret", "admin");
    alice_ = login("alice", "alice-secret", "demo");
    rita_ = login("rita", "rita-secret", "demo");
    bob_ = login("bob", "bob-secret", "other");
    ASSERT_FALSE(admin_.empty() || alice_.empty() || rita_.empty() || bob_.empty());
  }

  // POST /image/v2/images: the new id ("" on failure), the status and the body.
  struct Created {
    std::string id;
    int status = 0;
    std::string body;
  };
  Created try_create(const std::string& token, const json& body) {
    auto r = post("/image/v2/images", token, body.dump());
    Created c;
    c.status = r ? r->status : -1;
    c.body = r ? r->body : "";
    if (c.status == 201) c.id = json::parse(c.body)["id"];
    return c;
  }
  std::string create(const std::string& token, const json& body) {
    return try_create(token, body).id;
  }
  std::string create_raw(const std::string& token, const std::string& name) {
    return create(token, {{"name", name}, {"disk_format", "raw"}, {"container_format", "bare"}});
  }
  httplib::Result patch(const std::string& id, const std::string& token, const json& ops,
                        const std::string& type = "application/openstack-images-v2.1-json-patch") {
    return client_->Patch(("/image/v2/images/" + id).c_str(), {{"X-Auth-Token", token}}, ops.dump(),
                          type.c_str());
  }
  httplib::Result upload(const std::string& id, const std::string& token, const std::string& data) {
    return client_->Put(("/image/v2/images/" + id + "/file").c_str(), {{"X-Auth-Token", token}},
                        data, "application/octet-stream");
  }
  httplib::Result del(const std::string& path, const std::string& token) {
    return client_->Delete(path.c_str(), {{"X-Auth-Token", token}});
  }
  json show(const std::string& id, const std::string& token) {
    auto r = get("/image/v2/images/" + id, token);
    return r && r->status == 200 ? json::parse(r->body) : json();
  }

  // A socket connected to the server, for requests httplib's client cannot make (a body that
  // stops half-way, headers announcing a body that is never sent).
  int connect_raw() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  // Sends only a request head and returns the status line of the answer.
  std::string raw_head_only(const std::string& head) {
    const int fd = connect_raw();
    if (fd < 0) return "";
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    char buf[512] = {};
    const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string answer(buf, n > 0 ? static_cast<size_t>(n) : 0);
    return answer.substr(0, answer.find("\r\n"));
  }

  // Every stored image with every field that matters, for "nothing changed" assertions.
  std::string snapshot() {
    auto images = store_->list_images();
    EXPECT_TRUE(images.ok());
    json all = json::array();
    for (const auto& i : *images) {
      all.push_back({i.id, i.name, i.owner, store::to_string(i.status),
                     store::to_string(i.visibility), i.disk_format, i.container_format,
                     i.size.value_or(-1), i.checksum, i.os_hash_value, i.min_disk, i.min_ram,
                     i.is_protected, i.os_hidden, i.properties, i.tags});
    }
    return all.dump();
  }
  // Files under <data_dir>/images (data and any partial upload).
  std::vector<std::string> image_files() {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "images", ec)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string admin_, alice_, rita_, bob_;
};

}  // namespace gpucloud::api::testing
