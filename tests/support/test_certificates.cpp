#include "support/test_certificates.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <system_error>

namespace opencode_cache::testing {
namespace {

constexpr long kBackdateSeconds = 3600;
constexpr long kLifetimeSeconds = 24 * 3600;

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertificateDeleter {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using CertificatePtr = std::unique_ptr<X509, CertificateDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

[[noreturn]] void throw_openssl(const std::string& what) {
  char reason[256] = "no OpenSSL error queued";
  if (const unsigned long code = ERR_get_error(); code != 0) {
    ERR_error_string_n(code, reason, sizeof reason);
  }
  ERR_clear_error();
  throw std::runtime_error(what + ": " + reason);
}

void check(int result, const std::string& what) {
  if (result != 1) throw_openssl(what);
}

std::filesystem::path make_temp_dir() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string templ = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") +
                      "/opencode-cache-certs-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + templ);
  }
  return templ;
}

KeyPtr generate_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) throw_openssl("generating an EC key");
  return key;
}

// Random serials: a client that meets two certificates with the same issuer and serial
// may refuse the second.
void set_random_serial(X509* certificate) {
  std::random_device device;
  const std::uint64_t serial = ((std::uint64_t{device()} << 32) | device()) & 0x7fffffffffffffffULL;
  check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(certificate), serial), "serial number");
}

CertificatePtr new_certificate(EVP_PKEY* key, const std::string& common_name) {
  CertificatePtr certificate(X509_new());
  if (!certificate) throw_openssl("X509_new");
  X509* cert = certificate.get();
  check(X509_set_version(cert, X509_VERSION_3), "certificate version");
  set_random_serial(cert);
  if (X509_gmtime_adj(X509_getm_notBefore(cert), -kBackdateSeconds) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert), kLifetimeSeconds) == nullptr) {
    throw_openssl("certificate validity");
  }
  check(X509_set_pubkey(cert, key), "certificate public key");
  check(X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                   -1, 0),
        "certificate common name");
  return certificate;
}

// `value` in openssl.cnf syntax; `issuer` is the certificate itself when self-signed.
void add_extension(X509* certificate, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (extension == nullptr) throw_openssl("extension " + value);
  const int added = X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
  check(added, "adding extension " + value);
}

std::string subject_alt_names(const CertificateSubject& subject) {
  std::string names;
  for (const auto& dns : subject.dns_names) names += (names.empty() ? "" : ",") + ("DNS:" + dns);
  for (const auto& ip : subject.ip_addresses) names += (names.empty() ? "" : ",") + ("IP:" + ip);
  return names;
}

// The extensions of a leaf certificate; the key identifiers link it to its issuer.
void add_leaf_extensions(X509* certificate, X509* issuer, const CertificateSubject& subject,
                         CertificateUse use) {
  add_extension(certificate, issuer, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(certificate, issuer, NID_key_usage, "critical,digitalSignature");
  add_extension(certificate, issuer, NID_ext_key_usage,
                use == CertificateUse::server ? "serverAuth" : "clientAuth");
  add_extension(certificate, issuer, NID_subject_key_identifier, "hash");
  add_extension(certificate, issuer, NID_authority_key_identifier, "keyid:always");
  if (const std::string names = subject_alt_names(subject); !names.empty()) {
    add_extension(certificate, issuer, NID_subject_alt_name, names);
  }
}

void sign(X509* certificate, X509* issuer, EVP_PKEY* issuer_key) {
  check(X509_set_issuer_name(certificate, X509_get_subject_name(issuer)), "issuer name");
  if (X509_sign(certificate, issuer_key, EVP_sha256()) == 0) throw_openssl("signing");
}

BioPtr open_for_writing(const std::filesystem::path& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  if (!bio) throw_openssl("opening " + path.string());
  return bio;
}

void write_certificate(X509* certificate, const std::filesystem::path& path) {
  check(PEM_write_bio_X509(open_for_writing(path).get(), certificate), "writing " + path.string());
}

void write_key(EVP_PKEY* key, const std::filesystem::path& path) {
  check(PEM_write_bio_PrivateKey(open_for_writing(path).get(), key, nullptr, nullptr, 0, nullptr,
                                 nullptr),
        "writing " + path.string());
}

CertificateFiles write_pair(X509* certificate, EVP_PKEY* key, const std::filesystem::path& dir,
                            const std::string& file_stem) {
  CertificateFiles files{dir / (file_stem + ".crt"), dir / (file_stem + ".key")};
  write_certificate(certificate, files.certificate);
  write_key(key, files.private_key);
  return files;
}

}  // namespace

struct TestCertificateAuthority::Keys {
  KeyPtr key;
  CertificatePtr certificate;
};

TestCertificateAuthority::TestCertificateAuthority(const std::string& name)
    : dir_(make_temp_dir()), keys_(std::make_unique<Keys>()) {
  try {
    keys_->key = generate_key();
    keys_->certificate = new_certificate(keys_->key.get(), name);
    X509* cert = keys_->certificate.get();
    add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert, cert, NID_subject_key_identifier, "hash");
    add_extension(cert, cert, NID_authority_key_identifier, "keyid:always");
    sign(cert, cert, keys_->key.get());
    authority_ = write_pair(cert, keys_->key.get(), dir_, "ca");
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

TestCertificateAuthority::~TestCertificateAuthority() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::filesystem::path TestCertificateAuthority::hashed_directory() const {
  const auto dir = dir_ / "ca-dir";
  std::filesystem::create_directories(dir);
  char name[32];
  std::snprintf(name, sizeof name, "%08lx.0", X509_subject_name_hash(keys_->certificate.get()));
  std::filesystem::copy_file(authority_.certificate, dir / name,
                             std::filesystem::copy_options::overwrite_existing);
  return dir;
}

CertificateFiles TestCertificateAuthority::issue(const std::string& file_stem,
                                                 const CertificateSubject& subject,
                                                 CertificateUse use) const {
  KeyPtr key = generate_key();
  CertificatePtr certificate = new_certificate(key.get(), subject.common_name);
  X509* issuer = keys_->certificate.get();
  add_leaf_extensions(certificate.get(), issuer, subject, use);
  sign(certificate.get(), issuer, keys_->key.get());
  return write_pair(certificate.get(), key.get(), dir_, file_stem);
}

CertificateFiles TestCertificateAuthority::issue_self_signed(
    const std::string& file_stem, const CertificateSubject& subject) const {
  KeyPtr key = generate_key();
  CertificatePtr certificate = new_certificate(key.get(), subject.common_name);
  X509* cert = certificate.get();
  // SKID before AKID: a self-signed certificate's AKID is taken from its own SKID.
  add_extension(cert, cert, NID_subject_key_identifier, "hash");
  add_extension(cert, cert, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert, cert, NID_key_usage, "critical,digitalSignature");
  add_extension(cert, cert, NID_ext_key_usage, "serverAuth");
  add_extension(cert, cert, NID_authority_key_identifier, "keyid:always");
  if (const std::string names = subject_alt_names(subject); !names.empty()) {
    add_extension(cert, cert, NID_subject_alt_name, names);
  }
  sign(cert, cert, key.get());
  return write_pair(cert, key.get(), dir_, file_stem);
}

}  // namespace opencode_cache::testing
