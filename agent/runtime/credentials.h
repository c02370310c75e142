// What a source or the central connection authenticates with, read back from disk: the content
// of its TLS files and its password, fingerprinted so that a reload can tell a certificate
// replaced in place (certbot, step-ca and AWS IoT rotation keep the path) from an unchanged one,
// and checked so that a reload never swaps a working connection for files that cannot work.
//
// Threads: pure functions of the file system; the daemon calls them on its loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace outpost::runtime {

// A file a part reads when it connects (plan.h gathers them per source and for central).
struct CredentialFile {
  enum class Kind : std::uint8_t {
    kCaBundle,     // PEM certificates to verify the peer; a directory (librdkafka) is not read
    kCertificate,  // PEM client certificate (chain), leaf first
    kPrivateKey,   // PEM private key of that certificate, unencrypted (the config has no
                   // key passphrase, for MQTT nor for central)
  };
  Kind kind = Kind::kCertificate;
  std::string key;   // the config key, for messages: "tls.cert_file"
  std::string path;
};

struct Credentials {
  std::vector<CredentialFile> files;
  // Where the password comes from ("file /run/credentials/outpost.service/mqtt-password",
  // "environment variable MQTT_PW"), for messages; empty = no password. The value itself is in
  // the module's settings and is what gets fingerprinted.
  std::string password_origin;
};

// One fingerprinted item: a file's content or the password.
struct CredentialPrint {
  std::string what;           // "tls.cert_file /etc/outpost/client.pem", "password (file ...)"
  std::uint64_t xxh3 = 0;     // of the content; 0 for a directory or an unreadable file
  bool operator==(const CredentialPrint&) const = default;
};

struct CredentialCheck {
  std::vector<CredentialPrint> prints;  // one per file, then the password, in that order
  // One line per unusable file: "tls.cert_file /x.pem: holds no PEM certificate". Empty when
  // every file was read and parsed (a key that matches its certificate, a CA file with at least
  // one certificate). Validity dates are not judged: a gateway without a real-time clock may
  // boot years in the past, and the broker decides anyway.
  std::vector<std::string> problems;

  bool usable() const { return problems.empty(); }
};

// Reads and checks every file of `credentials` now, and fingerprints them and `password` (the
// resolved secret the part connects with; fingerprinted when set or when an origin is named).
CredentialCheck check_credentials(const Credentials& credentials, std::string_view password);

// The items whose content differs between two checks of the same part ("tls.cert_file /x.pem"),
// or every item of `after` when the set of items differs (a path was changed: a settings change,
// which the caller reports as such before asking this).
std::vector<std::string> changed_credentials(const CredentialCheck& before, const CredentialCheck& after);

}  // namespace outpost::runtime
