#include "twostep/secret_file.hpp"

#include "secret_file_text.hpp"

namespace twostep {

SecretDocument::~SecretDocument() {
  for (auto& line : original_lines) wipe(line.data(), line.capacity());
}

namespace detail {
KeptLayoutOwner::~KeptLayoutOwner() { delete layout_; }
}  // namespace detail

namespace file_text {

Enrollment copy_enrollment(const Enrollment& enrollment) {
  // Names every member: adding one to Enrollment stops this from compiling
  // until it is copied here too (a writer would otherwise see it as changed).
  const auto& [tokens, window, replay_protection, rate_limit, backup_codes, recent_logins,
               devices] = enrollment;
  Enrollment copy;
  copy.tokens.reserve(tokens.size());
  for (const auto& token : tokens) copy.tokens.push_back(token.clone());
  copy.window = window;
  copy.replay_protection = replay_protection;
  copy.rate_limit = rate_limit;
  copy.backup_codes.reserve(backup_codes.size());
  for (const auto& code : backup_codes) {
    const auto& [hash, plain] = code;
    copy.backup_codes.push_back(BackupCode{hash, plain.clone()});
  }
  copy.recent_logins = recent_logins;
  copy.devices = devices;
  return copy;
}

}  // namespace file_text

const char* to_string(FileFormat format) noexcept {
  switch (format) {
    case FileFormat::native: return "native";
    case FileFormat::google_authenticator: return "google-authenticator";
  }
  return "unknown";
}

Status check_key_lengths(const Enrollment& enrollment) {
  for (std::size_t i = 0; i < enrollment.tokens.size(); ++i) {
    if (enrollment.tokens[i].key.size() < kMinSecretBytes) {
      return make_error(ErrorCode::malformed,
                        "token " + std::to_string(i + 1) + ": key shorter than 80 bits (" +
                            std::to_string(kMinSecretBytes) + " bytes)");
    }
  }
  return {};
}

Result<SecretDocument> parse_secret_document(std::string_view text) {
  // A base32 secret (the first line of a google-authenticator file) never
  // contains '-', so the native header cannot be mistaken for one.
  auto document = text.starts_with("twostep-secret") ? parse_native(text)
                                                     : parse_google_authenticator(text);
  if (!document) return document;
  if (auto keys = check_key_lengths(document->enrollment); !keys) return keys.error();
  return document;
}

Result<SecretBytes> serialize_secret_document(const SecretDocument& document) {
  auto out = document.format == FileFormat::native
                 ? file_text::serialize_native(document)
                 : file_text::serialize_google_authenticator(document);
  if (!out) return out;
  // Never hand back (and so never write) a file that would not load again.
  const auto check = document.format == FileFormat::native
                         ? file_text::check_native(out->view())
                         : file_text::check_google_authenticator(out->view());
  if (!check) {
    return make_error(ErrorCode::invalid_argument,
                      "document cannot be stored: " + check.error().message);
  }
  return out;
}

SecretDocument make_document(FileFormat format, Enrollment enrollment) {
  SecretDocument document;
  document.format = format;
  document.enrollment = std::move(enrollment);
  return document;
}

}  // namespace twostep
