// Fuzzes the backend URLs and marquee.toml (src/registry/backend_url.cc): the first line is a
// registry URL for ParseRegistryUrl, the rest the text of a marquee.toml for ParseBackendsToml.
// Checks: a parsed URL's redacted form never holds its password, and a PostgreSQL URL's
// redacted form parses again to the same host, port, user and database. Nothing is read from
// or written to disk, and nothing connects.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "marquee/error.h"
#include "registry/backend_url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  const std::string text(fuzz::AsText(data, size));
  const size_t nl = text.find('\n');
  const std::string url = text.substr(0, nl);
  try {
    const RegistryUrl u = ParseRegistryUrl(url);
    const std::string shown = u.Redacted();
    if (u.scheme == RegistryUrl::Scheme::kPostgres) {
      const PostgresUrl& p = u.postgres;
      fuzz::Check(p.password.empty() || shown.find(":" + p.password + "@") == std::string::npos,
                  "the redacted URL holds the password");
      const RegistryUrl again = ParseRegistryUrl(shown);
      fuzz::Check(again.postgres.host == p.host && again.postgres.port == p.port &&
                      again.postgres.user == p.user && again.postgres.dbname == p.dbname &&
                      again.postgres.password.empty(),
                  "the redacted URL does not parse back to the same server");
      (void)p.ConnectionString();
    }
  } catch (const Error&) {
  }
  if (nl != std::string::npos) {
    try {
      (void)ParseBackendsToml(std::string_view(text).substr(nl + 1), "fuzz.toml");
    } catch (const Error&) {
    }
  }
  return 0;
}
