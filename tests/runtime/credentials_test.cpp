// check_credentials / changed_credentials: what a SIGHUP compares besides a part's settings.
// The certificates are made here with OpenSSL (EC P-256, self-signed), written to a temporary
// folder and replaced in place, as a renewal hook does.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>

#include "agent/runtime/credentials.h"

using namespace outpost;
using runtime::CredentialFile;
using Kind = runtime::CredentialFile::Kind;

namespace {

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
  std::string encrypted_key_pem;
};

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

KeyPair make_key_pair(const std::string& cn) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  REQUIRE(key);
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 24 * 3600);
  X509_set_pubkey(x.get(), key.get());
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  REQUIRE(X509_sign(x.get(), key.get(), EVP_sha256()) > 0);

  KeyPair out;
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(cert_bio.get(), x.get());
  out.cert_pem = bio_text(cert_bio.get());
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  out.key_pem = bio_text(key_bio.get());
  std::unique_ptr<BIO, decltype(&BIO_free)> enc_bio(BIO_new(BIO_s_mem()), BIO_free);
  const char pass[] = "passphrase";
  PEM_write_bio_PKCS8PrivateKey(enc_bio.get(), key.get(), EVP_aes_256_cbc(), pass, sizeof pass - 1, nullptr, nullptr);
  out.encrypted_key_pem = bio_text(enc_bio.get());
  return out;
}

// A fresh folder holding ca.pem, client.pem and client.key (CA = the client's own certificate).
struct Dir {
  std::filesystem::path path;
  Dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("outpost-credentials-test-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~Dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  // Rewrites the file in place (same path, same inode).
  void write(const std::string& name, const std::string& content) const {
    std::ofstream out(file(name), std::ios::binary | std::ios::trunc);
    out << content;
  }
  runtime::Credentials credentials() const {
    runtime::Credentials c;
    c.files = {CredentialFile{Kind::kCaBundle, "tls.ca_file", file("ca.pem")},
               CredentialFile{Kind::kCertificate, "tls.cert_file", file("client.pem")},
               CredentialFile{Kind::kPrivateKey, "tls.key_file", file("client.key")}};
    return c;
  }
  void install(const KeyPair& k) const {
    write("ca.pem", k.cert_pem);
    write("client.pem", k.cert_pem);
    write("client.key", k.key_pem);
  }
};

bool has_problem(const runtime::CredentialCheck& c, const std::string& text) {
  for (const auto& p : c.problems) {
    if (p.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("files read twice unchanged fingerprint equal; content replaced in place is named") {
  Dir d;
  const KeyPair a = make_key_pair("a");
  const KeyPair b = make_key_pair("b");
  d.install(a);
  const auto before = runtime::check_credentials(d.credentials(), "");
  CHECK_MESSAGE(before.usable(), (before.problems.empty() ? std::string() : before.problems[0]));
  REQUIRE(before.prints.size() == 3);
  CHECK(runtime::check_credentials(d.credentials(), "").prints == before.prints);

  d.write("client.pem", b.cert_pem);
  d.write("client.key", b.key_pem);
  const auto after = runtime::check_credentials(d.credentials(), "");
  CHECK(after.usable());
  CHECK(after.prints != before.prints);
  const auto changed = runtime::changed_credentials(before, after);
  REQUIRE(changed.size() == 2);
  CHECK(changed[0] == "tls.cert_file " + d.file("client.pem"));
  CHECK(changed[1] == "tls.key_file " + d.file("client.key"));
}

TEST_CASE("a file that holds no certificate is a problem naming its key and path") {
  Dir d;
  d.install(make_key_pair("a"));
  d.write("client.pem", "not a certificate\n");
  auto c = runtime::check_credentials(d.credentials(), "");
  CHECK_FALSE(c.usable());
  CHECK(has_problem(c, "tls.cert_file " + d.file("client.pem") + ": holds no PEM certificate"));

  d.install(make_key_pair("a"));
  d.write("ca.pem", "");
  c = runtime::check_credentials(d.credentials(), "");
  CHECK(has_problem(c, "tls.ca_file " + d.file("ca.pem") + ": holds no PEM certificate"));

  d.install(make_key_pair("a"));
  d.write("client.key", "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n");
  c = runtime::check_credentials(d.credentials(), "");
  CHECK(has_problem(c, "tls.key_file " + d.file("client.key") + ": holds no usable PEM private key"));
}

TEST_CASE("a key that belongs to another certificate is reported as not matching") {
  Dir d;
  d.install(make_key_pair("a"));
  d.write("client.key", make_key_pair("b").key_pem);
  const auto c = runtime::check_credentials(d.credentials(), "");
  CHECK_FALSE(c.usable());
  CHECK(has_problem(c, "tls.key_file " + d.file("client.key") + ": does not match the certificate in tls.cert_file " +
                           d.file("client.pem")));
}

TEST_CASE("an encrypted key is reported, and no passphrase is asked for") {
  Dir d;
  const KeyPair a = make_key_pair("a");
  d.install(a);
  d.write("client.key", a.encrypted_key_pem);
  const auto c = runtime::check_credentials(d.credentials(), "");
  CHECK(has_problem(c, "tls.key_file " + d.file("client.key") + ": is an encrypted key"));
}

TEST_CASE("a missing file is a problem and fingerprints apart from any content") {
  Dir d;
  d.install(make_key_pair("a"));
  const auto before = runtime::check_credentials(d.credentials(), "");
  std::filesystem::remove(d.file("client.key"));
  const auto c = runtime::check_credentials(d.credentials(), "");
  CHECK(has_problem(c, "tls.key_file " + d.file("client.key") + ": cannot read it"));
  CHECK(c.prints != before.prints);
}

TEST_CASE("a CA directory is compared by its path only") {
  Dir d;
  d.install(make_key_pair("a"));
  std::filesystem::create_directories(d.path / "cas");
  runtime::Credentials c;
  c.files = {CredentialFile{Kind::kCaBundle, "tls.ca_file", (d.path / "cas").string()}};
  const auto check = runtime::check_credentials(c, "");
  CHECK(check.usable());
  REQUIRE(check.prints.size() == 1);
  CHECK(check.prints[0].xxh3 == 0);
}

TEST_CASE("the password is fingerprinted by value, named by its origin") {
  runtime::Credentials c;
  c.password_origin = "file /run/credentials/outpost.service/kafka";
  const auto before = runtime::check_credentials(c, "old secret");
  const auto same = runtime::check_credentials(c, "old secret");
  const auto after = runtime::check_credentials(c, "new secret");
  CHECK(same.prints == before.prints);
  CHECK(runtime::changed_credentials(before, after) ==
        std::vector<std::string>{"password (file /run/credentials/outpost.service/kafka)"});
  CHECK(runtime::check_credentials(runtime::Credentials{}, "").prints.empty());
  // A password without a named origin (a plan built by hand) is compared all the same.
  CHECK(runtime::changed_credentials(runtime::check_credentials(runtime::Credentials{}, "a"),
                                     runtime::check_credentials(runtime::Credentials{}, "b")) ==
        std::vector<std::string>{"password"});
}

TEST_CASE("when the files themselves differ (another path), every item counts as changed") {
  Dir d;
  d.install(make_key_pair("a"));
  auto moved = d.credentials();
  moved.files[0].path = d.file("client.pem");  // the CA file now points elsewhere
  const auto before = runtime::check_credentials(d.credentials(), "");
  const auto after = runtime::check_credentials(moved, "");
  CHECK(runtime::changed_credentials(before, after).size() == 3);
}
