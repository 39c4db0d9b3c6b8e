/* libtwostep-push: the HTTP client of twostep's push login (docs/protocol.md).
 *
 * pam_twostep dlopens this library only when a push is sent, so a TOTP login
 * maps neither it nor libcurl. The boundary is plain C: the module links
 * libstdc++ statically with hidden symbols, so nothing C++ may cross it.
 * Every function is noexcept and catches everything. twostep_push_perform
 * keeps no state between calls and is safe to call from several threads; a
 * session (below) keeps one connection for the requests of one login.
 *
 * Versioning: the module looks up twostep_push_abi_version() first and uses
 * the library only if it returns TWOSTEP_PUSH_ABI_VERSION; every struct
 * starts with the ABI version the caller was built with. Functions added
 * later within ABI 1 carry a newer symbol version (twostep_push.map) and are
 * looked up one by one: a library without them still serves through
 * twostep_push_perform.
 */
#ifndef TWOSTEP_PUSH_H
#define TWOSTEP_PUSH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TWOSTEP_PUSH_ABI_VERSION 1u
#define TWOSTEP_PUSH_LIBRARY_NAME "libtwostep-push.so"

/* How to reach the relay. Strings are NUL-terminated; NULL means unset. */
typedef struct twostep_push_settings {
  unsigned abi_version;            /* TWOSTEP_PUSH_ABI_VERSION */
  const char* relay_url;           /* https://HOST[:PORT]; http:// only to loopback */
  const char* ca_file;             /* PEM CA bundle; NULL: the system's */
  const char* pinned_key;          /* curl pin "sha256//BASE64[;sha256//...]"; NULL: none */
  const char* proxy;               /* explicit proxy URL; NULL: none (environment ignored) */
  const char* host_id;             /* NULL: the request is not signed (pairings) */
  const unsigned char* host_secret;
  size_t host_secret_len;          /* 32 when host_id is set */
  long connect_timeout_ms;         /* > 0 */
  size_t max_response_bytes;       /* > 0: larger bodies are an outage */
} twostep_push_settings;

typedef struct twostep_push_request {
  unsigned abi_version;
  const char* method;              /* "GET", "POST", "DELETE" */
  const char* path;                /* "/v1/challenges" */
  const char* query;               /* without '?', or NULL */
  const char* body;                /* JSON, or NULL */
  size_t body_len;
  long total_timeout_ms;           /* > 0: the whole exchange */
} twostep_push_request;

/* The outcome. TWOSTEP_PUSH_OK: the relay answered with http_status and body
 * (any status: 4xx are answers too). Otherwise no usable answer: message
 * says why, and http_status is 0 when nothing came back at all (connect,
 * TLS, timeout, a connection closed) or the status the relay did send with
 * an unusable answer (a redirect, a body over the cap, a status outside
 * 200..599): that one is the relay's doing, never an outage. */
enum {
  TWOSTEP_PUSH_OK = 0,
  TWOSTEP_PUSH_UNAVAILABLE = 1,    /* connect/TLS/timeout/too large/redirect/bad reply */
  TWOSTEP_PUSH_INVALID = 2         /* bad settings or request (e.g. http to a non-loopback host) */
};

typedef struct twostep_push_response {
  unsigned abi_version;
  long http_status;
  char* body;                      /* NUL-terminated; free with twostep_push_response_free */
  size_t body_len;
  char message[256];               /* why, when not TWOSTEP_PUSH_OK; never secrets */
} twostep_push_response;

unsigned twostep_push_abi_version(void);

/* One request. Signs it as a host request (protocol section 3) when
 * settings->host_id is set. Always fills *response (release it with
 * twostep_push_response_free, whatever the result). */
int twostep_push_perform(const twostep_push_settings* settings,
                         const twostep_push_request* request,
                         twostep_push_response* response);

void twostep_push_response_free(twostep_push_response* response);

/* Sessions (symbol version TWOSTEP_PUSH_1.1): the requests of one login (the
 * create, the long-polls, a cancel) on one kept-alive connection, instead of
 * a new TCP and TLS connection for each. Use a session from one thread at a
 * time, with the same settings for each request. A request that the relay
 * may have received before the connection died is not answered with the
 * relay's refusal of its replayed nonce: that is TWOSTEP_PUSH_UNAVAILABLE,
 * as it would be without the kept connection.
 *
 * twostep_push_session_new: NULL when out of memory.
 * twostep_push_session_perform: as twostep_push_perform, on the session's
 * connection (made on first use, made again when the relay closed it).
 * twostep_push_session_free: closes the connection; NULL is allowed. */
typedef struct twostep_push_session twostep_push_session;

twostep_push_session* twostep_push_session_new(void);
int twostep_push_session_perform(twostep_push_session* session,
                                 const twostep_push_settings* settings,
                                 const twostep_push_request* request,
                                 twostep_push_response* response);
void twostep_push_session_free(twostep_push_session* session);

/* Locations (symbol version TWOSTEP_PUSH_1.2): where a client address is,
 * as the phone shows it, into out (NUL-terminated, cut to out_size - 1
 * bytes). A loopback address is "this computer"; a private or link-local
 * one (RFC 1918, fc00::/7, fe80::/10) "this network"; any other address is
 * looked up in database (a MaxMind-format file read with libmaxminddb;
 * NULL: none) as "city, country" or what the database has, "" when it has
 * nothing. TWOSTEP_PUSH_OK with the place; TWOSTEP_PUSH_UNAVAILABLE when
 * the database cannot be read (out says why); TWOSTEP_PUSH_INVALID for
 * NULL arguments. Neither libcurl nor the network is used. */
int twostep_push_locate(const char* database, const char* address, char* out, size_t out_size);

typedef unsigned (*twostep_push_abi_version_fn)(void);
typedef int (*twostep_push_perform_fn)(const twostep_push_settings*, const twostep_push_request*,
                                       twostep_push_response*);
typedef void (*twostep_push_response_free_fn)(twostep_push_response*);
typedef twostep_push_session* (*twostep_push_session_new_fn)(void);
typedef int (*twostep_push_session_perform_fn)(twostep_push_session*,
                                               const twostep_push_settings*,
                                               const twostep_push_request*,
                                               twostep_push_response*);
typedef void (*twostep_push_session_free_fn)(twostep_push_session*);
typedef int (*twostep_push_locate_fn)(const char*, const char*, char*, size_t);

#ifdef __cplusplus
}
#endif

#endif
