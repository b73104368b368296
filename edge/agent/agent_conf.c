/* agent_conf.c - cairn-agent's configuration file (see agent_conf.h). */
#include "agent_conf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/cfg.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/util.h"

/* ---- small helpers ------------------------------------------------------- */

/* The first child of blk named key, without marking it (for line numbers
 * in errors about values the getters accepted). */
static const struct cairn_cfg *node_of(const struct cairn_cfg *blk,
                                       const char *key)
{
  for (size_t i = 0; i < cairn_cfg_count(blk); i++) {
    const struct cairn_cfg *n = cairn_cfg_at(blk, i);
    const char *k = cairn_cfg_key(n);
    if (k && strcmp(k, key) == 0) return n;
  }
  return blk;
}

static int set_str(char **dst, const char *s)
{
  char *d = cairn_strdup(s);
  if (!d) return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  free(*dst);
  *dst = d;
  return CAIRN_OK;
}

/* dir/p, or p itself when it is absolute. */
static int join_path(const char *dir, const char *p, char **out)
{
  size_t dl, pl;
  char *s;

  if (p[0] == '/') return set_str(out, p);
  dl = strlen(dir);
  pl = strlen(p);
  while (dl > 1 && dir[dl - 1] == '/') dl--;
  if (dl + 1 + pl > EA_CONF_PATH_MAX)
    return cairn_seterr(CAIRN_ERR_CONFIG, "path %s/%s is too long", dir, p);
  s = malloc(dl + 1 + pl + 1);
  if (!s) return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  memcpy(s, dir, dl);
  s[dl] = '/';
  memcpy(s + dl + 1, p, pl + 1);
  free(*out);
  *out = s;
  return CAIRN_OK;
}

/* A string value that is a path: non-empty, at most EA_CONF_PATH_MAX
 * bytes. CAIRN_ERR_NOT_FOUND (nothing recorded) when absent. */
static int get_path(const struct cairn_cfg *blk, const char *key,
                    const char **out)
{
  const char *s = NULL;
  int r = cairn_cfg_get_str(blk, key, &s);

  if (r != CAIRN_OK) return r;
  if (!s[0]) return cairn_cfg_error(node_of(blk, key), "%s: empty path", key);
  if (strlen(s) > EA_CONF_PATH_MAX)
    return cairn_cfg_error(node_of(blk, key), "%s: path longer than %d bytes",
                           key, EA_CONF_PATH_MAX);
  *out = s;
  return CAIRN_OK;
}

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

  /* trust_domain (required) */
  s = NULL;
  r = cairn_cfg_get_str(ag, "trust_domain", &s);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(ag, "agent: trust_domain is required");
  if (r) return r;
  if (cairn_td_validate(s) != CAIRN_OK) {
    char why[256];
    snprintf(why, sizeof why, "%s", cairn_errdetail());
    if (strncmp(s, "spiffe://", 9) == 0)
      return cairn_cfg_error(node_of(ag, "trust_domain"),
                             "trust_domain: give the bare name (\"%.200s\"), "
                             "not a SPIFFE ID", s + 9);
    return cairn_cfg_error(node_of(ag, "trust_domain"),
                           "trust_domain: invalid trust domain \"%.200s\": %s",
                           s, why);
  }
  if ((r = set_str(&c->trust_domain, s))) return r;

  /* server_address (required), server_port */
  s = NULL;
  r = cairn_cfg_get_str(ag, "server_address", &s);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(ag, "agent: server_address is required");
  if (r) return r;
  if (!host_ok(s))
    return cairn_cfg_error(node_of(ag, "server_address"),
                           "server_address: \"%.200s\" is not an IP address "
                           "or a host name", s);
  if ((r = set_str(&c->server_address, s))) return r;
  r = cairn_cfg_get_int_range(ag, "server_port", 1, 65535, &port);
  if (r == CAIRN_OK) c->server_port = (uint16_t)port;
  else if (r != CAIRN_ERR_NOT_FOUND) return r;

  /* socket_path */
  s = NULL;
  r = get_path(ag, "socket_path", &s);
  if (r == CAIRN_OK) {
    if (strlen(s) > EA_CONF_SOCKET_MAX)
      return cairn_cfg_error(node_of(ag, "socket_path"),
                             "socket_path: %zu bytes, a Unix socket path may "
                             "have at most %d", strlen(s), EA_CONF_SOCKET_MAX);
    if ((r = set_str(&c->socket_path, s))) return r;
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }

  /* data_dir */
  s = NULL;
  r = get_path(ag, "data_dir", &s);
  if (r == CAIRN_OK) {
    if ((r = set_str(&c->data_dir, s))) return r;
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }

  /* trust_bundle_path, trust_bundle_format, insecure_bootstrap */
  s = NULL;
  r = get_path(ag, "trust_bundle_path", &s);
  if (r == CAIRN_OK) {
    if ((r = set_str(&c->trust_bundle_path, s))) return r;
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }
  s = NULL;
  r = cairn_cfg_get_str(ag, "trust_bundle_format", &s);
  if (r == CAIRN_OK) {
    if (strcmp(s, "pem") == 0) {
      c->trust_bundle_format = EA_BUNDLE_PEM;
    } else if (strcmp(s, "spiffe") == 0) {
      c->trust_bundle_format = EA_BUNDLE_SPIFFE;
    } else {
      return cairn_cfg_error(node_of(ag, "trust_bundle_format"),
                             "trust_bundle_format: \"%.64s\" is not \"pem\" "
                             "or \"spiffe\"", s);
    }
    if (!c->trust_bundle_path)
      return cairn_cfg_error(node_of(ag, "trust_bundle_format"),
                             "trust_bundle_format is set but "
                             "trust_bundle_path is not");
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }
  r = cairn_cfg_get_bool(ag, "insecure_bootstrap", &c->insecure_bootstrap);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  if (c->insecure_bootstrap && c->trust_bundle_path)
    return cairn_cfg_error(node_of(ag, "insecure_bootstrap"),
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
      return cairn_cfg_error(node_of(ag, "join_token"), "join_token: %s",
                             cairn_errdetail());
    clear_token(c);
    if (!(c->join_token = cairn_strdup(s)))
      return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }

  /* log_level */
  s = NULL;
  r = cairn_cfg_get_str(ag, "log_level", &s);
  if (r == CAIRN_OK) {
    if (cairn_log_level_parse(s, &c->log_level) != CAIRN_OK)
      return cairn_cfg_error(node_of(ag, "log_level"),
                             "log_level: \"%.64s\" is not one of DEBUG, INFO, "
                             "WARN, ERROR", s);
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }

  /* workload_x509_svid_key_type */
  s = NULL;
  r = cairn_cfg_get_str(ag, "workload_x509_svid_key_type", &s);
  if (r == CAIRN_OK) {
    if (cairn_key_type_parse(s, &c->workload_key_type) != CAIRN_OK)
      return cairn_cfg_error(node_of(ag, "workload_x509_svid_key_type"),
                             "workload_x509_svid_key_type: \"%.64s\" is not "
                             "\"ec-p256\" or \"ec-p384\"", s);
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }
  return CAIRN_OK;
}

