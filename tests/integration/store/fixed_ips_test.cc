// Reserved fixed IPs (schema version 24) on both backends: idempotent reserve and unreserve, per
// network, and listed by network or all together.
#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

using Rows = std::vector<std::pair<std::string, std::string>>;

TEST_P(StoreTest, FixedIpReservationsAreKeptPerNetwork) {
  EXPECT_EQ(*store().list_fixed_ip_reservations(), Rows{});
  ASSERT_TRUE(store().set_fixed_ip_reserved("default", "192.168.122.50", true).ok());
  ASSERT_TRUE(store().set_fixed_ip_reserved("default", "192.168.122.50", true).ok());  // again
  ASSERT_TRUE(store().set_fixed_ip_reserved("default", "192.168.122.7", true).ok());
  ASSERT_TRUE(store().set_fixed_ip_reserved("blue", "192.168.122.50", true).ok());
  EXPECT_EQ(*store().list_fixed_ip_reservations("default"),
            (Rows{{"default", "192.168.122.50"}, {"default", "192.168.122.7"}}));
  EXPECT_EQ(*store().list_fixed_ip_reservations("blue"), (Rows{{"blue", "192.168.122.50"}}));
  EXPECT_EQ(store().list_fixed_ip_reservations()->size(), 3u);
  EXPECT_EQ(*store().list_fixed_ip_reservations("nowhere"), Rows{});

  // Unreserving is per network, and unreserving what is not reserved is no error.
  ASSERT_TRUE(store().set_fixed_ip_reserved("default", "192.168.122.50", false).ok());
  ASSERT_TRUE(store().set_fixed_ip_reserved("default", "192.168.122.50", false).ok());
  EXPECT_EQ(*store().list_fixed_ip_reservations("default"), (Rows{{"default", "192.168.122.7"}}));
  EXPECT_EQ(*store().list_fixed_ip_reservations("blue"), (Rows{{"blue", "192.168.122.50"}}));
}

}  // namespace
}  // namespace gpucloud::store::testing
