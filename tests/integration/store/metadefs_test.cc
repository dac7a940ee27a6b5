// glance's metadata definitions in the store (schema version 14), on both backends: a namespace
// is created with what it holds or not at all, is renamed in place, keeps its items and
// associations through the rename, refuses deletion while protected and takes everything along
// when deleted; names are unique per namespace and kind.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

MetadefNamespace ns_named(const std::string& name, bool is_protected = false) {
  MetadefNamespace ns;
  ns.name = name;
  ns.owner = "p-admin";
  ns.is_protected = is_protected;
  return ns;
}

MetadefItem item(MetadefKind kind, const std::string& name) {
  MetadefItem i;
  i.kind = kind;
  i.name = name;
  return i;
}

TEST_P(StoreTest, MetadefResourceTypesAreSeeded) {
  auto types = store().list_metadef_resource_types();
  ASSERT_TRUE(types.ok()) << types.error().message;
  std::vector<std::string> names;
  for (const auto& t : *types) {
    names.push_back(t.name);
    EXPECT_TRUE(t.is_protected) << t.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"OS::Cinder::Volume", "OS::Glance::Image",
                                             "OS::Nova::Aggregate", "OS::Nova::Flavor",
                                             "OS::Nova::Server"}));
}

TEST_P(StoreTest, MetadefNamespaceIsCreatedWithItsContentsOrNotAtAll) {
  MetadefAssociation image{"OS::Glance::Image", "hw_", std::nullopt, {}, {}};
  ASSERT_TRUE(store()
                  .create_metadef_namespace(ns_named("ns"), {image},
                                            {item(MetadefKind::kObject, "o"),
                                             item(MetadefKind::kTag, "o")})  // kinds apart
                  .ok());
  auto assocs = store().list_metadef_associations("ns");
  ASSERT_TRUE(assocs.ok());
  ASSERT_EQ(assocs->size(), 1u);
  EXPECT_EQ((*assocs)[0].prefix, "hw_");
  EXPECT_FALSE((*assocs)[0].properties_target.has_value());

  // Two tags of one name: the whole create fails, and no namespace is left.
  auto dup = store().create_metadef_namespace(
      ns_named("half"), {}, {item(MetadefKind::kTag, "t"), item(MetadefKind::kTag, "t")});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_EQ(store().get_metadef_namespace("half").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().create_metadef_namespace(ns_named("ns"), {}, {}).error().code,
            ErrorCode::kConflict);
}

TEST_P(StoreTest, MetadefNamespaceRenameKeepsWhatItHolds) {
  ASSERT_TRUE(store().create_metadef_namespace(ns_named("old"), {}, {}).ok());
  ASSERT_TRUE(store().create_metadef_namespace(ns_named("taken"), {}, {}).ok());
  ASSERT_TRUE(
      store()
          .add_metadef_items("old", MetadefKind::kProperty, {item(MetadefKind::kProperty, "p")})
          .ok());
  MetadefNamespace renamed = ns_named("new");
  renamed.description = "moved";
  renamed.is_public = true;
  EXPECT_EQ(store().update_metadef_namespace("old", ns_named("taken")).error().code,
            ErrorCode::kConflict);
  ASSERT_TRUE(store().update_metadef_namespace("old", renamed).ok());
  auto got = store().get_metadef_namespace("new");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->description, "moved");
  EXPECT_TRUE(got->is_public);
  auto props = store().list_metadef_items("new", MetadefKind::kProperty);
  ASSERT_TRUE(props.ok());
  ASSERT_EQ(props->size(), 1u);
  EXPECT_EQ(store().get_metadef_namespace("old").error().code, ErrorCode::kNotFound);
}

TEST_P(StoreTest, MetadefItemsAreRenamedReplacedAndDeleted) {
  ASSERT_TRUE(store().create_metadef_namespace(ns_named("ns"), {}, {}).ok());
  ASSERT_TRUE(store()
                  .add_metadef_items("ns", MetadefKind::kTag,
                                     {item(MetadefKind::kTag, "a"), item(MetadefKind::kTag, "b")})
                  .ok());
  // Replacing puts the new list in place of the old one, in one transaction.
  ASSERT_TRUE(store()
                  .add_metadef_items("ns", MetadefKind::kTag, {item(MetadefKind::kTag, "c")}, true)
                  .ok());
  auto tags = store().list_metadef_items("ns", MetadefKind::kTag);
  ASSERT_TRUE(tags.ok());
  ASSERT_EQ(tags->size(), 1u);
  EXPECT_EQ((*tags)[0].name, "c");

  ASSERT_TRUE(store().update_metadef_item("ns", "c", item(MetadefKind::kTag, "d")).ok());
  EXPECT_EQ(store().get_metadef_item("ns", MetadefKind::kTag, "c").error().code,
            ErrorCode::kNotFound);
  EXPECT_TRUE(store().get_metadef_item("ns", MetadefKind::kTag, "d").ok());
  EXPECT_EQ(store().delete_metadef_item("ns", MetadefKind::kTag, "c").error().code,
            ErrorCode::kNotFound);
  EXPECT_TRUE(store().delete_metadef_item("ns", MetadefKind::kTag, "d").ok());
  EXPECT_EQ(store().list_metadef_items("nowhere", MetadefKind::kTag).error().code,
            ErrorCode::kNotFound);
}

TEST_P(StoreTest, ProtectedMetadefNamespaceStaysAndDeletedOneTakesItsContents) {
  MetadefAssociation flavor{"OS::Nova::Flavor", std::nullopt, std::nullopt, {}, {}};
  ASSERT_TRUE(store()
                  .create_metadef_namespace(ns_named("keep", true), {flavor},
                                            {item(MetadefKind::kObject, "o")})
                  .ok());
  EXPECT_EQ(store().delete_metadef_namespace("keep").error().code, ErrorCode::kForbidden);
  EXPECT_EQ(store().delete_metadef_items("keep", MetadefKind::kObject).error().code,
            ErrorCode::kForbidden);
  EXPECT_TRUE(store().get_metadef_item("keep", MetadefKind::kObject, "o").ok());

  ASSERT_TRUE(store().update_metadef_namespace("keep", ns_named("keep", false)).ok());
  ASSERT_TRUE(store().delete_metadef_namespace("keep").ok());
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM metadef_items"), 0);
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM metadef_associations"), 0);
  // An operator's own resource type is created by its first association, and stays.
  ASSERT_TRUE(store().create_metadef_namespace(ns_named("mine"), {}, {}).ok());
  ASSERT_TRUE(
      store()
          .add_metadef_association("mine", {"Site::Thing", std::nullopt, std::nullopt, {}, {}})
          .ok());
  EXPECT_EQ(
      store()
          .add_metadef_association("mine", {"Site::Thing", std::nullopt, std::nullopt, {}, {}})
          .error()
          .code,
      ErrorCode::kConflict);
  EXPECT_EQ(db().count("SELECT COUNT(*) FROM metadef_resource_types WHERE name = 'Site::Thing'"),
            1);
}

}  // namespace
}  // namespace gpucloud::store::testing
