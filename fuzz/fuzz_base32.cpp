// base32: decoding arbitrary text never misbehaves; whatever decodes
// re-encodes and decodes to the same bytes; encoding any bytes round-trips.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "twostep/base32.hpp"

using namespace twostep;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto decoded = base32_decode(text);
  if (decoded) {
    FUZZ_CHECK(!decoded->empty() && decoded->size() <= kMaxSecretBytes);
    const SecretBytes encoded = base32_encode(decoded->span());
    auto again = base32_decode(encoded.view());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(constant_time_equal(again->span(), decoded->span()));
  }

  // The raw bytes as a key: encode, then decode must give them back.
  if (size > 0 && size <= kMaxSecretBytes) {
    const SecretBytes encoded = base32_encode({data, size});
    for (std::size_t i = 0; i < encoded.size(); ++i) {
      const char c = static_cast<char>(encoded.data()[i]);
      FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'));
    }
    auto back = base32_decode(encoded.view());
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(back->size() == size);
    FUZZ_CHECK(constant_time_equal(back->span(), {data, size}));
  }
  return 0;
}
