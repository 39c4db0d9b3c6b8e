// Memory for secrets: seeds, codes, backup codes, host secrets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "twostep/result.hpp"

namespace twostep {

// Move-only byte buffer that wipes itself (OPENSSL_cleanse) when destroyed or
// reassigned. Grows only through append(), which wipes the old allocation.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size);             // zero-filled
  SecretBytes(const std::uint8_t* data, std::size_t size);
  static SecretBytes from_string(std::string_view text);
  ~SecretBytes();

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // Explicit copy, so copies of secrets are visible in the code.
  SecretBytes clone() const;

  std::uint8_t* data() noexcept { return data_; }
  const std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::uint8_t> span() const noexcept { return {data_, size_}; }
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  void append(std::string_view text);
  void append(std::uint8_t byte);
  void clear() noexcept;  // wipes and frees

 private:
  void reserve(std::size_t capacity);
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// Constant-time equality (CRYPTO_memcmp). Lengths are not secret: different
// lengths compare unequal immediately.
bool constant_time_equal(std::span<const std::uint8_t> a,
                         std::span<const std::uint8_t> b) noexcept;
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// Wipe any buffer (OPENSSL_cleanse).
void wipe(void* data, std::size_t size) noexcept;

// Fill with bytes from the OS CSPRNG (OpenSSL RAND_bytes, seeded from getrandom).
Result<SecretBytes> random_secret(std::size_t size);

}  // namespace twostep
