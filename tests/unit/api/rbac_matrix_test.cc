// The RBAC matrix, generated from the policy table (src/api/policy_matrix.cc): every route the
// server serves, called as each persona (anonymous, reader, member of the owning project, member
// of another project, service, admin) against a real server, and the status checked against
// what the table says. docs/api.md holds the same matrix; the second test fails when it drifts
// (GPUCLOUD_UPDATE_DOCS=1 rewrites it).
#include <fstream>
#include <regex>
#include <sstream>

#include "api/policy_impl.h"
#include "compute_fixture.h"

namespace gpucloud::api::testing {
namespace {

const std::string kDocs = std::string(GPUCLOUD_TEST_DATA) + "/../../docs/api.md";
const std::string kBegin =
    "<!-- rbac-matrix:begin (generated from src/api/policy_matrix.cc by "
    "tests/unit/api/rbac_matrix_test.cc; GPUCLOUD_UPDATE_DOCS=1 rewrites it) -->\n";
const std::string kEnd = "<!-- rbac-matrix:end -->";

class RbacMatrixTest : public ComputeTest {
 protected:
  void SetUp() override {
    ComputeTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(ensure_user(*store_, "services", "agent", "agent-secret", "service").ok());
    ASSERT_TRUE(ensure_user(*store_, "spare", "victim", "victim-secret", "member").ok());
    const std::string alice = store_->find_user_by_name("alice", "default")->id;
    const std::string demo = store_->find_project_by_name("demo", "default")->id;

    store::Instance server;
    server.uuid = new_uuid();
    server.name = "alice-server";
    server.project_id = demo;
    server.user_id = alice;
    server.flavor_id = "1";
    server.status = store::ServerStatus::kActive;
    server.vm_state = "active";
    server.task_state.reset();
    ASSERT_TRUE(store_->create_instance(server).ok());

    store::Image image;
    image.id = new_uuid();
    // Shared, so that its member routes answer past the policy (glance: only shared images
    // have members); another project still finds it absent, as it is no member.
    image.name = "alice-shared";
    image.owner = demo;
    image.status = store::ImageStatus::kQueued;
    image.visibility = store::ImageVisibility::kShared;
    ASSERT_TRUE(store_->create_image(image).ok());

    store::KeyPair key;
    key.user_id = alice;
    key.name = "alice-key";
    key.public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8 alice";
    key.fingerprint = "x";
    ASSERT_TRUE(store_->create_keypair(key).ok());

    store::Aggregate agg;
    agg.name = "agg1";
    auto created = store_->create_aggregate(agg);
    ASSERT_TRUE(created.ok());
    auto host = store_->get_compute_host("vmhost1");
    ASSERT_TRUE(host.ok());

    store::ServerGroup group;
    group.uuid = new_uuid();
    group.name = "alice-group";
    group.project_id = demo;
    group.user_id = alice;
    group.policy = "anti-affinity";
    ASSERT_TRUE(store_->create_server_group(group).ok());

    // keystone's groups and catalog, for the identity routes (an endpoint without a region, so
    // that the region's DELETE passes as it would alone).
    ASSERT_TRUE(store_->create_group({"sparegroup", "default", "spare-group", std::nullopt}).ok());
    ASSERT_TRUE(
        store_->create_service({"spareservice", "compute", "nova", std::nullopt, true}).ok());
    ASSERT_TRUE(store_->create_region({"spareregion", "", std::nullopt}).ok());
    ASSERT_TRUE(store_
                    ->create_endpoint({"spareendpoint", "spareservice", "public", "http://x/",
                                       std::nullopt, true})
                    .ok());

    // A private metadef namespace of project demo, holding one of everything: the member reads
    // it, another project finds it absent (past the policy either way).
    store::MetadefNamespace ns;
    ns.name = "demo-ns";
    ns.owner = demo;
    store::MetadefItem object, property, tag;
    object.kind = store::MetadefKind::kObject;
    object.name = "o1";
    property.kind = store::MetadefKind::kProperty;
    property.name = "p1";
    property.definition = R"({"title": "P1", "type": "string"})";
    tag.kind = store::MetadefKind::kTag;
    tag.name = "t1";
    ASSERT_TRUE(store_
                    ->create_metadef_namespace(
                        ns, {{"OS::Glance::Image", std::nullopt, std::nullopt, {}, {}}},
                        {object, property, tag})
                    .ok());
    // keystone's credentials (alice's own) and policies (admins').
    ASSERT_TRUE(
        store_->create_credential({"sparecredential", alice, std::nullopt, "totp", "seed"}).ok());
    ASSERT_TRUE(store_->create_identity_policy({"sparepolicy", "application/json", "{}"}).ok());
    ASSERT_TRUE(store_->create_oauth_consumer({"spareconsumer", "s", std::nullopt}).ok());
    ASSERT_TRUE(store_
                    ->create_endpoint_group({"sparegroupofendpoints", "spare", std::nullopt,
                                             std::nullopt, std::nullopt, "public"})
                    .ok());

    // Path parameters: objects of the member (alice) and project demo; admin-only identity
    // routes act on the spare user and project (policy_impl.h's convention).
    values_ = {{"server_id", server.uuid},
               {"image_id", image.id},
               {"name", key.name},
               {"flavor_id", "1"},
               {"key", "hw:cpu_policy"},
               {"id", std::to_string(created->id)},
               {"host", "vmhost1"},
               {"hypervisor_id", std::to_string(host->id)},
               {"role_id", "member"},
               {"domain_id", "default"},
               {"task_id", new_uuid()},
               {"rule_id", new_uuid()},
               {"kind", "orphans"},
               {"network", "private"},
               {"alias", "K2_Grid"},
               {"tag", "t1"},
               {"schema", "image"},
               {"member_id", demo},
               {"action", "disable"},
               {"before", "2026-01-01%2000:00:00"},
               {"request_id", "req-none"},
               {"device_id", "1"},
               {"group_id", group.uuid},
               {"service_id", "spareservice"},
               {"region_id", "spareregion"},
               {"endpoint_id", "spareendpoint"},
               {"namespace", "demo-ns"},
               {"object_name", "o1"},
               {"property_name", "p1"},
               {"tag_name", "t1"},
               {"resource_type", "OS::Glance::Image"},
               {"credential_id", "sparecredential"},
               {"policy_id", "sparepolicy"},
               {"prior_role_id", "sparerole"},
               {"implied_role_id", "spareimplied"},
               {"console_token", "no-such-token"},
               {"endpoint_group_id", "sparegroupofendpoints"},
               {"group", "ldap"},
               {"option", "url"},
               {"consumer_id", "spareconsumer"},
               {"request_token_id", "no-such-request-token"},
               {"access_token_id", "no-such-access-token"},
               {"network_id", "00000000-0000-5000-8000-000000000000"},
               {"address", "192.0.2.7"}};
    self_user_ = alice;
    self_project_ = demo;
    spare_user_ = store_->find_user_by_name("victim", "default")->id;
    spare_project_ = store_->find_project_by_name("spare", "default")->id;
    // A disabled domain and a role of their own for the admin-only domain and role routes (the
    // default domain and the built-in roles cannot be deleted).
    ASSERT_TRUE(store_->create_domain({"sparedomain", "spare-domain", "", false}).ok());
    ASSERT_TRUE(store_->create_role({"sparerole", "spare-role", ""}).ok());
    // The inference rule routes: sparerole implies spareimplied.
    ASSERT_TRUE(store_->create_role({"spareimplied", "spare-implied", ""}).ok());

    tokens_[Persona::kReader] = login("rita", "rita-secret", "demo");
    tokens_[Persona::kMember] = login("alice", "alice-secret", "demo");
    tokens_[Persona::kOtherMember] = login("bob", "bob-secret", "other");
    tokens_[Persona::kService] = login("agent", "agent-secret", "services");
    tokens_[Persona::kAdmin] = login("admin", "admin-secret", "admin");
    subject_ = login("alice", "alice-secret", "demo");  // the token /auth/tokens looks at
    for (const auto& [p, t] : tokens_) ASSERT_FALSE(t.empty()) << persona_name(p);
  }

