// On-disk secret file formats: native and google-authenticator.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twostep/enrollment.hpp"
#include "twostep/result.hpp"
#include "twostep/secret.hpp"

namespace twostep {

enum class FileFormat { native, google_authenticator };
const char* to_string(FileFormat format) noexcept;

inline constexpr std::size_t kMaxSecretFileBytes = 64 * 1024;
inline constexpr std::size_t kMaxLineLength = 1024;
// Native files: a `device` line holds a credential id of up to 1023 bytes
// (1364 b64u characters), its key, origin and name.
inline constexpr std::size_t kMaxNativeLineLength = 2048;
inline constexpr std::size_t kMaxLines = 256;

namespace detail {
// What a parser learned about the lines (private to the format code).
struct KeptLayout;

// Sole owner of a KeptLayout. (Not std::unique_ptr: <memory> would drag
// <ios> into every includer, and cmocka's fail() macro breaks that.)
class KeptLayoutOwner {
 public:
  KeptLayoutOwner() = default;
  explicit KeptLayoutOwner(const KeptLayout* layout) noexcept : layout_(layout) {}
  ~KeptLayoutOwner();
  KeptLayoutOwner(KeptLayoutOwner&& other) noexcept
      : layout_(std::exchange(other.layout_, nullptr)) {}
  KeptLayoutOwner& operator=(KeptLayoutOwner&& other) noexcept {
    KeptLayoutOwner(std::move(other)).swap(*this);
    return *this;
  }
  KeptLayoutOwner(const KeptLayoutOwner&) = delete;
  KeptLayoutOwner& operator=(const KeptLayoutOwner&) = delete;

  const KeptLayout* get() const noexcept { return layout_; }
  void swap(KeptLayoutOwner& other) noexcept { std::swap(layout_, other.layout_); }

 private:
  const KeptLayout* layout_ = nullptr;
};
}  // namespace detail

// A parsed file: the shared model plus what a writer needs to give the file
// back byte-identical where nothing changed (google-authenticator lines the
// core does not use, original option order, comments in native files).
struct SecretDocument {
  SecretDocument() = default;
  ~SecretDocument();  // wipes original_lines: they hold the seed text
  SecretDocument(SecretDocument&&) noexcept = default;
  SecretDocument& operator=(SecretDocument&&) noexcept = default;

  FileFormat format = FileFormat::native;
  Enrollment enrollment;
  // Opaque to callers: the original lines, so writers preserve unknowns.
  std::vector<std::string> original_lines;
  // google-authenticator: the file had a DISALLOW_REUSE line. (twostep always
  // enforces the replay floor and adds the line when it first writes one.)
  bool ga_had_disallow_reuse = false;
  // Set by the parser together with original_lines: where each value sat and
  // the enrollment as read, so writing the document back edits the lines
  // without parsing them again. Null for documents that were not parsed.
  detail::KeptLayoutOwner layout;
};

// Both formats can spell a key of any length; keys shorter than
// kMinSecretBytes (80 bits) are refused (ErrorCode::malformed) by
// parse_secret_document, so by every read of a file, and by
// create_secret_file. The format parsers and serialize_secret_document
// themselves stay symmetric and accept them.
Status check_key_lengths(const Enrollment& enrollment);

// Detects the format from the first line ("twostep-secret 1" → native).
// Errors are ErrorCode::malformed / too_large with "line N: ..." messages that
// never quote secret material.
Result<SecretDocument> parse_secret_document(std::string_view text);
Result<SecretDocument> parse_native(std::string_view text);
Result<SecretDocument> parse_google_authenticator(std::string_view text);

// Serializes in the document's own format. The output may hold secrets.
Result<SecretBytes> serialize_secret_document(const SecretDocument& document);

// A fresh document for a new enrollment.
SecretDocument make_document(FileFormat format, Enrollment enrollment);

}  // namespace twostep
