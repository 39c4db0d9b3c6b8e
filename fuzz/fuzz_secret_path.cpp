// The secret= / --secret-file path template with the account it is expanded
// for (core/files/src/secret_path.cpp): the template comes from a PAM file,
// the user name from the login (pam_get_user), the home from the passwd entry.
//
// Input: template, user and home separated by NUL bytes.
// Invariants: expand accepts only templates validate accepts, user names
// without '/' that are not "", "." or ".." and absolute homes; an expanded
// path is absolute, at most kMaxSecretPathLength bytes, and every '/' in it
// comes from the template or the home, never from the user name; the user
// name appears where %u / ${USER} were; a template without expansions
// expands to itself.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "twostep/secret_path.hpp"

using namespace twostep;

namespace {

std::string_view next_field(std::string_view& rest) {
  const auto nul = rest.find('\0');
  const std::string_view field = rest.substr(0, nul);
  rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  return field;
}

std::size_t slashes(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '/'));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string_view path_template = next_field(rest);
  const std::string_view user = next_field(rest);
  const std::string_view home = next_field(rest);
  const bool valid = validate_secret_path_template(path_template).ok();
  const auto expanded = expand_secret_path(path_template, PathContext{user, home});
  const bool safe_user = !user.empty() && user != "." && user != ".." &&
                         user.find('/') == std::string_view::npos;
  if (!valid || !safe_user || !home.starts_with('/')) {
    FUZZ_CHECK(!expanded.ok());
    return 0;
  }
  if (!expanded) {
    // The only other refusal: the expansion grew past the limit.
    FUZZ_CHECK(expanded.error().message == "expanded path too long");
    return 0;
  }
  const std::string& path = *expanded;
  FUZZ_CHECK(path.starts_with('/'));
  FUZZ_CHECK(path.size() <= kMaxSecretPathLength);
  // Count what the template contributes: each home expansion brings the
  // home's slashes, the user none, other characters themselves.
  std::size_t homes = path_template.starts_with('~') ? 1 : 0;
  std::size_t users = 0;
  std::size_t literal_slashes = 0;
  for (std::size_t i = homes; i < path_template.size();) {
    const std::string_view at = path_template.substr(i);
    if (at.starts_with("${HOME}")) { ++homes; i += 7; }
    else if (at.starts_with("${USER}")) { ++users; i += 7; }
    else if (at.starts_with("%h")) { ++homes; i += 2; }
    else if (at.starts_with("%u")) { ++users; i += 2; }
    else if (at.starts_with("%%")) { i += 2; }
    else { literal_slashes += at.front() == '/'; ++i; }
  }
  FUZZ_CHECK(slashes(path) == literal_slashes + homes * slashes(home));
  if (homes == 0 && users == 0 && path_template.find('%') == std::string_view::npos) {
    FUZZ_CHECK(path == path_template);
  }
  if (users > 0) FUZZ_CHECK(path.find(user) != std::string::npos);
  return 0;
}
