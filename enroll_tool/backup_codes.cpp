#include "backup_codes.hpp"

#include "twostep/policy.hpp"

namespace twostep::enroll {

// Native files keep backup codes hashed; google-authenticator files can only
// hold them in plain text.
Result<std::vector<SecretBytes>> make_backup_codes(Enrollment& enrollment, std::size_t count,
                                                   FileFormat format) {
  return generate_backup_codes(enrollment, count, format == FileFormat::google_authenticator);
}

}  // namespace twostep::enroll
