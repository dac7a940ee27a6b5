// Console tokens (store.h's ConsoleToken): rows keyed by the token's hash, pruned as new ones are
// made, so that a busy cloud keeps only the tokens that can still open a console.
#include <string>

#include "store/store_impl.h"

namespace gpucloud::store {

Status Store::create_console_token(const ConsoleToken& t) {
  return impl_->write(
      [&](soci::session& sql) {
        const std::string now = format_time(std::chrono::system_clock::now());
        const std::string expires = format_time(t.expires_at);
        sql << "DELETE FROM console_auth_tokens WHERE expires_at < :now", soci::use(now);
        sql << "INSERT INTO console_auth_tokens (token_hash, instance_uuid, console_type, host, "
               "console_host, console_port, expires_at) VALUES (:h, :i, :t, :host, :ch, :cp, :e)",
            soci::use(t.token_hash), soci::use(t.instance_uuid), soci::use(t.console_type),
            soci::use(t.host), soci::use(t.console_host), soci::use(t.console_port),
            soci::use(expires);
      },
      "creating a console token for instance " + t.instance_uuid);
}

Result<ConsoleToken> Store::get_console_token(const std::string& token_hash, TimePoint now) {
  auto found = impl_->read<std::optional<ConsoleToken>>(
      [&](soci::session& sql) -> std::optional<ConsoleToken> {
        ConsoleToken t;
        std::string expires;
        sql << "SELECT instance_uuid, console_type, host, console_host, console_port, expires_at "
               "FROM console_auth_tokens WHERE token_hash = :h",
            soci::use(token_hash), soci::into(t.instance_uuid), soci::into(t.console_type),
            soci::into(t.host), soci::into(t.console_host), soci::into(t.console_port),
            soci::into(expires);
        if (!sql.got_data()) return std::nullopt;
        t.token_hash = token_hash;
        t.expires_at = parse_time(expires);
        return t;
      },
      "reading a console token");
  if (!found.ok()) return found.error();
  // The same answer for unknown and expired: the caller learns nothing about other tokens.
  if (!*found || (*found)->expires_at <= now) {
    return Error::not_found("The console token is invalid or has expired.");
  }
  return std::move(**found);
}

Status Store::delete_console_tokens(const std::string& instance_uuid) {
  return impl_->write(
      [&](soci::session& sql) {
        sql << "DELETE FROM console_auth_tokens WHERE instance_uuid = :i", soci::use(instance_uuid);
      },
      "deleting the console tokens of instance " + instance_uuid);
}

}  // namespace gpucloud::store
