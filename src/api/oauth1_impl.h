// Internal to api/: OAuth 1.0a signed requests (RFC 5849), which keystone's OS-OAUTH1 uses for
// its three consumer steps (request token, access token, and getting a keystone token). Only
// HMAC-SHA1, as keystone.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/router_impl.h"

namespace gpucloud::api {

// RFC 5849 3.6: everything but ALPHA, DIGIT, '-', '.', '_' and '~' as %XX (upper case).
std::string oauth_percent_encode(std::string_view in);

// The protocol parameters of an `Authorization: OAuth ...` header (RFC 5849 3.5.1), decoded;
// the error names what is wrong. `realm` is left out.
Result<std::map<std::string, std::string>> parse_oauth_header(std::string_view header);

// The signature base string (RFC 5849 3.4.1): the method, the base string URI and the
// normalized parameters (every parameter but oauth_signature, sorted).
std::string oauth_base_string(std::string_view method, std::string_view base_uri,
                              std::vector<std::pair<std::string, std::string>> params);

// HMAC-SHA1 of `text` with the key "consumer_secret&token_secret" (each percent-encoded), in
// base64: the oauth_signature of RFC 5849 3.4.2.
std::string oauth_hmac_sha1(std::string_view consumer_secret, std::string_view token_secret,
                            std::string_view text);

// A request signed by a consumer: its protocol parameters and every parameter the signature
// covers (the header's, the query's, a form body's).
struct OAuthRequest {
  std::map<std::string, std::string> oauth;
  std::vector<std::pair<std::string, std::string>> params;
  std::string get(const std::string& name) const {
    auto it = oauth.find(name);
    return it == oauth.end() ? "" : it->second;
  }
};

// Reads the request's OAuth parameters: 401 without an OAuth Authorization header, 400 when
// oauth_consumer_key, oauth_signature_method (HMAC-SHA1 only), oauth_signature, oauth_timestamp
// or oauth_nonce is missing or bad, 401 when the timestamp is more than 10 minutes off.
Result<OAuthRequest> read_oauth_request(const HttpRequest& req);

// Whether the signature matches for the URL the client used: the server's public base URL or
// the Host it was sent to, each with the request's path.
bool oauth_signature_matches(const OAuthRequest& r, const HttpRequest& req,
                             const std::string& base_url, std::string_view consumer_secret,
                             std::string_view token_secret);

}  // namespace gpucloud::api