  // The route's path with its parameters filled in; "" when a parameter is unknown.
  std::string path_of(const RouteInfo& r) {
    std::string out;
    static const std::regex kParam(R"(\{([a-z_]+)\})");
    auto begin = std::sregex_iterator(r.pattern.begin(), r.pattern.end(), kParam);
    size_t last = 0;
    for (auto it = begin; it != std::sregex_iterator(); ++it) {
      out += r.pattern.substr(last, it->position() - last);
      const std::string name = (*it)[1];
      std::string value;
      if (name == "user_id") {
        value = r.policy == "identity:admin" ? spare_user_ : self_user_;
      } else if (name == "project_id") {
        value = r.policy == "identity:admin" ? spare_project_ : self_project_;
      } else if (name == "domain_id" && r.policy == "identity:admin") {
        value = "sparedomain";
      } else if (name == "role_id" && r.policy == "identity:admin") {
        value = "sparerole";
      } else if (name == "group_id" && r.pattern.rfind("/identity/", 0) == 0) {
        value = "sparegroup";  // a keystone group, not one of nova's server groups
      } else if (values_.count(name)) {
        value = values_.at(name);
      } else {
        ADD_FAILURE() << "no value for {" << name << "} in " << r.pattern;
        return "";
      }
      out += value;
      last = it->position() + it->length();
    }
    return out + r.pattern.substr(last);
  }

