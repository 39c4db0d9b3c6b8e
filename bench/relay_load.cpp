// twostep-relay-load: the "full rounds per second" load client of
// bench/relay_bench.py (docs/benchmarks.md, "Push relay").
//
//   twostep-relay-load PORT SECONDS JOBS.json [INTERVAL [MAX_ROUNDS]]
//
// INTERVAL (seconds): also report each interval's rounds/s, median and p99
// ("intervals", by the time each round ended), for the soak
// (bench/relay_soak.py). MAX_ROUNDS: stop once that many rounds are done,
// even before SECONDS.
//
// JOBS.json (written by relay_bench.py after it has added the hosts and
// paired the devices with the Python test device):
//   [{"host_id", "secret" (b64u), "host_name", "user",
//     "device": {"key_id", "api_key" (PEM), "credential_key" (PEM),
//                "credential_id", "origin", "counter", "flags"}}, ...]
//
// One thread per job, each on one kept-alive loopback connection, loops for
// SECONDS: create a challenge (host HMAC) -> approve it with a fresh WebAuthn
// assertion over the approval digest (device ECDSA request signature) -> read
// the result (host HMAC). Every answer is checked. Prints one JSON line:
// rounds, seconds, rounds_per_s, and the round time's median and p99.
//
// Written in C++ so that the clients, which share the 2 cores with the
// relay, cost a fraction of what the relay does: the Python clients spent
// more CPU per round than the relay and capped the rate at ~300/s.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "twostep/push_protocol.hpp"
#include "twostep/secret.hpp"

namespace {

using nlohmann::json;
namespace push = twostep::push;
using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

template <typename T>
T must(twostep::Result<T> r, const char* what) {
  if (!r) fail(std::string(what) + ": " + r.error().message);
  return std::move(r).value();
}

std::string b64u(std::string_view bytes) { return push::b64u_encode(push::as_bytes(bytes)); }
std::string b64u(std::span<const std::uint8_t> bytes) { return push::b64u_encode(bytes); }

std::string sha256(std::string_view bytes) {
  const auto d = must(push::sha256(push::as_bytes(bytes)), "sha256");
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey load_pem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                &BIO_free);
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) fail("cannot read a private key");
  return key;
}

// ES256 over `message`: DER (WebAuthn) as OpenSSL gives it.
std::string sign_der(EVP_PKEY* key, std::string_view message) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    fail("ECDSA sign");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    fail("ECDSA sign");
  }
  sig.resize(len);
  return sig;
}

// The same as r || s, 32 bytes each (WebCrypto, section 8.1).
std::string sign_p1363(EVP_PKEY* key, std::string_view message) {
  const std::string der = sign_der(key, message);
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())), &ECDSA_SIG_free);
  if (!sig) fail("ECDSA DER");
  std::string out(64, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), o, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), o + 32, 32) != 32) {
    fail("ECDSA P1363");
  }
  return out;
}

std::string random_b64u(std::size_t bytes) { return must(push::random_b64u(bytes), "random"); }

// One kept-alive HTTP/1.1 connection to 127.0.0.1:port.
class Connection {
 public:
  explicit Connection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail("socket");
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail("connect");
  }
  ~Connection() { ::close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one request and returns (status, body).
  std::pair<int, std::string> exchange(const std::string& request) {
    for (std::size_t sent = 0; sent < request.size();) {
      const auto n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) fail("send");
      sent += static_cast<std::size_t>(n);
    }
    std::size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) fill();
    const std::string_view head(buffer_.data(), head_end);
    if (head.size() < 12 || !head.starts_with("HTTP/1.1 ")) fail("bad status line");
    const int status = std::atoi(std::string(head.substr(9, 3)).c_str());
    std::size_t length = 0;
    std::string lower(head);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto cl = lower.find("\r\ncontent-length:");
    if (cl == std::string::npos) fail("no Content-Length");
    auto v = lower.find_first_not_of(' ', cl + 17);
    std::from_chars(lower.data() + v, lower.data() + lower.size(), length);
    while (buffer_.size() < head_end + 4 + length) fill();
    std::string body = buffer_.substr(head_end + 4, length);
    buffer_.erase(0, head_end + 4 + length);
    return {status, std::move(body)};
  }

 private:
  void fill() {
    char chunk[16384];
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) fail("connection closed");
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
  int fd_ = -1;
  std::string buffer_;
};

