// Reads a guest's firewall back from its nwfilter. The filter is ours (nwfilter_xml.cc wrote it)
// and libvirt gives it back as it was defined, attribute for attribute (checked on libvirt 9 by
// LibvirtVm.FirewallIsAnNwfilterRemovedWithTheGuest), so a few regular expressions over the
// rules suffice; anything else at the group rules' priority is refused rather than guessed.
#include "agent/nwfilter_read.h"

#include <map>
#include <regex>
#include <set>

namespace gpucloud::agent {
namespace {

// nwfilter_xml.cc writes the group rules, and only them, at this priority.
constexpr int kGroupRulePriority = 200;

std::map<std::string, std::string> attributes(const std::string& text) {
  static const std::regex kAttr(R"re(([A-Za-z_-]+)\s*=\s*(?:'([^']*)'|"([^"]*)"))re");
  std::map<std::string, std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), kAttr), end; it != end; ++it) {
    out[(*it)[1].str()] = (*it)[2].matched ? (*it)[2].str() : (*it)[3].str();
  }
  return out;
}

Result<int> number(const std::map<std::string, std::string>& a, const std::string& key,
                   const std::string& where) {
  auto it = a.find(key);
  if (it == a.end()) return -1;
  try {
    size_t used = 0;
    int v = std::stoi(it->second, &used);
    if (used == it->second.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  return Error::invalid(where + ": " + key + "='" + it->second + "' is not a number");
}

}  // namespace

Result<compute::Firewall> firewall_from_nwfilter_xml(const std::string& xml) {
  static const std::regex kRule(R"re(<rule\b([^>]*[^/])?>\s*<([a-z0-9-]+)\b([^>]*?)/?>)re");
  static const std::map<std::string, std::string> kProtocol = {
      {"tcp", "tcp"},   {"tcp-ipv6", "tcp"}, {"udp", "udp"}, {"udp-ipv6", "udp"},
      {"icmp", "icmp"}, {"icmpv6", "icmp"},  {"all", ""},    {"all-ipv6", ""}};
  compute::Firewall fw;
  int index = 0;
  for (std::sregex_iterator it(xml.begin(), xml.end(), kRule), end; it != end; ++it, ++index) {
    const auto rule = attributes((*it)[1].str());
    const std::string where = "nwfilter rule " + std::to_string(index);
    auto get = [&](const char* k) {
      auto f = rule.find(k);
      return f == rule.end() ? std::string() : f->second;
    };
    if (get("action") != "accept" || get("direction") != "in" ||
        get("priority") != std::to_string(kGroupRulePriority)) {
      continue;
    }
    const std::string element = (*it)[2].str();
    auto proto = kProtocol.find(element);
    if (proto == kProtocol.end()) {
      return Error::invalid(where + ": <" + element + "> is not an element gpucloud writes");
    }
    const auto match = attributes((*it)[3].str());
    for (const auto& [key, value] : match) {
      static const std::set<std::string> kKnown = {"srcipaddr",  "srcipmask", "dstportstart",
                                                   "dstportend", "type",      "code"};
      if (!kKnown.count(key)) {
        return Error::invalid(where + ": attribute " + key + " is not one gpucloud writes");
      }
    }
    compute::FirewallRule r;
    r.protocol = proto->second;
    auto addr = match.find("srcipaddr");
    auto mask = match.find("srcipmask");
    if (addr == match.end() || mask == match.end()) {
      return Error::invalid(where + ": srcipaddr and srcipmask are required");
    }
    r.cidr = addr->second + "/" + mask->second;
    if (auto c = parse_cidr(r.cidr); !c.ok()) {
      return Error::invalid(where + ": " + c.error().message);
    }
    const bool ports = r.protocol == "tcp" || r.protocol == "udp";
    auto from = number(match, ports ? "dstportstart" : "type", where);
    if (!from.ok()) return from.error();
    auto to = number(match, ports ? "dstportend" : "code", where);
    if (!to.ok()) return to.error();
    r.from_port = *from;
    r.to_port = *to;
    fw.ingress.push_back(std::move(r));
  }
  return fw;
}

}  // namespace gpucloud::agent
