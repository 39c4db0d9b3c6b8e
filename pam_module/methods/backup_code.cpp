// Method "backup code": the one-time 8-digit codes for a lost phone, stored
// hashed in native files (core's check_backup_code compares every stored
// code, and removes the one used, inside the one locked attempt).
#include "methods/method.hpp"

namespace twostep::pam {
namespace {

bool has_backup_codes(const Config&, const Enrollment& enrollment) {
  return !enrollment.backup_codes.empty();
}

void backup_code_length(const Enrollment&, std::set<std::size_t>& lengths) {
  lengths.insert(kBackupCodeDigits);
}

}  // namespace

const Method kBackupCodeMethod{VerifyMethod::backup, &has_backup_codes, &check_backup_code,
                               &backup_code_length, nullptr};

}  // namespace twostep::pam
