#include "agent/runtime/credentials.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

namespace outpost::runtime {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct InfoStackFree {
  void operator()(STACK_OF(X509_INFO)* s) const { sk_X509_INFO_pop_free(s, X509_INFO_free); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr memory_bio(const std::string& bytes) {
  return BioPtr(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

// The reason OpenSSL gave last, and an empty queue for the next call on this thread.
std::string openssl_reason() {
  unsigned long err = ERR_peek_last_error();
  ERR_clear_error();
  if (err == 0) return {};
  const char* reason = ERR_reason_error_string(err);
  return reason ? std::string(" (") + reason + ")" : std::string();
}

// Refuses to decrypt, and never prompts on a terminal as OpenSSL's default callback would; notes
// that a passphrase was asked for.
int no_passphrase_cb(char*, int, int, void* asked) {
  if (asked != nullptr) *static_cast<bool*>(asked) = true;
  return -1;
}

}  // namespace

CredentialCheck check_credentials(const Credentials& credentials, std::string_view password) {
  CredentialCheck out;
  std::unique_ptr<X509, X509Free> leaf;
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
  std::string cert_what;
  std::string key_what;
  for (const auto& f : credentials.files) {
    const std::string what = f.key + " " + f.path;
    CredentialPrint print{what, 0};
    std::error_code ec;
    if (f.kind == CredentialFile::Kind::kCaBundle && std::filesystem::is_directory(f.path, ec)) {
      // A CA directory (librdkafka ssl.ca.location) is looked up per connection by hash name;
      // only its path is compared.
      out.prints.push_back(std::move(print));
      continue;
    }
    std::ifstream in(f.path, std::ios::binary);
    if (!in) {
      out.problems.push_back(what + ": cannot read it (" + std::strerror(errno) + ")");
      out.prints.push_back(std::move(print));
      continue;
    }
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
      out.problems.push_back(what + ": reading it failed (" + std::strerror(errno) + ")");
      out.prints.push_back(std::move(print));
      continue;
    }
    print.xxh3 = XXH3_64bits(bytes.data(), bytes.size());
    out.prints.push_back(std::move(print));

    // The checks parse the bytes just fingerprinted, so what is judged is what is compared.
    BioPtr bio = memory_bio(bytes);
    switch (f.kind) {
      case CredentialFile::Kind::kCaBundle: {
        std::unique_ptr<STACK_OF(X509_INFO), InfoStackFree> infos(
            PEM_X509_INFO_read_bio(bio.get(), nullptr, no_passphrase_cb, nullptr));
        int certs = 0;
        for (int i = 0; infos && i < sk_X509_INFO_num(infos.get()); ++i) {
          if (sk_X509_INFO_value(infos.get(), i)->x509 != nullptr) ++certs;
        }
        if (certs == 0) out.problems.push_back(what + ": holds no PEM certificate" + openssl_reason());
        ERR_clear_error();
        break;
      }
      case CredentialFile::Kind::kCertificate: {
        leaf.reset(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase_cb, nullptr));
        if (!leaf) out.problems.push_back(what + ": holds no PEM certificate" + openssl_reason());
        cert_what = what;
        break;
      }
      case CredentialFile::Kind::kPrivateKey: {
        bool asked = false;
        key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase_cb, &asked));
        if (!key) {
          out.problems.push_back(what + (asked ? ": is an encrypted key (a passphrase cannot be configured)"
                                               : ": holds no usable PEM private key" + openssl_reason()));
        }
        key_what = what;
        break;
      }
    }
  }
  if (leaf && key && X509_check_private_key(leaf.get(), key.get()) != 1) {
    out.problems.push_back(key_what + ": does not match the certificate in " + cert_what + openssl_reason());
  }
  ERR_clear_error();
  if (!credentials.password_origin.empty() || !password.empty()) {
    out.prints.push_back(CredentialPrint{
        credentials.password_origin.empty() ? "password" : "password (" + credentials.password_origin + ")",
        XXH3_64bits(password.data(), password.size())});
  }
  return out;
}

std::vector<std::string> changed_credentials(const CredentialCheck& before, const CredentialCheck& after) {
  std::vector<std::string> changed;
  const bool same_items = before.prints.size() == after.prints.size() &&
                          std::equal(before.prints.begin(), before.prints.end(), after.prints.begin(),
                                     [](const auto& a, const auto& b) { return a.what == b.what; });
  for (std::size_t i = 0; i < after.prints.size(); ++i) {
    if (!same_items || before.prints[i].xxh3 != after.prints[i].xxh3) changed.push_back(after.prints[i].what);
  }
  return changed;
}

}  // namespace outpost::runtime
