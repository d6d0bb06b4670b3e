#pragma once

// Certificates for TLS tests, made at run time with OpenSSL's C API: none can expire in the
// repository, and each test gets keys nobody else has.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace opencode_cache::testing {

struct CertificateFiles {
  std::filesystem::path certificate;  // PEM
  std::filesystem::path private_key;  // PEM, unencrypted
};

struct CertificateSubject {
  std::string common_name;
  std::vector<std::string> dns_names{};     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses{};  // subjectAltName IP entries
};

enum class CertificateUse { server, client };

// A throwaway certificate authority in its own temp dir, removed with it. Keys are EC P-256,
// valid from an hour ago (clock skew) for a day.
class TestCertificateAuthority {
 public:
  explicit TestCertificateAuthority(const std::string& name);
  ~TestCertificateAuthority();
  TestCertificateAuthority(const TestCertificateAuthority&) = delete;
  TestCertificateAuthority& operator=(const TestCertificateAuthority&) = delete;

  // The CA's own certificate: what a peer trusts (ca_file, tls-ca-cert-file).
  const std::filesystem::path& certificate() const { return authority_.certificate; }
  // A directory holding only that certificate under its subject hash ("<hash>.0"), the
  // layout OpenSSL's CA directory lookup (ca_dir) expects.
  std::filesystem::path hashed_directory() const;

  // A certificate for `subject`, signed by this CA; `file_stem` names its two files.
  CertificateFiles issue(const std::string& file_stem, const CertificateSubject& subject,
                         CertificateUse use) const;
  // A certificate signed by its own key, which no CA vouches for.
  CertificateFiles issue_self_signed(const std::string& file_stem,
                                     const CertificateSubject& subject) const;

 private:
  struct Keys;

  std::filesystem::path dir_;
  CertificateFiles authority_;
  std::unique_ptr<Keys> keys_;
};

}  // namespace opencode_cache::testing
