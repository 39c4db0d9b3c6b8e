// The host secret file (/etc/twostep/push.secret, twostep-push.conf(5)) as
// the module reads it: parse_host_secret, the text half of read_host_secret
// (core/push/src/push_login.cpp).
//
// Invariants: a refusal is malformed and says only which file and what it
// must hold (never the text: it may be a secret); an accepted secret is 32
// bytes whose canonical b64u is on the first line, and written back in both
// documented forms (bare, `host_secret = VALUE`, with CRLF and more lines
// after it) it parses to the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "twostep/base64url.hpp"
#include "twostep/push_login.hpp"

using namespace twostep;
using namespace twostep::push;

namespace {

bool same(const SecretBytes& a, const SecretBytes& b) {
  return a.size() == b.size() && std::equal(a.span().begin(), a.span().end(), b.span().begin());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto secret = parse_host_secret(text, "F");
  if (!secret) {
    FUZZ_CHECK(secret.error().code == ErrorCode::malformed);
    FUZZ_CHECK(secret.error().message == "host secret F: must be one line, b64u of 32 bytes");
    return 0;
  }
  FUZZ_CHECK(secret->size() == kHostSecretBytes);
  const std::string encoded = b64u_encode(secret->span());
  FUZZ_CHECK(text.substr(0, text.find('\n')).find(encoded) != std::string_view::npos);
  for (const std::string& form : {encoded, encoded + "\n", "host_secret = " + encoded + "\r\n# more\n",
                                  "host_secret=" + encoded, " \t" + encoded + " \r\n"}) {
    const auto again = parse_host_secret(form, "F");
    FUZZ_CHECK(again.ok() && same(*again, *secret));
  }
  return 0;
}