/* ---- plugins { } ---------------------------------------------------------- */

enum ptype { P_NODEATTESTOR, P_KEYMANAGER, P_WORKLOADATTESTOR, P__N };
static const char *const g_ptype_names[P__N] = {
    "NodeAttestor", "KeyManager", "WorkloadAttestor"};

static int load_keymanager(struct ea_conf *c, const struct cairn_cfg *pb,
                           const struct cairn_cfg *pd)
{
  const char *name = cairn_cfg_label(pb, 0);
  const char *dir = NULL;
  int r;

  if (strcmp(name, "memory") == 0) {
    c->key_manager = EA_KM_MEMORY;
    free(c->keys_dir);
    c->keys_dir = NULL;
    return CAIRN_OK;
  }
  if (strcmp(name, "disk") != 0)
    return cairn_cfg_error(pb, "unknown KeyManager plugin \"%.64s\" (Cairn has "
                           "\"disk\" and \"memory\")", name);
  c->key_manager = EA_KM_DISK;
  r = get_path(pd, "directory", &dir);
  if (r == CAIRN_ERR_NOT_FOUND) return set_str(&c->keys_dir, c->data_dir);
  if (r) return r;
  if ((r = join_path(c->data_dir, dir, &c->keys_dir)))
    return cairn_cfg_error(node_of(pd, "directory"), "%s", cairn_errdetail());
  return CAIRN_OK;
}

