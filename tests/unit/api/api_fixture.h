// A real API server on 127.0.0.1 over a real SQLite file, for the API's unit tests.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "api/api.h"
#include "api/identity_impl.h"

namespace gpucloud::api::testing {

using nlohmann::json;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Argon2id at its minimum cost, unless the test measures login cost (TimingTest).
    use_cheap_password_hashes_for_tests(cheap_password_hashes_);
    dir_ = std::filesystem::temp_directory_path() /
           ("gpucloud-api-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto st = store::open_store("sqlite:///" + (dir_ / "db.sqlite").string());
    ASSERT_TRUE(st.ok()) << st.error().message;
    store_ = std::move(*st);
    auto boot = bootstrap_identity(*store_, "admin", "admin", "admin-secret");
    ASSERT_TRUE(boot.ok()) << boot.error().message;
    admin_project_ = boot->project_id;
    ASSERT_TRUE(ensure_user(*store_, "demo", "alice", "alice-secret", "member").ok());
    ASSERT_TRUE(ensure_user(*store_, "demo", "rita", "rita-secret", "reader").ok());
    ASSERT_TRUE(ensure_user(*store_, "other", "bob", "bob-secret", "member").ok());
    ServerDeps deps;
    deps.store = store_.get();
    deps.nova_config = std::make_shared<config::NovaConfig>();
    ServerOptions options;
    options.data_dir = dir_.string();
    options.token_ttl = token_ttl_;
    customize(deps, options);
    auto server = ApiServer::create(deps, options);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
    ASSERT_TRUE(server_->start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    // httplib's default is 5 s; on a loaded machine one Argon2id login can take longer.
    client_->set_read_timeout(std::chrono::seconds(60));
  }
  void TearDown() override {
    server_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A derived fixture's chance to add to the server's dependencies (a compute driver, a
  // nova.conf) after the store is ready and before the server starts.
  virtual void customize(ServerDeps& deps, ServerOptions& options) {
    (void)deps;
    (void)options;
  }

  // Password login scoped to a project; returns the token ("" on failure).
  std::string login(const std::string& user, const std::string& password,
                    const std::string& project, int* status = nullptr) {
    json body = {
        {"auth",
         {{"identity",
           {{"methods", {"password"}},
            {"password",
             {{"user",
               {{"name", user}, {"domain", {{"name", "Default"}}}, {"password", password}}}}}}},
          {"scope", {{"project", {{"name", project}, {"domain", {{"id", "default"}}}}}}}}}};
    auto r = client_->Post("/identity/v3/auth/tokens", body.dump(), "application/json");
    if (status) *status = r ? r->status : -1;
    if (!r || r->status != 201) return "";
    return r->get_header_value("X-Subject-Token");
  }

  httplib::Result get(const std::string& path, const std::string& token) {
    return client_->Get(path.c_str(), {{"X-Auth-Token", token}});
  }
  httplib::Result post(const std::string& path, const std::string& token, const std::string& body) {
    return client_->Post(path.c_str(), {{"X-Auth-Token", token}}, body, "application/json");
  }

  std::filesystem::path dir_;
  std::chrono::seconds token_ttl_{3600};
  bool cheap_password_hashes_ = true;  // false: the production Argon2id cost
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<httplib::Client> client_;
  std::string admin_project_;
};

}  // namespace gpucloud::api::testing
