// twostep_push_locate (twostep_push.h): where a client address is, for the
// phone. In the shared push client only: pam_twostep reaches it through
// dlopen when a push is sent, so a login by code maps neither libcurl nor
// libmaxminddb, and twostep-enroll (which links the static client) needs
// neither.
#include <arpa/inet.h>
#include <maxminddb.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>

#include "twostep_push.h"

namespace {

enum class Scope { internet, this_computer, this_network };

Scope scope_of_v4(const unsigned char* a) {
  if (a[0] == 127) return Scope::this_computer;
  const bool private_range = a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
                             (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254);
  return private_range ? Scope::this_network : Scope::internet;
}

// Loopback, RFC 1918 and link-local (IPv4); ::1, fc00::/7 and fe80::/10
// (IPv6); an IPv4-mapped IPv6 address as its IPv4 address.
Scope scope_of(const std::string& address) {
  std::array<unsigned char, 16> a{};
  if (::inet_pton(AF_INET, address.c_str(), a.data()) == 1) return scope_of_v4(a.data());
  if (::inet_pton(AF_INET6, address.c_str(), a.data()) != 1) return Scope::internet;
  static constexpr std::array<unsigned char, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.data(), kMapped.data(), kMapped.size()) == 0) return scope_of_v4(a.data() + 12);
  static constexpr std::array<unsigned char, 16> kLoopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                           0, 0, 0, 0, 0, 0, 0, 1};
  if (a == kLoopback) return Scope::this_computer;
  if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)) return Scope::this_network;
  return Scope::internet;
}

// The first of the paths that holds a UTF-8 string, or "".
std::string first_string(MMDB_entry_s& entry,
                         std::initializer_list<std::initializer_list<const char*>> paths) {
  for (const auto& path : paths) {
    std::array<const char*, 4> keys{};
    std::size_t n = 0;
    for (const char* key : path) keys[n++] = key;
    keys[n] = nullptr;
    MMDB_entry_data_s data{};
    if (MMDB_aget_value(&entry, &data, keys.data()) != MMDB_SUCCESS || !data.has_data ||
        data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size == 0) {
      continue;
    }
    return std::string(data.utf8_string, data.data_size);
  }
  return {};
}

// "city, country" or what the database has: GeoIP2/GeoLite2 and DB-IP
// name both in `names`; ip-location-db has `city` and `country_code`.
int look_up(const char* database, const std::string& address, std::string& place,
            std::string& why) {
  MMDB_s db{};
  if (const int status = MMDB_open(database, MMDB_MODE_MMAP, &db); status != MMDB_SUCCESS) {
    why = std::string("cannot open the location database: ") + MMDB_strerror(status);
    return TWOSTEP_PUSH_UNAVAILABLE;
  }
  int gai_error = 0;
  int mmdb_error = 0;
  MMDB_lookup_result_s found = MMDB_lookup_string(&db, address.c_str(), &gai_error, &mmdb_error);
  if (gai_error == 0 && mmdb_error == MMDB_SUCCESS && found.found_entry) {
    const std::string city = first_string(found.entry, {{"city", "names", "en"}, {"city"}});
    const std::string country = first_string(
        found.entry, {{"country", "names", "en"}, {"country", "iso_code"}, {"country_code"}});
    place = city.empty() ? country : country.empty() ? city : city + ", " + country;
  }
  MMDB_close(&db);
  return TWOSTEP_PUSH_OK;
}

void copy_out(std::string_view text, char* out, std::size_t out_size) {
  const std::size_t n = std::min(text.size(), out_size - 1);
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int twostep_push_locate(
    const char* database, const char* address, char* out, size_t out_size) {
  if (out == nullptr || out_size == 0) return TWOSTEP_PUSH_INVALID;
  out[0] = '\0';
  if (address == nullptr) return TWOSTEP_PUSH_INVALID;
  try {
    const std::string text(address);
    switch (scope_of(text)) {
      case Scope::this_computer: copy_out("this computer", out, out_size); return TWOSTEP_PUSH_OK;
      case Scope::this_network: copy_out("this network", out, out_size); return TWOSTEP_PUSH_OK;
      case Scope::internet: break;
    }
    if (database == nullptr) return TWOSTEP_PUSH_OK;
    std::string place;
    std::string why;
    const int rc = look_up(database, text, place, why);
    copy_out(rc == TWOSTEP_PUSH_OK ? place : why, out, out_size);
    return rc;
  } catch (...) {
    return TWOSTEP_PUSH_UNAVAILABLE;
  }
}
