/* agent_conf.c - cairn-agent's configuration file (see agent_conf.h). */
#include "agent_conf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/cfg.h"
#include "cairn/err.h"
#include "cairn/util.h"

/* The path limits of agent_conf.h are those the cfg helpers check. */
_Static_assert(EA_CONF_PATH_MAX == CAIRN_CFG_PATH_MAX, "path limits differ");
_Static_assert(EA_CONF_SOCKET_MAX == CAIRN_CFG_SOCKET_PATH_MAX,
               "socket path limits differ");

/* ---- small helpers ------------------------------------------------------- */

/* An IPv4/IPv6 literal or a DNS host name (letters, digits, '-' and '.',
 * labels of 1..63 bytes that neither start nor end with '-'). */
static int host_ok(const char *s)
{
  unsigned char tmp[16];
  size_t n = strlen(s), label = 0;

  if (inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1)
    return 1;
  if (n == 0 || n > EA_CONF_HOST_MAX) return 0;
  for (size_t i = 0; i <= n; i++) {
    char ch = s[i];
    if (ch == '.' || ch == '\0') {
      if (label == 0 || label > 63 || s[i - 1] == '-') return 0;
      label = 0;
      continue;
    }
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '-'))
      return 0;
    if (label == 0 && ch == '-') return 0;
    label++;
  }
  return 1;
}

int ea_conf_check_token(const char *t)
{
  size_t n;

  if (!t || !t[0]) return cairn_seterr(CAIRN_ERR_INVAL, "join token is empty");
  n = strlen(t);
  if (n > EA_CONF_TOKEN_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "join token is longer than %d bytes",
                        EA_CONF_TOKEN_MAX);
  for (size_t i = 0; i < n; i++)
    if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
          (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_' ||
          t[i] == '.'))
      return cairn_seterr(CAIRN_ERR_INVAL, "join token may only hold letters, "
                          "digits, '-', '_' and '.'");
  if (strspn(t, ".") == n)
    return cairn_seterr(CAIRN_ERR_INVAL, "join token cannot be \".\" or "
                        "\"..\"");
  return CAIRN_OK;
}

static void clear_token(struct ea_conf *c)
{
  if (c->join_token) cairn_freezero(c->join_token, strlen(c->join_token));
  c->join_token = NULL;
}

/* ---- agent { } ------------------------------------------------------------ */

