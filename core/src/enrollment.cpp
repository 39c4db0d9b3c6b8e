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
  return copy;
}

}  // namespace twostep
