#include "twostep/enrollment.hpp"

namespace twostep {

Token Token::clone() const {
  Token copy;
  copy.name = name;
  copy.kind = kind;
  copy.key = key.clone();
  copy.algorithm = algorithm;
  copy.digits = digits;
  copy.period = period;
  copy.last_step = last_step;
  copy.time_skew_steps = time_skew_steps;
  copy.counter = counter;
  copy.issuer = issuer;
  copy.label = label;
  return copy;
}

bool is_recordable_rhost(std::string_view rhost) noexcept {
  if (rhost.empty() || rhost.size() > kMaxRhostLength) return false;
  for (const char c : rhost) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == ':' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace twostep
