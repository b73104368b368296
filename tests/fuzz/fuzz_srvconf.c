/* Fuzz target: cairn-cloud's configuration loader (cairn/srvconf.h).
 *
 * Each input is loaded as a server configuration. A rejected input must
 * give CAIRN_ERR_CONFIG (or TOO_BIG) with a detail naming the file and no
 * result. An accepted one must satisfy the header's invariants, and its
 * formatted effective configuration must load again to the same values. */
#include "cairn/err.h"
#include "cairn/grpc.h"
#include "cairn/srvconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct cairn_srvconf *c)
{
  if (!c->file || !c->trust_domain || !c->trust_domain[0] || !c->data_dir ||
      !c->data_dir[0] || !c->bind_address || !c->socket_path ||
      !c->jwt_issuer || !c->database_type || !c->db_path)
    abort();
  if (strlen(c->socket_path) > CAIRN_GRPC_SOCK_PATH_MAX) abort();
  if (c->bind_port < 1 || c->bind_port > 65535) abort();
  if (c->ca_ttl < CAIRN_CA_TTL_MIN || c->ca_ttl > CAIRN_SRVCONF_CA_TTL_MAX)
    abort();
  if (c->default_x509_svid_ttl < 1 || c->default_jwt_svid_ttl < 1) abort();
  if ((c->key_manager == CAIRN_CA_KM_DISK) != (c->keys_dir != NULL)) abort();
  if (!c->keys_dir != !c->keys_path || !c->connection_string) abort();
  if (!c->upstream_cert_path != !c->upstream_key_path) abort();
  if (c->upstream_bundle_path && !c->upstream_cert_path) abort();
  if (c->n_warnings > CAIRN_SRVCONF_WARNINGS_MAX) abort();
}

static int same(const char *a, const char *b)
{
  if (!a || !b) return a == b;
  return strcmp(a, b) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cairn_srvconf *c = NULL, *c2 = NULL;
  char *text = NULL;
  int r = cairn_srvconf_parse_buf("f.conf", (const char *)data, size, &c);

  if (r != CAIRN_OK) {
    if (c) abort();
    if (r == CAIRN_ERR_CONFIG &&
        strncmp(cairn_errdetail(), "f.conf", 6) != 0) {
      fprintf(stderr, "bad detail: %s\n", cairn_errdetail());
      abort();
    }
    return 0;
  }
  check(c);
  if (cairn_srvconf_format(c, &text) == CAIRN_OK) {
    if (cairn_srvconf_parse_buf("g.conf", text, strlen(text), &c2) != CAIRN_OK) {
      /* Joined paths can pass the path cap only if the input was near it;
       * anything else must load again. */
      if (strstr(cairn_errdetail(), "too long") == NULL &&
          strstr(cairn_errdetail(), "longer than") == NULL) {
        fprintf(stderr, "re-load failed: %s\n%s", cairn_errdetail(), text);
        abort();
      }
    } else {
      check(c2);
      if (!same(c->trust_domain, c2->trust_domain) ||
          !same(c->bind_address, c2->bind_address) ||
          c->bind_port != c2->bind_port ||
          !same(c->socket_path, c2->socket_path) ||
          c->log_level != c2->log_level || c->ca_ttl != c2->ca_ttl ||
          c->default_x509_svid_ttl != c2->default_x509_svid_ttl ||
          c->default_jwt_svid_ttl != c2->default_jwt_svid_ttl ||
          c->ca_key_type != c2->ca_key_type ||
          !same(c->jwt_issuer, c2->jwt_issuer) ||
          !same(c->ca_common_name, c2->ca_common_name) ||
          !same(c->db_path, c2->db_path) ||
          !same(c->connection_string, c2->connection_string) ||
          !same(c->keys_dir, c2->keys_dir) ||
          !same(c->keys_path, c2->keys_path) ||
          !same(c->data_dir, c2->data_dir) ||
          c->key_manager != c2->key_manager ||
          !same(c->upstream_cert_path, c2->upstream_cert_path) ||
          !same(c->upstream_key_path, c2->upstream_key_path) ||
          !same(c->upstream_bundle_path, c2->upstream_bundle_path) ||
          c->join_token_attestor != c2->join_token_attestor) {
        fprintf(stderr, "round trip changed the configuration:\n%s", text);
        abort();
      }
    }
  }
  free(text);
  cairn_srvconf_free(c2);
  cairn_srvconf_free(c);
  return 0;
}
