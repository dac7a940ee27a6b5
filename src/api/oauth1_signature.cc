// OAuth 1.0a signatures (RFC 5849 sections 3.4-3.6) for keystone's OS-OAUTH1 (identity_oauth1.cc).
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>

#include "api/http_message.h"
#include "api/oauth1_impl.h"

namespace gpucloud::api {
namespace {

// A signature more than this far from the server's clock is refused; nonces are kept longer
// (store delete_expired_tokens), so a replay within the window is caught.
constexpr std::chrono::seconds kOAuthClockSkew{600};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// RFC 5849 3.4.1.2: scheme and host in lower case, the default port left out, no query.
std::string base_string_uri(const std::string& scheme, const std::string& authority,
                            const std::string& path) {
  std::string host = lower(authority);
  const std::string s = lower(scheme);
  if ((s == "http" && host.size() > 3 && host.ends_with(":80")) ||
      (s == "https" && host.size() > 4 && host.ends_with(":443"))) {
    host.erase(host.rfind(':'));
  }
  return s + "://" + host + path;
}

}  // namespace

std::string oauth_percent_encode(std::string_view in) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<std::map<std::string, std::string>> parse_oauth_header(std::string_view h) {
  auto bad = [](const std::string& why) {
    return Error::invalid("Invalid OAuth Authorization header: " + why + ".");
  };
  if (h.size() < 6 || lower(std::string(h.substr(0, 6))) != "oauth ") return bad("not OAuth");
  std::map<std::string, std::string> out;
  size_t i = 6;
  while (i < h.size()) {
    while (i < h.size() && (h[i] == ' ' || h[i] == ',' || h[i] == '\t')) ++i;
    if (i >= h.size()) break;
    const size_t eq = h.find('=', i);
    if (eq == std::string_view::npos) return bad("a parameter without a value");
    std::string name = percent_decode(h.substr(i, eq - i), false);
    if (eq + 1 >= h.size() || h[eq + 1] != '"') return bad("the value of " + name + " is unquoted");
    const size_t close = h.find('"', eq + 2);
    if (close == std::string_view::npos) return bad("the value of " + name + " is unterminated");
    std::string value = percent_decode(h.substr(eq + 2, close - eq - 2), false);
    if (name != "realm" && !out.emplace(name, std::move(value)).second) {
      return bad(name + " is given twice");
    }
    i = close + 1;
  }
  return out;
}

std::string oauth_base_string(std::string_view method, std::string_view base_uri,
                              std::vector<std::pair<std::string, std::string>> params) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (auto& [k, v] : params) {
    if (k == "oauth_signature") continue;
    encoded.emplace_back(oauth_percent_encode(k), oauth_percent_encode(v));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string normalized;
  for (const auto& [k, v] : encoded) normalized += (normalized.empty() ? "" : "&") + k + "=" + v;
  std::string m(method);
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::toupper(c); });
  return m + "&" + oauth_percent_encode(base_uri) + "&" + oauth_percent_encode(normalized);
}

std::string oauth_hmac_sha1(std::string_view consumer_secret, std::string_view token_secret,
                            std::string_view text) {
  const std::string key =
      oauth_percent_encode(consumer_secret) + "&" + oauth_percent_encode(token_secret);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  std::string out(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), mac, len, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

Result<OAuthRequest> read_oauth_request(const HttpRequest& req) {
  const std::string header = req.header("Authorization");
  if (header.empty())
    return unauthorized("An OAuth1 signed request is required (no Authorization header).");
  auto oauth = parse_oauth_header(header);
  if (!oauth.ok()) return unauthorized(oauth.error().message);
  OAuthRequest r;
  r.oauth = std::move(*oauth);
  for (const char* required : {"oauth_consumer_key", "oauth_signature_method", "oauth_signature",
                               "oauth_timestamp", "oauth_nonce"}) {
    if (r.get(required).empty()) {
      return bad_request("Invalid OAuth request: " + std::string(required) + " is missing.");
    }
  }
  if (r.get("oauth_signature_method") != "HMAC-SHA1") {
    return bad_request("Invalid OAuth request: oauth_signature_method must be HMAC-SHA1.");
  }
  const std::string ts = r.get("oauth_timestamp");
  if (ts.size() > 12 ||
      !std::all_of(ts.begin(), ts.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return bad_request("Invalid OAuth request: oauth_timestamp is not a number of seconds.");
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch());
  if (std::chrono::abs(now - std::chrono::seconds(std::stoll(ts))) > kOAuthClockSkew) {
    return unauthorized("The OAuth request's oauth_timestamp is more than 10 minutes off.");
  }
  for (const auto& [k, v] : r.oauth) r.params.emplace_back(k, v);
  const auto q = req.target.find('?');
  if (q != std::string::npos) {
    std::multimap<std::string, std::string> query;
    parse_query(std::string_view(req.target).substr(q + 1), query);
    for (const auto& [k, v] : query) r.params.emplace_back(k, v);
  }
  if (req.header("Content-Type").starts_with("application/x-www-form-urlencoded")) {
    std::multimap<std::string, std::string> form;
    parse_query(req.body, form);
    for (const auto& [k, v] : form) r.params.emplace_back(k, v);
  }
  return r;
}

bool oauth_signature_matches(const OAuthRequest& r, const HttpRequest& req,
                             const std::string& base_url, std::string_view consumer_secret,
                             std::string_view token_secret) {
  const std::string path = req.target.substr(0, req.target.find('?'));
  const auto scheme_end = base_url.find("://");
  if (scheme_end == std::string::npos) return false;
  const std::string scheme = base_url.substr(0, scheme_end);
  const std::string rest = base_url.substr(scheme_end + 3);
  const std::string authority = rest.substr(0, rest.find('/'));
  // The public URL's path prefix, if the server is published below one ("https://x/cloud").
  const std::string prefix = rest.find('/') == std::string::npos ? "" : rest.substr(rest.find('/'));
  std::vector<std::string> uris = {base_string_uri(scheme, authority, prefix + path)};
  if (const std::string host = req.header("Host"); !host.empty()) {
    uris.push_back(base_string_uri(scheme, host, path));
  }
  const std::string given = r.get("oauth_signature");
  for (const auto& uri : uris) {
    const std::string want = oauth_hmac_sha1(consumer_secret, token_secret,
                                             oauth_base_string(req.method, uri, r.params));
    if (want.size() == given.size() && sodium_memcmp(want.data(), given.data(), want.size()) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace gpucloud::api
