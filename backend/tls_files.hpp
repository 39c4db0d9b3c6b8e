// Why twostepd cannot read its TLS certificate or key, said so that an admin
// can act on it. Asio's own error ("use_private_key_file: asio.ssl error")
// names neither the file, nor the reason, nor the fix.
#pragma once

#include <string>

namespace twostep::relay {

// Empty when this process can open `path` for reading; otherwise one line:
// which file (`what`, e.g. "tls_key"), the errno name and text, its owner
// and mode when they can be read, the identity twostepd runs as, and an
// owner and mode that would work (0640 with twostepd's group for a key,
// 0644 for a certificate).
std::string tls_file_problem(const char* what, const std::string& path, bool secret);

}  // namespace twostep::relay
