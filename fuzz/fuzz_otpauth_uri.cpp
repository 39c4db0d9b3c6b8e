// otpauth:// URIs built from arbitrary tokens and labels are plain printable
// ASCII (no space, no control, nothing above 0x7e) with exactly one
// issuer/account separator at most, and carry the key in canonical base32.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "twostep/base32.hpp"
#include "twostep/otpauth_uri.hpp"

using namespace twostep;

namespace {

// Consumes the input front to back.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t byte() { return size_ > 0 ? (--size_, *data_++) : 0; }
  std::string_view chunk() {
    const std::size_t length = byte() % 64;
    const std::size_t take = length < size_ ? length : size_;
    const std::string_view out(reinterpret_cast<const char*>(data_), take);
    data_ += take;
    size_ -= take;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  Token token;
  const std::uint8_t shape = in.byte();
  token.kind = (shape & 1) != 0 ? TokenKind::hotp : TokenKind::totp;
  token.algorithm = static_cast<HashAlgorithm>((shape >> 1) % 3);
  token.digits = 5u + (shape >> 3) % 5;  // 5..9: out-of-range values included
  token.period = static_cast<std::uint32_t>(in.byte()) * 16u;
  token.counter = std::uint64_t{in.byte()} << (in.byte() % 57);
  const std::string_view key = in.chunk();
  token.key = SecretBytes(reinterpret_cast<const std::uint8_t*>(key.data()), key.size());
  const std::string issuer(in.chunk());
  const std::string account(in.chunk());

  auto uri = build_otpauth_uri(token, UriLabel{issuer, account});
  if (!uri) return 0;
  const std::string_view text = uri->view();
  FUZZ_CHECK(text.starts_with("otpauth://totp/") || text.starts_with("otpauth://hotp/"));
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    FUZZ_CHECK(byte > 0x20 && byte < 0x7f);
  }
  const std::size_t query = text.find('?');
  FUZZ_CHECK(query != std::string_view::npos);
  const std::string_view label = text.substr(15, query - 15);
  FUZZ_CHECK(label.find(':') == label.rfind(':'));  // at most one separator
  FUZZ_CHECK(issuer.empty() || label.find(':') != std::string_view::npos);
  const SecretBytes encoded = base32_encode(token.key.span());
  const std::string secret_param = "secret=" + std::string(encoded.view());
  FUZZ_CHECK(text.find(secret_param) != std::string_view::npos);
  return 0;
}
