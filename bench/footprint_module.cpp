// A PAM auth module that does nothing but succeed, built several times with
// different link footprints (plain C++, + libcrypto, + libcurl). Benchmarked
// next to pam_permit, it measures what merely linking a library costs per
// login: libpam dlopens every module at each pam_start and dlcloses it at
// pam_end, so the loader maps and relocates the module's whole dependency
// tree on every login.

#include <security/pam_modules.h>

#include <string>

#if defined(FOOTPRINT_LIBCRYPTO)
#include <openssl/crypto.h>
#endif
#if defined(FOOTPRINT_LIBCURL)
#include <curl/curl.h>
#endif

// A relocation against one symbol keeps the library in DT_NEEDED under
// --as-needed (the loader then maps it and its dependencies at every
// dlopen); the function is never called.
#if defined(FOOTPRINT_LIBCURL)
__attribute__((used)) const void* const footprint_anchor =
    reinterpret_cast<const void*>(&curl_version);
#elif defined(FOOTPRINT_LIBCRYPTO)
__attribute__((used)) const void* const footprint_anchor =
    reinterpret_cast<const void*>(&OpenSSL_version_num);
#endif

extern "C" {

__attribute__((visibility("default"))) int pam_sm_authenticate(pam_handle_t* /*handle*/,
                                                                int /*flags*/, int argc,
                                                                const char** /*argv*/) {
  // std::string keeps a real libstdc++ dependency, as a C++ module has.
  const std::string arguments(static_cast<std::size_t>(argc > 0 ? argc : 0), 'a');
  return arguments.size() > 1000 ? PAM_AUTH_ERR : PAM_SUCCESS;
}

__attribute__((visibility("default"))) int pam_sm_setcred(pam_handle_t* /*handle*/,
                                                           int /*flags*/, int /*argc*/,
                                                           const char** /*argv*/) {
  return PAM_SUCCESS;
}

}  // extern "C"