static int load_agent(struct ea_conf *c, const struct cairn_cfg *ag)
{
  const char *s;
  int64_t port;
  int r;

  r = cairn_cfg_get_trust_domain(ag, "trust_domain", &c->trust_domain);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(ag, "agent: trust_domain is required");
  if (r) return r;

  /* server_address (required), server_port */
  s = NULL;
  r = cairn_cfg_get_str(ag, "server_address", &s);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(ag, "agent: server_address is required");
  if (r) return r;
  if (!host_ok(s))
    return cairn_cfg_error(cairn_cfg_where(ag, "server_address"),
                           "server_address: \"%.200s\" is not an IP address "
                           "or a host name", s);
  if ((r = cairn_cfg_set_str(&c->server_address, s))) return r;
  r = cairn_cfg_get_int_range(ag, "server_port", 1, 65535, &port);
  if (r == CAIRN_OK) c->server_port = (uint16_t)port;
  else if (r != CAIRN_ERR_NOT_FOUND) return r;

  r = cairn_cfg_get_socket_path(ag, "socket_path", &c->socket_path);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  r = cairn_cfg_get_path(ag, "data_dir", NULL, &c->data_dir);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;

  /* trust_bundle_path, trust_bundle_format, insecure_bootstrap */
  r = cairn_cfg_get_path(ag, "trust_bundle_path", NULL, &c->trust_bundle_path);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  s = NULL;
  r = cairn_cfg_get_str(ag, "trust_bundle_format", &s);
  if (r == CAIRN_OK) {
    if (strcmp(s, "pem") == 0) {
      c->trust_bundle_format = EA_BUNDLE_PEM;
    } else if (strcmp(s, "spiffe") == 0) {
      c->trust_bundle_format = EA_BUNDLE_SPIFFE;
    } else {
      return cairn_cfg_error(cairn_cfg_where(ag, "trust_bundle_format"),
                             "trust_bundle_format: \"%.64s\" is not \"pem\" "
                             "or \"spiffe\"", s);
    }
    if (!c->trust_bundle_path)
      return cairn_cfg_error(cairn_cfg_where(ag, "trust_bundle_format"),
                             "trust_bundle_format is set but "
                             "trust_bundle_path is not");
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }
  r = cairn_cfg_get_bool(ag, "insecure_bootstrap", &c->insecure_bootstrap);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  if (c->insecure_bootstrap && c->trust_bundle_path)
    return cairn_cfg_error(cairn_cfg_where(ag, "insecure_bootstrap"),
                           "only one of insecure_bootstrap and "
                           "trust_bundle_path can be set");
  if (!c->insecure_bootstrap && !c->trust_bundle_path)
    return cairn_cfg_error(ag, "agent: trust_bundle_path is required unless "
                           "insecure_bootstrap = true (the agent must know "
                           "how to trust the server on first contact)");

  /* join_token */
  s = NULL;
  r = cairn_cfg_get_str(ag, "join_token", &s);
  if (r == CAIRN_OK) {
    if (ea_conf_check_token(s) != CAIRN_OK)
      return cairn_cfg_error(cairn_cfg_where(ag, "join_token"), "join_token: %s",
                             cairn_errdetail());
    clear_token(c);
    if (!(c->join_token = cairn_strdup(s)))
      return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }

  r = cairn_cfg_get_log_level(ag, "log_level", &c->log_level);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;

  /* workload_x509_svid_key_type */
  s = NULL;
  r = cairn_cfg_get_str(ag, "workload_x509_svid_key_type", &s);
  if (r == CAIRN_OK) {
    if (cairn_key_type_parse(s, &c->workload_key_type) != CAIRN_OK)
      return cairn_cfg_error(cairn_cfg_where(ag, "workload_x509_svid_key_type"),
                             "workload_x509_svid_key_type: \"%.64s\" is not "
                             "\"ec-p256\" or \"ec-p384\"", s);
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }
  return CAIRN_OK;
}

/* ---- plugins { } ---------------------------------------------------------- */

enum ptype { P_NODEATTESTOR, P_KEYMANAGER, P_WORKLOADATTESTOR, P__N };
static const char *const g_nodeattestors[] = {"join_token", NULL};
static const char *const g_keymanagers[] = {"disk", "memory", NULL};
static const char *const g_workloadattestors[] = {"unix", NULL};
static const struct cairn_cfg_plugin_type g_ptypes[P__N] = {
    {"NodeAttestor", 0, g_nodeattestors},
    {"KeyManager", 0, g_keymanagers},
    {"WorkloadAttestor", 0, g_workloadattestors}};

/* One enabled plugin, its type and name already checked. */
static int load_plugin(struct ea_conf *c, const struct cairn_cfg_plugin *p)
{
  int r;

  switch (p->type) {
    case P_NODEATTESTOR:  /* "join_token": nothing to configure */
      return CAIRN_OK;
    case P_KEYMANAGER:
      if (strcmp(p->name, "memory") == 0) {
        c->key_manager = EA_KM_MEMORY;
        free(c->keys_dir);
        c->keys_dir = NULL;
        return CAIRN_OK;
      }
      c->key_manager = EA_KM_DISK;  /* "disk" */
      r = cairn_cfg_get_path(p->data, "directory", c->data_dir, &c->keys_dir);
      if (r == CAIRN_ERR_NOT_FOUND)
        return cairn_cfg_set_str(&c->keys_dir, c->data_dir);
      return r;
    case P_WORKLOADATTESTOR:  /* "unix" */
      c->workload_attestor_unix = 1;
      return CAIRN_OK;
    default:
      break;
  }
  return cairn_seterr(CAIRN_ERR_INTERNAL, "unhandled plugin type");
}

