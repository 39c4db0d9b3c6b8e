// Backup codes for a new or existing enrollment, in the file's format.
#pragma once

#include <vector>

#include "twostep/enrollment.hpp"
#include "twostep/result.hpp"
#include "twostep/secret_file.hpp"

namespace twostep::enroll {

// Appends `count` fresh codes to `enrollment` (hashed for native files,
// plain for google-authenticator files) and returns the plain codes to show
// once. google-authenticator readers accept only 10000000..99999999, so a
// code with a leading zero is drawn again for that format.
Result<std::vector<SecretBytes>> make_backup_codes(Enrollment& enrollment, std::size_t count,
                                                   FileFormat format);

}  // namespace twostep::enroll
