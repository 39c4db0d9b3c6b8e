// Helpers shared by the secret-file format tests. Include after <cmocka.h>.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "twostep/secret_file.hpp"

namespace twostep::testing {

// The parsed document; fails the test (with the parser's message) otherwise.
inline SecretDocument expect_parsed(Result<SecretDocument> parsed) {
  if (!parsed) fail_msg("parse failed: %s", parsed.error().message.c_str());
  return std::move(parsed.value());
}

inline std::string serialize_ok(const SecretDocument& document) {
  auto out = serialize_secret_document(document);
  if (!out) fail_msg("serialize failed: %s", out.error().message.c_str());
  return std::string(out->view());
}

// Replaces the first occurrence of `from` (which must exist) with `to`.
inline std::string replaced(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  const auto at = out.find(from);
  assert_true(at != std::string::npos);
  out.replace(at, from.size(), to);
  return out;
}

}  // namespace twostep::testing