  // "{}", except where keystone answers an empty body with a 403 of its own, which the matrix
  // could not tell from the policy's: a domain configuration without options.
  static std::string body_of(const RouteInfo& r) {
    if (r.pattern.find("/domains/{domain_id}/config") == std::string::npos) return "{}";
    if (r.pattern.ends_with("{option}")) return R"({"config": {"url": "ldap://rbac"}})";
    return R"({"config": {"ldap": {"url": "ldap://rbac"}}})";
  }

  int call(const RouteInfo& r, Persona p) {
    const std::string path = path_of(r);
    httplib::Headers h = {{"X-Requested-With", "XMLHttpRequest"}, {"X-Subject-Token", subject_}};
    if (p != Persona::kAnonymous) h.emplace("X-Auth-Token", tokens_.at(p));
    httplib::Result res{nullptr, httplib::Error::Unknown};
    const std::string body = body_of(r);
    if (r.method == "GET") res = client_->Get(path, h);
    if (r.method == "HEAD") res = client_->Head(path, h);  // this server serves HEAD routes
    if (r.method == "POST") res = client_->Post(path, h, body, "application/json");
    if (r.method == "PUT") res = client_->Put(path, h, body, "application/json");
    if (r.method == "PATCH") {
      // glance takes only JSON-patch documents (415 before anything else otherwise).
      const bool image = r.pattern.rfind("/image/", 0) == 0;
      res = client_->Patch(
          path, h, image ? "[]" : body,
          image ? "application/openstack-images-v2.1-json-patch" : "application/json");
    }
    if (r.method == "DELETE") res = client_->Delete(path, h);
    return res ? res->status : -1;
  }

  std::map<std::string, std::string> values_;
  std::string self_user_, self_project_, spare_user_, spare_project_, subject_;
  std::map<Persona, std::string> tokens_;
};

TEST_F(RbacMatrixTest, EveryRouteAsEveryPersonaGetsWhatThePolicyTableSays) {
  auto routes = server_->routes();
  ASSERT_GT(routes.size(), 50u);
  // Deletes last, so that what they remove is there for every other route; within a route the
  // member and admin come last (they may remove what the others are refused).
  std::stable_partition(routes.begin(), routes.end(),
                        [](const RouteInfo& r) { return r.method != "DELETE"; });
  const std::vector<Persona> order = {Persona::kAnonymous, Persona::kReader, Persona::kOtherMember,
                                      Persona::kService,   Persona::kMember, Persona::kAdmin};
  int checked = 0;
  for (const auto& r : routes) {
    for (Persona p : order) {
      const std::string_view want = expected_outcome(r, p);
      const int got = call(r, p);
      const std::string where = r.method + " " + r.pattern + " as " + std::string(persona_name(p)) +
                                " (" + r.policy + ")";
      if (want == "ok") {
        EXPECT_TRUE(got != 401 && got != 403 && got >= 200 && got < 500)
            << where << ": expected past the policy, got " << got;
      } else {
        EXPECT_EQ(std::to_string(got), want) << where;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(routes.size() * order.size()));
}

TEST_F(RbacMatrixTest, DocsApiMdShowsTheMatrixOfThePolicyTable) {
  const std::string matrix = policy_matrix_markdown(server_->routes());
  std::ifstream in(kDocs);
  ASSERT_TRUE(in) << kDocs;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  const size_t b = doc.find(kBegin);
  const size_t e = doc.find(kEnd);
  const bool update = std::getenv("GPUCLOUD_UPDATE_DOCS") != nullptr;
  if (update) {
    const std::string block = kBegin + matrix + kEnd;
    if (b != std::string::npos && e != std::string::npos) {
      doc.replace(b, e + kEnd.size() - b, block);
    } else {
      doc += "\n## Who may call what (RBAC matrix)\n\n" + block + "\n";
    }
    std::ofstream(kDocs) << doc;
    GTEST_SKIP() << "rewrote " << kDocs;
  }
  ASSERT_NE(b, std::string::npos) << "docs/api.md has no RBAC matrix; run with "
                                     "GPUCLOUD_UPDATE_DOCS=1";
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(doc.substr(b + kBegin.size(), e - b - kBegin.size()), matrix)
      << "docs/api.md's matrix is not the policy table's; run this test with "
         "GPUCLOUD_UPDATE_DOCS=1 to rewrite it";
}

}  // namespace
}  // namespace gpucloud::api::testing