static int load_plugins(struct ea_conf *c, const struct cairn_cfg *root,
                        const struct cairn_cfg *plugins)
{
  struct cairn_cfg_plugins it;
  struct cairn_cfg_plugin p;
  int r;

  if ((r = cairn_cfg_plugins_init(&it, plugins, "cairn-agent", g_ptypes,
                                  P__N)))
    return r;
  while ((r = cairn_cfg_plugins_next(&it, &p)) == CAIRN_OK)
    if ((r = load_plugin(c, &p))) return r;
  if (r != CAIRN_ERR_NOT_FOUND) return r;
  if (!cairn_cfg_plugins_first(&it, P_NODEATTESTOR))
    return cairn_cfg_error(plugins ? plugins : root,
                           "plugins: a NodeAttestor \"join_token\" plugin is "
                           "required");
  if (!cairn_cfg_plugins_first(&it, P_KEYMANAGER)) {
    c->key_manager = EA_KM_DISK;
    return cairn_cfg_set_str(&c->keys_dir, c->data_dir);
  }
  return CAIRN_OK;
}

/* ---- entry points ---------------------------------------------------------- */

/* A cairn_cfg_load_fn: ctx is the struct ea_conf ** to fill. */
static int load_tree(const char *name, const struct cairn_cfg *root, void *ctx)
{
  struct ea_conf **out = ctx;
  struct ea_conf *c;
  const struct cairn_cfg *ag = NULL, *plugins = NULL;
  int r = CAIRN_ERR_NOMEM;

  c = calloc(1, sizeof *c);
  if (!c) return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  c->server_port = EA_CONF_SERVER_PORT_DEFAULT;
  c->log_level = CAIRN_LOG_INFO;
  c->workload_key_type = CAIRN_KEY_EC_P256;
  c->key_manager = EA_KM_DISK;
  c->trust_bundle_format = EA_BUNDLE_AUTO;
  if ((r = cairn_cfg_set_str(&c->file, name)) ||
      (r = cairn_cfg_set_str(&c->socket_path, EA_CONF_SOCKET_DEFAULT)) ||
      (r = cairn_cfg_set_str(&c->data_dir, EA_CONF_DATA_DIR_DEFAULT)))
    goto out;

  r = cairn_cfg_single_block(root, "agent", &ag);
  if (r == CAIRN_ERR_NOT_FOUND) {
    r = cairn_cfg_error(root, "missing agent { } block");
    goto out;
  }
  if (r) goto out;
  if ((r = load_agent(c, ag))) goto out;

  r = cairn_cfg_single_block(root, "plugins", &plugins);
  if (r == CAIRN_ERR_NOT_FOUND) {
    r = cairn_cfg_error(root, "missing plugins { } block (a NodeAttestor "
                        "\"join_token\" plugin is required)");
    goto out;
  }
  if (r) goto out;
  if ((r = load_plugins(c, root, plugins))) goto out;

  if ((r = cairn_cfg_check_unused(root))) goto out;
  *out = c;
  c = NULL; /* transferred */
  r = CAIRN_OK;
out:
  ea_conf_free(c);
  return r;
}

int ea_conf_parse_buf(const char *name, const char *data, size_t len,
                      struct ea_conf **out)
{
  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "no output");
  *out = NULL;
  return cairn_cfg_load_buf(name, data, len, load_tree, out);
}

int ea_conf_load(const char *path, struct ea_conf **out)
{
  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "no output");
  *out = NULL;
  return cairn_cfg_load_file(path, load_tree, out);
}

int ea_conf_set_join_token(struct ea_conf *c, const char *token)
{
  char *t;

  if (!c) return cairn_seterr(CAIRN_ERR_INVAL, "no configuration");
  if (ea_conf_check_token(token) != CAIRN_OK)
    return cairn_seterr(CAIRN_ERR_CONFIG, "-joinToken: %s", cairn_errdetail());
  if (!(t = cairn_strdup(token)))
    return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  clear_token(c);
  c->join_token = t;
  return CAIRN_OK;
}

void ea_conf_free(struct ea_conf *c)
{
  if (!c) return;
  free(c->file);
  free(c->trust_domain);
  free(c->server_address);
  free(c->socket_path);
  free(c->data_dir);
  free(c->trust_bundle_path);
  clear_token(c);
  free(c->keys_dir);
  free(c);
}