std::string now_decimal() {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

std::string http(const std::string& method, const std::string& target, const std::string& body,
                 const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST") {
    out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out += "\r\n" + body;
  return out;
}

struct Job {
  std::string host_id, host_name, user;
  twostep::SecretBytes secret;
  std::string key_id, credential_id, origin;
  Pkey api_key, credential_key;
  std::uint32_t counter = 0;
  std::uint8_t flags = 0x05;
};

std::string host_request(const Job& job, const std::string& method, const std::string& path,
                         const std::string& body) {
  const std::string ts = now_decimal(), nonce = random_b64u(push::kNonceBytes);
  const push::SignedRequest r{method, path, "", body, ts, nonce, job.host_id};
  const std::string sig = must(push::sign_host_request(job.secret, r), "HMAC");
  return http(method, path, body,
              {{"X-Twostep-Host", job.host_id}, {"X-Twostep-Timestamp", ts},
               {"X-Twostep-Nonce", nonce}, {"X-Twostep-Signature", sig}});
}

std::string device_request(const Job& job, const std::string& method, const std::string& path,
                           const std::string& body) {
  const std::string ts = now_decimal(), nonce = random_b64u(push::kNonceBytes);
  const push::SignedRequest r{method, path, "", body, ts, nonce, job.key_id};
  const auto canonical = must(push::canonical_request(push::RequestScheme::device_ecdsa, r),
                              "canonical request");
  return http(method, path, body,
              {{"X-Twostep-Device", job.key_id}, {"X-Twostep-Timestamp", ts},
               {"X-Twostep-Nonce", nonce},
               {"X-Twostep-Signature", b64u(sign_p1363(job.api_key.get(), canonical))}});
}

// One round; returns after the result has been read and checked.
void round_trip(Job& job, Connection& conn) {
  const std::string module_nonce = random_b64u(32);
  const std::int64_t expires = std::stoll(now_decimal()) + 90;
  const json create = {{"user", job.user},   {"service", "sshd"},
                       {"rhost", "203.0.113.5"}, {"tty", "ssh"},
                       {"devices", {job.credential_id}}, {"nonce", module_nonce},
                       {"expires", expires}};
  auto [status, body] = conn.exchange(host_request(job, "POST", "/v1/challenges", create.dump()));
  if (status != 201) fail("create: " + std::to_string(status) + " " + body);
  const std::string id = json::parse(body).at("id").get<std::string>();

  // The phone's part (section 6): the digest of what it shows and the typed
  // number, signed by the credential with UV.
  const push::ApprovalContext context{id, module_nonce, job.host_name, job.user, "sshd",
                                      "203.0.113.5", "ssh", 42, expires, std::nullopt};
  const auto digest = must(push::approval_digest(context), "digest");
  const json client_data = {{"type", "webauthn.get"}, {"challenge", b64u(digest)},
                            {"origin", job.origin}, {"crossOrigin", false}};
  const std::string client_json = client_data.dump();
  const std::string host_part = job.origin.substr(job.origin.find("://") + 3);
  const std::string rp_id = host_part.substr(0, host_part.find_first_of(":/"));
  std::string auth_data = sha256(rp_id);
  auth_data += static_cast<char>(job.flags);
  ++job.counter;
  for (int shift = 24; shift >= 0; shift -= 8) auth_data += static_cast<char>(job.counter >> shift);
  const std::string signature = sign_der(job.credential_key.get(), auth_data + sha256(client_json));
  const json decision = {{"decision", "approve"},
                         {"assertion",
                          {{"credential_id", job.credential_id},
                           {"authenticator_data", b64u(auth_data)},
                           {"client_data_json", b64u(client_json)},
                           {"signature", b64u(signature)}}}};
  const std::string decide_path = "/v1/device/challenges/" + id + "/decision";
  std::tie(status, body) = conn.exchange(device_request(job, "POST", decide_path, decision.dump()));
  if (status != 200) fail("decision: " + std::to_string(status) + " " + body);

  std::tie(status, body) = conn.exchange(host_request(job, "GET", "/v1/challenges/" + id, ""));
  if (status != 200 || body.find("\"approved\"") == std::string::npos) {
    fail("result: " + std::to_string(status) + " " + body);
  }
}

std::vector<Job> load_jobs(const char* path) {
  std::ifstream in(path);
  if (!in) fail(std::string("cannot read ") + path);
  const json all = json::parse(in);
  std::vector<Job> jobs;
  for (const auto& j : all) {
    Job job;
    job.host_id = j.at("host_id");
    job.host_name = j.at("host_name");
    job.user = j.at("user");
    job.secret = must(push::b64u_decode_secret(j.at("secret").get<std::string>(), 32), "secret");
    const auto& d = j.at("device");
    job.key_id = d.at("key_id");
    job.credential_id = d.at("credential_id");
    job.origin = d.at("origin");
    job.counter = d.at("counter").get<std::uint32_t>();
    job.flags = d.at("flags").get<std::uint8_t>();
    job.api_key = load_pem(d.at("api_key"));
    job.credential_key = load_pem(d.at("credential_key"));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

struct Sample {
  double end_s;  // since the start
  double ms;     // the round's time
};

double percentile_of(std::vector<double>& sorted_values, double p) {
  const std::size_t n = sorted_values.size();
  return sorted_values[std::min(n - 1, static_cast<std::size_t>(p / 100 * static_cast<double>(n - 1) + 0.5))];
}

// Per-interval figures, by the time each round ended.
json intervals_of(const std::vector<std::vector<Sample>>& samples, double interval, double took) {
  const auto count = static_cast<std::size_t>(took / interval) + 1;
  std::vector<std::vector<double>> buckets(count);
  for (const auto& per_thread : samples) {
    for (const auto& s : per_thread) {
      buckets[std::min(count - 1, static_cast<std::size_t>(s.end_s / interval))].push_back(s.ms);
    }
  }
  json out = json::array();
  for (std::size_t i = 0; i < count; ++i) {
    auto& b = buckets[i];
    if (b.empty()) continue;
    std::sort(b.begin(), b.end());
    const double span = std::min(interval, took - static_cast<double>(i) * interval);
    out.push_back({{"start_s", static_cast<double>(i) * interval},
                   {"seconds", span},
                   {"rounds", b.size()},
                   {"rounds_per_s", static_cast<double>(b.size()) / span},
                   {"round_median_ms", percentile_of(b, 50)},
                   {"round_p99_ms", percentile_of(b, 99)}});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 6) {
    std::fprintf(stderr,
                 "usage: twostep-relay-load PORT SECONDS JOBS.json [INTERVAL [MAX_ROUNDS]]\n");
    return 2;
  }
  try {
    const int port = std::atoi(argv[1]);
    const double seconds = std::atof(argv[2]);
    auto jobs = load_jobs(argv[3]);
    const double interval = argc > 4 ? std::atof(argv[4]) : 0;
    const long long max_rounds = argc > 5 ? std::atoll(argv[5]) : 0;
    std::atomic<long long> done{0};
    std::vector<std::vector<Sample>> samples(jobs.size());
    std::vector<std::string> errors(jobs.size());
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      threads.emplace_back([&, i] {
        try {
          Connection conn(port);
          while (!go.load()) std::this_thread::yield();
          const auto start = Clock::now();
          const auto end = start + std::chrono::duration<double>(seconds);
          for (auto t0 = Clock::now(); t0 < end; t0 = Clock::now()) {
            if (max_rounds > 0 && done.fetch_add(1) >= max_rounds) break;
            round_trip(jobs[i], conn);
            const auto t1 = Clock::now();
            samples[i].push_back({std::chrono::duration<double>(t1 - start).count(),
                                  std::chrono::duration<double, std::milli>(t1 - t0).count()});
          }
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    }
    const auto start = Clock::now();
    go = true;
    for (auto& t : threads) t.join();
    const double took = std::chrono::duration<double>(Clock::now() - start).count();
    for (const auto& e : errors) {
      if (!e.empty()) {
        std::fprintf(stderr, "twostep-relay-load: %s\n", e.c_str());
        return 1;
      }
    }
    std::vector<double> all;
    for (const auto& per_thread : samples) {
      for (const auto& sample : per_thread) all.push_back(sample.ms);
    }
    if (all.empty()) fail("no round completed");
    std::sort(all.begin(), all.end());
    json out = {{"workers", jobs.size()},
                {"rounds", all.size()},
                {"seconds", took},
                {"rounds_per_s", static_cast<double>(all.size()) / took},
                {"round_median_ms", percentile_of(all, 50)},
                {"round_p99_ms", percentile_of(all, 99)}};
    if (interval > 0) out["intervals"] = intervals_of(samples, interval, took);
    std::printf("%s\n", out.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "twostep-relay-load: %s\n", e.what());
    return 1;
  }
}
