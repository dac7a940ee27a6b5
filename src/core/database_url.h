// A database URL in SQLAlchemy's form, as nova's `[database] connection` and the Cloud
// Controller's `openstack.gpu_query` write it: `mysql://cc:PW@openstack_host`,
// `mysql+pymysql://u:p@h:3306/nova?charset=utf8`, `sqlite:///relative.db`, `sqlite:////abs.db`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace gpucloud {

class DatabaseUrl {
 public:
  // Parse errors never contain the password (nor the whole URL, which may hold it).
  static Result<DatabaseUrl> parse(std::string_view text);

  const std::string& dialect() const { return dialect_; }  // "mysql", "sqlite", ...
  const std::string& driver() const { return driver_; }    // "pymysql" or "" (the default)
  const std::string& user() const { return user_; }        // percent-decoded
  // Percent-decoded. Callers hand it to the database client only; never print or log it.
  const std::string& password() const { return password_; }
  bool has_password() const { return has_password_; }
  const std::string& host() const { return host_; }
  std::optional<uint16_t> port() const { return port_; }
  // For sqlite: the file path ("" = in-memory). Otherwise the database name ("" = none given).
  const std::string& database() const { return database_; }
  // Query parameters in order, percent-decoded (`?charset=utf8`).
  const std::vector<std::pair<std::string, std::string>>& query() const { return query_; }

  bool is_sqlite() const { return dialect_ == "sqlite"; }
  bool is_mysql() const { return dialect_ == "mysql" || dialect_ == "mariadb"; }

  // The URL with the password shown as `***`: safe to print and log.
  std::string redacted() const;
  // The URL exactly as given, password included: for the database client only.
  const std::string& text() const { return text_; }

 private:
  std::string dialect_, driver_, user_, password_, host_, database_;
  std::string text_;
  bool has_password_ = false;
  std::optional<uint16_t> port_;
  std::vector<std::pair<std::string, std::string>> query_;
};

}  // namespace gpucloud
