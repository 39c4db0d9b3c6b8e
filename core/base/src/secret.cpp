#include "twostep/secret.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <climits>
#include <cstring>
#include <new>
#include <utility>

namespace twostep {

SecretBytes::SecretBytes(std::size_t size) {
  reserve(size);
  size_ = size;
}

SecretBytes::SecretBytes(const std::uint8_t* data, std::size_t size) {
  reserve(size);
  if (size != 0) std::memcpy(data_, data, size);
  size_ = size;
}

SecretBytes SecretBytes::from_string(std::string_view text) {
  SecretBytes out;
  out.append(text);
  return out;
}

SecretBytes::~SecretBytes() { clear(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    clear();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

SecretBytes SecretBytes::clone() const { return SecretBytes(data_, size_); }

// Grows to at least `capacity`, zero-filled; the old allocation is wiped
// before it is freed so no stale copy of the secret stays on the heap.
void SecretBytes::reserve(std::size_t capacity) {
  if (capacity <= capacity_) return;
  auto* fresh = new std::uint8_t[capacity]();
  if (size_ != 0) std::memcpy(fresh, data_, size_);
  if (data_ != nullptr) {
    wipe(data_, capacity_);
    delete[] data_;
  }
  data_ = fresh;
  capacity_ = capacity;
}

void SecretBytes::append(std::string_view text) {
  if (text.empty()) return;
  if (text.size() > capacity_ - size_) {
    std::size_t wanted = size_ + text.size();
    std::size_t doubled = capacity_ < 16 ? 16 : capacity_ * 2;
    reserve(wanted > doubled ? wanted : doubled);
  }
  std::memcpy(data_ + size_, text.data(), text.size());
  size_ += text.size();
}

void SecretBytes::append(std::uint8_t byte) {
  const char c = static_cast<char>(byte);
  append(std::string_view(&c, 1));
}

void SecretBytes::clear() noexcept {
  if (data_ != nullptr) {
    wipe(data_, capacity_);
    delete[] data_;
  }
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
}

bool constant_time_equal(std::span<const std::uint8_t> a,
                         std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(void* data, std::size_t size) noexcept {
  if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

Result<SecretBytes> random_secret(std::size_t size) {
  if (size == 0 || size > static_cast<std::size_t>(INT_MAX)) {
    return make_error(ErrorCode::invalid_argument, "random secret size out of range");
  }
  SecretBytes out(size);
  if (RAND_bytes(out.data(), static_cast<int>(size)) != 1) {
    return make_error(ErrorCode::crypto, "RAND_bytes failed");
  }
  return out;
}

}  // namespace twostep