static int load_plugin(struct ea_conf *c, const struct cairn_cfg **seen,
                       const struct cairn_cfg *pb)
{
  const char *type = cairn_cfg_key(pb);
  const struct cairn_cfg *pd = NULL;
  enum ptype t;
  int enabled = 1, r;

  cairn_cfg_mark_used(pb);
  for (t = 0; t < P__N; t++)
    if (strcmp(type, g_ptype_names[t]) == 0) break;
  if (t == P__N)
    return cairn_cfg_error(pb, "unknown plugin type '%.64s' (cairn-agent has "
                           "NodeAttestor, KeyManager, WorkloadAttestor)",
                           type);
  if (cairn_cfg_type(pb) != CAIRN_CFG_BLOCK || cairn_cfg_label_count(pb) != 1)
    return cairn_cfg_error(pb, "%s: expected a plugin block %s \"<name>\" "
                           "{ plugin_data { ... } }", type, type);
  r = cairn_cfg_get_bool(pb, "enabled", &enabled);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  if (!enabled) {
    cairn_cfg_mark_tree_used(pb);
    return CAIRN_OK;
  }
  for (size_t i = 0; i < cairn_cfg_count(pb); i++) {
    const char *k = cairn_cfg_key(cairn_cfg_at(pb, i));
    if (strcmp(k, "plugin_cmd") == 0 || strcmp(k, "plugin_checksum") == 0 ||
        strcmp(k, "plugin_data_file") == 0)
      return cairn_cfg_error(cairn_cfg_at(pb, i),
                             "%s: external plugins are not supported; Cairn's "
                             "plugins are built in and take plugin_data { }",
                             k);
  }
  r = cairn_cfg_get_block(pb, "plugin_data", &pd);
  if (r == CAIRN_ERR_NOT_FOUND) pd = NULL;
  else if (r) return r;

  if (seen[t])
    return cairn_cfg_error(pb, "a second %s plugin; only one may be enabled "
                           "(the first is at line %d)", type,
                           cairn_cfg_line(seen[t]));
  seen[t] = pb;
  switch (t) {
    case P_NODEATTESTOR:
      if (strcmp(cairn_cfg_label(pb, 0), "join_token") != 0)
        return cairn_cfg_error(pb, "unknown NodeAttestor plugin \"%.64s\" "
                               "(Cairn has \"join_token\")",
                               cairn_cfg_label(pb, 0));
      return CAIRN_OK;
    case P_KEYMANAGER:
      return load_keymanager(c, pb, pd);
    case P_WORKLOADATTESTOR:
      if (strcmp(cairn_cfg_label(pb, 0), "unix") != 0)
        return cairn_cfg_error(pb, "unknown WorkloadAttestor plugin \"%.64s\" "
                               "(Cairn has \"unix\")", cairn_cfg_label(pb, 0));
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
  const struct cairn_cfg *seen[P__N] = {NULL};
  int r;

  for (size_t i = 0; i < cairn_cfg_count(plugins); i++)
    if ((r = load_plugin(c, seen, cairn_cfg_at(plugins, i)))) return r;
  if (!seen[P_NODEATTESTOR])
    return cairn_cfg_error(plugins ? plugins : root,
                           "plugins: a NodeAttestor \"join_token\" plugin is "
                           "required");
  if (!seen[P_KEYMANAGER]) {
    c->key_manager = EA_KM_DISK;
    return set_str(&c->keys_dir, c->data_dir);
  }
  return CAIRN_OK;
}

/* ---- entry points ---------------------------------------------------------- */

/* The single block named key at the top level; a second one is an error. */
static int top_block(const struct cairn_cfg *root, const char *key,
                     const struct cairn_cfg **out)
{
  const struct cairn_cfg *first = NULL;
  int r;

  *out = NULL;
  r = cairn_cfg_get_block(root, key, &first);
  if (r) return r;
  for (size_t i = 0; i < cairn_cfg_count(root); i++) {
    const struct cairn_cfg *n = cairn_cfg_at(root, i);
    if (n != first && strcmp(cairn_cfg_key(n), key) == 0)
      return cairn_cfg_error(n, "a second '%s' block (the first is at line %d)",
                             key, cairn_cfg_line(first));
  }
  *out = first;
  return CAIRN_OK;
}

static int load_tree(const char *name, const struct cairn_cfg *root,
                     struct ea_conf **out)
{
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
  if ((r = set_str(&c->file, name)) ||
      (r = set_str(&c->socket_path, EA_CONF_SOCKET_DEFAULT)) ||
      (r = set_str(&c->data_dir, EA_CONF_DATA_DIR_DEFAULT)))
    goto out;

  r = top_block(root, "agent", &ag);
  if (r == CAIRN_ERR_NOT_FOUND) {
    r = cairn_cfg_error(root, "missing agent { } block");
    goto out;
  }
  if (r) goto out;
  if ((r = load_agent(c, ag))) goto out;

  r = top_block(root, "plugins", &plugins);
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
  struct cairn_cfg *root = NULL;
  int r;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "no output");
  *out = NULL;
  if (!data && len) return cairn_seterr(CAIRN_ERR_INVAL, "no data");
  if (!name) name = "<config>";
  r = cairn_cfg_parse_buf(name, data ? data : "", len, &root);
  if (r) return r;
  r = load_tree(name, root, out);
  cairn_cfg_free(root);
  return r;
}

int ea_conf_load(const char *path, struct ea_conf **out)
{
  struct cairn_cfg *root = NULL;
  int r;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "no output");
  *out = NULL;
  if (!path || !path[0])
    return cairn_seterr(CAIRN_ERR_INVAL, "no configuration file given");
  r = cairn_cfg_parse_file(path, &root);
  if (r) return r;
  r = load_tree(path, root, out);
  cairn_cfg_free(root);
  return r;
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
