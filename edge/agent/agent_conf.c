/* agent_conf.c - cairn-agent's configuration file (see agent_conf.h). */
#include "agent_conf.h"

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
/* So are the host and token limits, and the bundle formats are the cfg
 * helpers' values. */
_Static_assert(EA_CONF_HOST_MAX == CAIRN_CFG_HOST_MAX, "host limits differ");
_Static_assert(EA_CONF_TOKEN_MAX == CAIRN_CFG_TOKEN_MAX, "token limits differ");
_Static_assert(EA_BUNDLE_AUTO == (int)CAIRN_CFG_BUNDLE_AUTO &&
               EA_BUNDLE_PEM == (int)CAIRN_CFG_BUNDLE_PEM &&
               EA_BUNDLE_SPIFFE == (int)CAIRN_CFG_BUNDLE_SPIFFE,
               "bundle formats differ");

int ea_conf_check_token(const char *t)
{
  return cairn_cfg_check_token(t);
}

/* ---- agent { } ------------------------------------------------------------ */

static int load_agent(struct ea_conf *c, const struct cairn_cfg *ag)
{
  enum cairn_cfg_bundle_format fmt =
      (enum cairn_cfg_bundle_format)c->trust_bundle_format;
  const char *s;
  int64_t port;
  int r;

  r = cairn_cfg_get_trust_domain(ag, "trust_domain", &c->trust_domain);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(ag, "agent: trust_domain is required");
  if (r) return r;

  /* server_address (required), server_port */
  r = cairn_cfg_get_host(ag, "server_address", &c->server_address);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(ag, "agent: server_address is required");
  if (r) return r;
  r = cairn_cfg_get_int_range(ag, "server_port", 1, 65535, &port);
  if (r == CAIRN_OK) c->server_port = (uint16_t)port;
  else if (r != CAIRN_ERR_NOT_FOUND) return r;

  r = cairn_cfg_get_socket_path(ag, "socket_path", &c->socket_path);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  r = cairn_cfg_get_path(ag, "data_dir", NULL, &c->data_dir);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;

  /* trust_bundle_path, trust_bundle_format, insecure_bootstrap */
  r = cairn_cfg_get_bootstrap(ag, &c->trust_bundle_path, &fmt,
                              &c->insecure_bootstrap);
  c->trust_bundle_format = (enum ea_bundle_format)fmt;
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(ag, "agent: trust_bundle_path is required unless "
                           "insecure_bootstrap = true (the agent must know "
                           "how to trust the server on first contact)");
  if (r) return r;

  r = cairn_cfg_get_join_token(ag, "join_token", &c->join_token);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;

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

  if ((r = cairn_cfg_required_block(root, "agent", NULL, &ag)) ||
      (r = load_agent(c, ag)))
    goto out;
  if ((r = cairn_cfg_required_block(root, "plugins", "a NodeAttestor "
                                    "\"join_token\" plugin is required",
                                    &plugins)) ||
      (r = load_plugins(c, root, plugins)))
    goto out;

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
  if (!c) return cairn_seterr(CAIRN_ERR_INVAL, "no configuration");
  return cairn_cfg_set_join_token(&c->join_token, token);
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
  cairn_cfg_clear_secret(&c->join_token);
  free(c->keys_dir);
  free(c);
}
