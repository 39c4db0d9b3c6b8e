/* The floor of a TOTP login through OpenSSL, as a PAM auth module: it links
 * libcrypto (so each dlopen maps it where the application has not), fetches
 * HMAC from the default library context as pam_twostep does, computes one
 * HMAC-SHA1 over an 8-byte counter and succeeds. No file, no user lookup, no
 * libstdc++. run.sh benchmarks it as `anchor:hmac`: in the sudo/su shape
 * pam_twostep's extra cost is compared with it (docs/benchmarks.md). */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <security/pam_modules.h>

#define ANCHOR_EXPORT __attribute__((visibility("default")))

static int one_hmac(void) {
  static const unsigned char key[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                        11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
  static const unsigned char counter[8] = {0, 0, 0, 0, 0, 0, 0, 1};
  char digest[] = "SHA1";
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  int ok = 0;
  EVP_MAC* mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX* ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
  if (ctx != NULL) {
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    ok = EVP_MAC_init(ctx, key, sizeof key, params) == 1 &&
         EVP_MAC_update(ctx, counter, sizeof counter) == 1 &&
         EVP_MAC_final(ctx, out, &out_len, sizeof out) == 1 && out_len == 20;
  }
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  OPENSSL_cleanse(out, sizeof out);
  return ok;
}

ANCHOR_EXPORT int pam_sm_authenticate(pam_handle_t* handle, int flags, int argc,
                                      const char** argv) {
  (void)handle;
  (void)flags;
  (void)argc;
  (void)argv;
  return one_hmac() ? PAM_SUCCESS : PAM_AUTH_ERR;
}

ANCHOR_EXPORT int pam_sm_setcred(pam_handle_t* handle, int flags, int argc, const char** argv) {
  (void)handle;
  (void)flags;
  (void)argc;
  (void)argv;
  return PAM_SUCCESS;
}
