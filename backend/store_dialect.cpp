// Neutral SQL to a dialect's spelling (store_dialect.hpp).
#include "store_dialect.hpp"

namespace twostep::relay::sql {

std::string translate(std::string_view neutral, const Database& dialect, bool numbered) {
  std::string out;
  out.reserve(neutral.size() + 32);
  int parameter = 0;
  for (std::size_t i = 0; i < neutral.size(); ++i) {
    const char ch = neutral[i];
    if (ch == '?' && numbered) {
      out += '$';
      out += std::to_string(++parameter);
      continue;
    }
    const auto close = ch == '{' ? neutral.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out += ch;
      continue;
    }
    const auto spelled = dialect.word(neutral.substr(i + 1, close - i - 1));
    out += spelled ? *spelled : neutral.substr(i, close - i + 1);
    i = close;
  }
  return out;
}

StoreError backend_failure(const char* what, std::string_view dialect, std::string_view message) {
  std::string text(what);
  text += ": ";
  text += dialect;
  text += ": ";
  text += message;
  return StoreError{StoreErrc::backend, std::move(text)};
}

}  // namespace twostep::relay::sql
