/* Fuzz target: cairn-agent's configuration loader (edge/agent/agent_conf.h).
 *
 * Each input is loaded as an agent configuration. A rejected input must
 * give no result and, for CAIRN_ERR_CONFIG, a detail that names the file.
 * An accepted one must satisfy the header's invariants. */
#include "agent_conf.h"
#include "cairn/err.h"
#include "cairn/id.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct ea_conf *c)
{
  if (!c->file || !c->trust_domain || !c->server_address ||
      !c->socket_path || !c->data_dir || !c->data_dir[0])
    abort();
  if (cairn_td_validate(c->trust_domain) != CAIRN_OK) abort();
  if (!c->server_address[0] || strlen(c->server_address) > EA_CONF_HOST_MAX)
    abort();
  if (c->server_port == 0) abort();
  if (!c->socket_path[0] || strlen(c->socket_path) > EA_CONF_SOCKET_MAX)
    abort();
  /* Exactly one way to trust the server on first contact. */
  if (!c->insecure_bootstrap == !c->trust_bundle_path) abort();
  if (c->trust_bundle_format != EA_BUNDLE_AUTO && !c->trust_bundle_path)
    abort();
  if (c->join_token && ea_conf_check_token(c->join_token) != CAIRN_OK)
    abort();
  if ((c->key_manager == EA_KM_DISK) != (c->keys_dir != NULL)) abort();
  if (c->key_manager != EA_KM_DISK && c->key_manager != EA_KM_MEMORY)
    abort();
  if (c->log_level < CAIRN_LOG_ERROR || c->log_level > CAIRN_LOG_DEBUG)
    abort();
  if (c->workload_key_type != CAIRN_KEY_EC_P256 &&
      c->workload_key_type != CAIRN_KEY_EC_P384)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct ea_conf *c = NULL;
  int r = ea_conf_parse_buf("f.conf", (const char *)data, size, &c);

  if (r != CAIRN_OK) {
    if (c) abort();
    if (r == CAIRN_ERR_CONFIG && strncmp(cairn_errdetail(), "f.conf", 6) != 0) {
      fprintf(stderr, "bad detail: %s\n", cairn_errdetail());
      abort();
    }
    return 0;
  }
  check(c);
  ea_conf_free(c);
  return 0;
}
