/* srvconf.c - cairn-cloud's configuration file (see cairn/srvconf.h). */
#include "cairn/srvconf.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/buf.h"
#include "cairn/cfg.h"
#include "cairn/err.h"
#include "cairn/grpc.h"
#include "cairn/id.h"
#include "cairn/util.h"

#define JWT_ISSUER_MAX 1024
#define CN_MAX 64  /* X.520 ub-common-name */

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
  if (dl + 1 + pl > CAIRN_SRVCONF_PATH_MAX)
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

static int warn(struct cairn_srvconf *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int warn(struct cairn_srvconf *c, const char *fmt, ...)
{
  char buf[400];
  va_list ap;

  if (c->n_warnings >= CAIRN_SRVCONF_WARNINGS_MAX) return CAIRN_OK;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  c->warnings[c->n_warnings] = cairn_strdup(buf);
  if (!c->warnings[c->n_warnings])
    return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  c->n_warnings++;
  return CAIRN_OK;
}

/* A string value that is a path: non-empty, at most PATH_MAX bytes.
 * CAIRN_ERR_NOT_FOUND (nothing recorded) when absent. */
static int get_path(const struct cairn_cfg *blk, const char *key,
                    const char **out)
{
  const char *s = NULL;
  int r = cairn_cfg_get_str(blk, key, &s);

  if (r != CAIRN_OK) return r;
  if (!s[0]) return cairn_cfg_error(node_of(blk, key), "%s: empty path", key);
  if (strlen(s) > CAIRN_SRVCONF_PATH_MAX)
    return cairn_cfg_error(node_of(blk, key), "%s: path longer than %d bytes",
                           key, CAIRN_SRVCONF_PATH_MAX);
  *out = s;
  return CAIRN_OK;
}

/* A duration in lo..hi seconds; absent keeps *out. */
static int get_ttl(const struct cairn_cfg *blk, const char *key, int64_t lo,
                   int64_t hi, int64_t *out)
{
  int64_t v;
  char a[32], b[32], d[32];
  int r = cairn_cfg_get_duration(blk, key, &v);

  if (r == CAIRN_ERR_NOT_FOUND) return CAIRN_OK;
  if (r != CAIRN_OK) return r;
  if (v < lo || v > hi)
    return cairn_cfg_error(node_of(blk, key),
                           "%s: %s is out of range (%s..%s)", key,
                           cairn_duration_format(v, d, sizeof d),
                           cairn_duration_format(lo, a, sizeof a),
                           cairn_duration_format(hi, b, sizeof b));
  *out = v;
  return CAIRN_OK;
}

/* ---- server { } ----------------------------------------------------------- */

static int load_server(struct cairn_srvconf *c, const struct cairn_cfg *srv)
{
  const struct cairn_cfg *sub = NULL;
  const char *s;
  int64_t port;
  int r;

  /* trust_domain (required) */
  s = NULL;
  r = cairn_cfg_get_str(srv, "trust_domain", &s);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(srv, "server: trust_domain is required");
  if (r) return r;
  if (cairn_td_validate(s) != CAIRN_OK) {
    char why[256];
    snprintf(why, sizeof why, "%s", cairn_errdetail());
    if (strncmp(s, "spiffe://", 9) == 0)
      return cairn_cfg_error(node_of(srv, "trust_domain"),
                             "trust_domain: give the bare name (\"%.200s\"), "
                             "not a SPIFFE ID", s + 9);
    return cairn_cfg_error(node_of(srv, "trust_domain"),
                           "trust_domain: invalid trust domain \"%.200s\": %s",
                           s, why);
  }
  if ((r = set_str(&c->trust_domain, s))) return r;

  /* data_dir (required) */
  s = NULL;
  r = get_path(srv, "data_dir", &s);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(srv, "server: data_dir is required");
  if (r) return r;
  if ((r = set_str(&c->data_dir, s))) return r;

  /* bind_address, bind_port */
  s = NULL;
  r = cairn_cfg_get_str(srv, "bind_address", &s);
  if (r == CAIRN_OK) {
    unsigned char tmp[16];
    if (inet_pton(AF_INET, s, tmp) != 1 && inet_pton(AF_INET6, s, tmp) != 1)
      return cairn_cfg_error(node_of(srv, "bind_address"),
                             "bind_address: \"%.200s\" is not an IPv4 or IPv6 "
                             "address", s);
    if ((r = set_str(&c->bind_address, s))) return r;
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }
  r = cairn_cfg_get_int_range(srv, "bind_port", 1, 65535, &port);
  if (r == CAIRN_OK) c->bind_port = (int)port;
  else if (r != CAIRN_ERR_NOT_FOUND) return r;

  /* socket_path */
  s = NULL;
  r = get_path(srv, "socket_path", &s);
  if (r == CAIRN_OK) {
    if (strlen(s) > CAIRN_GRPC_SOCK_PATH_MAX)
      return cairn_cfg_error(node_of(srv, "socket_path"),
                             "socket_path: %zu bytes, a Unix socket path may "
                             "have at most %d", strlen(s),
                             CAIRN_GRPC_SOCK_PATH_MAX);
    if ((r = set_str(&c->socket_path, s))) return r;
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }

  /* log_level */
  s = NULL;
  r = cairn_cfg_get_str(srv, "log_level", &s);
  if (r == CAIRN_OK) {
    if (cairn_log_level_parse(s, &c->log_level) != CAIRN_OK)
      return cairn_cfg_error(node_of(srv, "log_level"),
                             "log_level: \"%.64s\" is not one of DEBUG, INFO, "
                             "WARN, ERROR", s);
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }

  /* TTLs */
  if ((r = get_ttl(srv, "ca_ttl", CAIRN_CA_TTL_MIN, CAIRN_SRVCONF_CA_TTL_MAX,
                   &c->ca_ttl)))
    return r;
  if ((r = get_ttl(srv, "default_x509_svid_ttl", 1, CAIRN_SRVCONF_SVID_TTL_MAX,
                   &c->default_x509_svid_ttl)))
    return r;
  if ((r = get_ttl(srv, "default_jwt_svid_ttl", 1, CAIRN_SRVCONF_SVID_TTL_MAX,
                   &c->default_jwt_svid_ttl)))
    return r;

  /* ca_key_type */
  s = NULL;
  r = cairn_cfg_get_str(srv, "ca_key_type", &s);
  if (r == CAIRN_OK) {
    if (cairn_key_type_parse(s, &c->ca_key_type) != CAIRN_OK)
      return cairn_cfg_error(node_of(srv, "ca_key_type"),
                             "ca_key_type: \"%.64s\" is not supported "
                             "(ec-p256 or ec-p384)", s);
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }

  /* jwt_issuer */
  s = NULL;
  r = cairn_cfg_get_str(srv, "jwt_issuer", &s);
  if (r == CAIRN_OK) {
    size_t n = strlen(s);
    if (n > JWT_ISSUER_MAX)
      return cairn_cfg_error(node_of(srv, "jwt_issuer"),
                             "jwt_issuer: longer than %d bytes", JWT_ISSUER_MAX);
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
        return cairn_cfg_error(node_of(srv, "jwt_issuer"),
                               "jwt_issuer: must not contain spaces or control "
                               "characters");
    if ((r = set_str(&c->jwt_issuer, s))) return r;
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }

  /* ca_subject { common_name } */
  r = cairn_cfg_get_block(srv, "ca_subject", &sub);
  if (r == CAIRN_OK) {
    s = NULL;
    r = cairn_cfg_get_str(sub, "common_name", &s);
    if (r == CAIRN_OK) {
      if (!s[0] || strlen(s) > CN_MAX)
        return cairn_cfg_error(node_of(sub, "common_name"),
                               "common_name: must be 1..%d bytes", CN_MAX);
      if ((r = set_str(&c->ca_common_name, s))) return r;
    } else if (r != CAIRN_ERR_NOT_FOUND) {
      return r;
    }
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }

  /* Cross-checks that only warn (SPIRE warns about the same). */
  if (c->default_x509_svid_ttl > c->ca_ttl / 6) {
    char a[32], b[32];
    if ((r = warn(c,
                  "default_x509_svid_ttl (%s) is more than ca_ttl/6 (%s): "
                  "X509-SVIDs are cut at the CA's notAfter and may be shorter "
                  "than asked",
                  cairn_duration_format(c->default_x509_svid_ttl, a, sizeof a),
                  cairn_duration_format(c->ca_ttl / 6, b, sizeof b))))
      return r;
  }
  if (c->default_jwt_svid_ttl > c->ca_ttl / 6) {
    char a[32], b[32];
    if ((r = warn(c,
                  "default_jwt_svid_ttl (%s) is more than ca_ttl/6 (%s): "
                  "JWT-SVIDs are cut at the signing key's expiry and may be "
                  "shorter than asked",
                  cairn_duration_format(c->default_jwt_svid_ttl, a, sizeof a),
                  cairn_duration_format(c->ca_ttl / 6, b, sizeof b))))
      return r;
  }
  return CAIRN_OK;
}

/* ---- plugins { } ---------------------------------------------------------- */

enum ptype { P_DATASTORE, P_KEYMANAGER, P_UPSTREAM, P_NODEATTESTOR, P__N };
static const char *const g_ptype_names[P__N] = {
    "DataStore", "KeyManager", "UpstreamAuthority", "NodeAttestor"};

struct plugin_state {
  const struct cairn_cfg *seen[P__N];  /* the enabled block of each type */
  int join_token_seen;
};

static int load_datastore(struct cairn_srvconf *c, const struct cairn_cfg *pb,
                          const struct cairn_cfg *pd)
{
  const char *s = "sqlite3";
  const char *cs = CAIRN_SRVCONF_DB_DEFAULT;
  int r;

  if (strcmp(cairn_cfg_label(pb, 0), "sql") != 0)
    return cairn_cfg_error(pb, "unknown DataStore plugin \"%.64s\" (Cairn has "
                           "\"sql\")", cairn_cfg_label(pb, 0));
  r = cairn_cfg_get_str(pd, "database_type", &s);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  if (strcmp(s, "sqlite3") != 0)
    return cairn_cfg_error(node_of(pd, "database_type"),
                           "database_type: \"%.64s\" is not supported (only "
                           "\"sqlite3\")", s);
  r = get_path(pd, "connection_string", &cs);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  if (strncmp(cs, "file:", 5) == 0 || strcmp(cs, ":memory:") == 0)
    return cairn_cfg_error(node_of(pd, "connection_string"),
                           "connection_string: give the path of the SQLite "
                           "file (URIs and :memory: are not supported)");
  if ((r = set_str(&c->database_type, s))) return r;
  if ((r = set_str(&c->connection_string, cs))) return r;
  if ((r = join_path(c->data_dir, cs, &c->db_path)))
    return cairn_cfg_error(node_of(pd, "connection_string"), "%s",
                           cairn_errdetail());
  return CAIRN_OK;
}

static int load_keymanager(struct cairn_srvconf *c, const struct cairn_cfg *pb,
                           const struct cairn_cfg *pd)
{
  const char *name = cairn_cfg_label(pb, 0);
  const char *kp = CAIRN_SRVCONF_KEYS_DEFAULT;
  size_t n;
  int r;

  if (strcmp(name, "memory") == 0) {
    c->key_manager = CAIRN_CA_KM_MEMORY;
    free(c->keys_dir);
    free(c->keys_path);
    c->keys_dir = c->keys_path = NULL;
    return CAIRN_OK;
  }
  if (strcmp(name, "disk") != 0)
    return cairn_cfg_error(pb, "unknown KeyManager plugin \"%.64s\" (Cairn has "
                           "\"disk\" and \"memory\")", name);
  c->key_manager = CAIRN_CA_KM_DISK;
  r = get_path(pd, "keys_path", &kp);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  n = strlen(kp);
  if (n >= 5 && strcmp(kp + n - 5, ".json") == 0 &&
      (r = warn(c, "KeyManager \"disk\" keys_path \"%.200s\" looks like "
                "SPIRE's keys.json file; Cairn uses it as a directory of key "
                "files", kp)))
    return r;
  if ((r = set_str(&c->keys_path, kp))) return r;
  if ((r = join_path(c->data_dir, kp, &c->keys_dir)))
    return cairn_cfg_error(node_of(pd, "keys_path"), "%s", cairn_errdetail());
  return CAIRN_OK;
}

static int load_upstream(struct cairn_srvconf *c, const struct cairn_cfg *pb,
                         const struct cairn_cfg *pd)
{
  const char *cert = NULL, *key = NULL, *bundle = NULL;
  int r;

  if (strcmp(cairn_cfg_label(pb, 0), "disk") != 0)
    return cairn_cfg_error(pb, "unknown UpstreamAuthority plugin \"%.64s\" "
                           "(Cairn has \"disk\")", cairn_cfg_label(pb, 0));
  r = get_path(pd, "cert_file_path", &cert);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(pd ? pd : pb, "UpstreamAuthority \"disk\": "
                           "cert_file_path is required");
  if (r) return r;
  r = get_path(pd, "key_file_path", &key);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(pd, "UpstreamAuthority \"disk\": key_file_path is "
                           "required");
  if (r) return r;
  r = get_path(pd, "bundle_file_path", &bundle);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  if ((r = set_str(&c->upstream_cert_path, cert))) return r;
  if ((r = set_str(&c->upstream_key_path, key))) return r;
  if (bundle && (r = set_str(&c->upstream_bundle_path, bundle))) return r;
  return CAIRN_OK;
}

static int load_plugin(struct cairn_srvconf *c, struct plugin_state *ps,
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
    return cairn_cfg_error(pb, "unknown plugin type '%.64s' (Cairn has "
                           "DataStore, KeyManager, UpstreamAuthority, "
                           "NodeAttestor)", type);
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

  if (t == P_NODEATTESTOR) {
    if (strcmp(cairn_cfg_label(pb, 0), "join_token") != 0)
      return cairn_cfg_error(pb, "unknown NodeAttestor plugin \"%.64s\" (Cairn "
                             "has \"join_token\")", cairn_cfg_label(pb, 0));
    if (ps->join_token_seen)
      return cairn_cfg_error(pb, "NodeAttestor \"join_token\" is configured "
                             "twice");
    ps->join_token_seen = 1;
    c->join_token_attestor = 1;
    return CAIRN_OK;
  }
  if (ps->seen[t])
    return cairn_cfg_error(pb, "a second %s plugin; only one may be enabled "
                           "(the first is at line %d)", type,
                           cairn_cfg_line(ps->seen[t]));
  ps->seen[t] = pb;
  switch (t) {
    case P_DATASTORE: return load_datastore(c, pb, pd);
    case P_KEYMANAGER: return load_keymanager(c, pb, pd);
    case P_UPSTREAM: return load_upstream(c, pb, pd);
    default: break;
  }
  return cairn_seterr(CAIRN_ERR_INTERNAL, "unhandled plugin type");
}

static int load_plugins(struct cairn_srvconf *c, const struct cairn_cfg *root,
                        const struct cairn_cfg *plugins)
{
  struct plugin_state ps;
  int r;

  memset(&ps, 0, sizeof ps);
  for (size_t i = 0; i < cairn_cfg_count(plugins); i++)
    if ((r = load_plugin(c, &ps, cairn_cfg_at(plugins, i)))) return r;
  if (!ps.seen[P_DATASTORE])
    return cairn_cfg_error(plugins ? plugins : root,
                           "plugins: a DataStore \"sql\" plugin is required");
  if (!ps.seen[P_KEYMANAGER] &&
      ((r = set_str(&c->keys_path, CAIRN_SRVCONF_KEYS_DEFAULT)) ||
       (r = join_path(c->data_dir, CAIRN_SRVCONF_KEYS_DEFAULT, &c->keys_dir))))
    return r;
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
                     struct cairn_srvconf **out)
{
  struct cairn_srvconf *c;
  const struct cairn_cfg *srv = NULL, *plugins = NULL;
  int r = CAIRN_ERR_NOMEM;

  c = calloc(1, sizeof *c);
  if (!c) return cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  c->bind_port = CAIRN_SRVCONF_BIND_PORT_DEFAULT;
  c->log_level = CAIRN_LOG_INFO;
  c->ca_ttl = CAIRN_CA_TTL_DEFAULT;
  c->default_x509_svid_ttl = CAIRN_CA_X509_SVID_TTL_DEFAULT;
  c->default_jwt_svid_ttl = CAIRN_CA_JWT_SVID_TTL_DEFAULT;
  c->ca_key_type = CAIRN_KEY_EC_P256;
  c->key_manager = CAIRN_CA_KM_DISK;
  if ((r = set_str(&c->file, name)) ||
      (r = set_str(&c->bind_address, CAIRN_SRVCONF_BIND_ADDRESS_DEFAULT)) ||
      (r = set_str(&c->socket_path, CAIRN_SRVCONF_SOCKET_DEFAULT)) ||
      (r = set_str(&c->jwt_issuer, "")))
    goto out;

  r = top_block(root, "server", &srv);
  if (r == CAIRN_ERR_NOT_FOUND) {
    r = cairn_cfg_error(root, "missing server { } block");
    goto out;
  }
  if (r) goto out;
  if ((r = load_server(c, srv))) goto out;

  r = top_block(root, "plugins", &plugins);
  if (r == CAIRN_ERR_NOT_FOUND) {
    r = cairn_cfg_error(root, "missing plugins { } block (a DataStore \"sql\" "
                        "plugin is required)");
    goto out;
  }
  if (r) goto out;
  if ((r = load_plugins(c, root, plugins))) goto out;

  if ((r = cairn_cfg_check_unused(root))) goto out;
  *out = c;
  c = NULL;
  r = CAIRN_OK;
out:
  cairn_srvconf_free(c);
  return r;
}

int cairn_srvconf_parse_buf(const char *name, const char *data, size_t len,
                            struct cairn_srvconf **out)
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

int cairn_srvconf_load(const char *path, struct cairn_srvconf **out)
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

void cairn_srvconf_free(struct cairn_srvconf *c)
{
  if (!c) return;
  free(c->file);
  free(c->trust_domain);
  free(c->bind_address);
  free(c->socket_path);
  free(c->data_dir);
  free(c->jwt_issuer);
  free(c->ca_common_name);
  free(c->database_type);
  free(c->connection_string);
  free(c->db_path);
  free(c->keys_path);
  free(c->keys_dir);
  free(c->upstream_cert_path);
  free(c->upstream_key_path);
  free(c->upstream_bundle_path);
  for (size_t i = 0; i < c->n_warnings; i++) free(c->warnings[i]);
  free(c);
}

void cairn_srvconf_ca_opts(const struct cairn_srvconf *c,
                           struct cairn_ca_opts *o)
{
  memset(o, 0, sizeof *o);
  o->trust_domain = c->trust_domain;
  o->keys_dir = c->keys_dir;
  o->key_type = c->ca_key_type;
  o->ca_ttl = c->ca_ttl;
  o->key_manager = c->key_manager;
  o->upstream_cert_path = c->upstream_cert_path;
  o->upstream_key_path = c->upstream_key_path;
  o->upstream_bundle_path = c->upstream_bundle_path;
  o->ca_common_name = c->ca_common_name;
  o->jwt_issuer = c->jwt_issuer;
}

/* ---- formatting ------------------------------------------------------------- */

/* Appends s as an HCL string literal (control characters as \uXXXX, so
 * the text stays on one line and parses back to s). */
static int put_quoted(struct cairn_buf *b, const char *s)
{
  int r = cairn_buf_append(b, "\"", 1);
  for (; !r && *s; s++) {
    if (*s == '"' || *s == '\\') {
      char e[2] = {'\\', *s};
      r = cairn_buf_append(b, e, 2);
    } else if ((unsigned char)*s < 0x20 || *s == 0x7f) {
      r = cairn_buf_appendf(b, "\\u%04x", (unsigned)(unsigned char)*s);
    } else {
      r = cairn_buf_append(b, s, 1);
    }
  }
  if (!r) r = cairn_buf_append(b, "\"", 1);
  return r;
}

static int put_kv(struct cairn_buf *b, const char *indent, const char *key,
                  const char *val)
{
  int r = cairn_buf_appendf(b, "%s%s = ", indent, key);
  if (!r) r = put_quoted(b, val);
  if (!r) r = cairn_buf_append(b, "\n", 1);
  return r;
}

static const char *level_name(enum cairn_log_level l)
{
  switch (l) {
    case CAIRN_LOG_ERROR: return "ERROR";
    case CAIRN_LOG_WARN: return "WARN";
    case CAIRN_LOG_INFO: return "INFO";
    case CAIRN_LOG_DEBUG: return "DEBUG";
  }
  return "INFO";
}

int cairn_srvconf_format(const struct cairn_srvconf *c, char **text)
{
  struct cairn_buf b;
  char d1[32], d2[32], d3[32];
  int r;

  if (!text) return cairn_seterr(CAIRN_ERR_INVAL, "no output");
  *text = NULL;
  if (!c) return cairn_seterr(CAIRN_ERR_INVAL, "no configuration");
  cairn_buf_init(&b, 64 * 1024);
  r = cairn_buf_appendf(&b, "server {\n");
  if (!r) r = put_kv(&b, "  ", "trust_domain", c->trust_domain);
  if (!r) r = put_kv(&b, "  ", "data_dir", c->data_dir);
  if (!r) r = put_kv(&b, "  ", "bind_address", c->bind_address);
  if (!r) r = cairn_buf_appendf(&b, "  bind_port = %d\n", c->bind_port);
  if (!r) r = put_kv(&b, "  ", "socket_path", c->socket_path);
  if (!r) r = put_kv(&b, "  ", "log_level", level_name(c->log_level));
  if (!r)
    r = cairn_buf_appendf(
        &b,
        "  ca_ttl = \"%s\"\n  default_x509_svid_ttl = \"%s\"\n"
        "  default_jwt_svid_ttl = \"%s\"\n",
        cairn_duration_format(c->ca_ttl, d1, sizeof d1),
        cairn_duration_format(c->default_x509_svid_ttl, d2, sizeof d2),
        cairn_duration_format(c->default_jwt_svid_ttl, d3, sizeof d3));
  if (!r) r = put_kv(&b, "  ", "ca_key_type", cairn_key_type_name(c->ca_key_type));
  if (!r) r = put_kv(&b, "  ", "jwt_issuer", c->jwt_issuer);
  if (!r && c->ca_common_name) {
    r = cairn_buf_appendf(&b, "  ca_subject {\n");
    if (!r) r = put_kv(&b, "    ", "common_name", c->ca_common_name);
    if (!r) r = cairn_buf_appendf(&b, "  }\n");
  }
  if (!r) r = cairn_buf_appendf(&b, "}\n\nplugins {\n  DataStore \"sql\" {\n"
                               "    plugin_data {\n");
  if (!r) r = put_kv(&b, "      ", "database_type", c->database_type);
  if (!r && strcmp(c->connection_string, c->db_path) != 0) {
    r = cairn_buf_appendf(&b, "      # resolved: ");
    if (!r) r = put_quoted(&b, c->db_path);
    if (!r) r = cairn_buf_append(&b, "\n", 1);
  }
  if (!r) r = put_kv(&b, "      ", "connection_string", c->connection_string);
  if (!r) r = cairn_buf_appendf(&b, "    }\n  }\n");
  if (!r && c->key_manager == CAIRN_CA_KM_MEMORY)
    r = cairn_buf_appendf(&b, "  KeyManager \"memory\" {\n    plugin_data {}\n  }\n");
  if (!r && c->key_manager == CAIRN_CA_KM_DISK) {
    r = cairn_buf_appendf(&b, "  KeyManager \"disk\" {\n    plugin_data {\n");
    if (!r && strcmp(c->keys_path, c->keys_dir) != 0) {
      r = cairn_buf_appendf(&b, "      # resolved: ");
      if (!r) r = put_quoted(&b, c->keys_dir);
      if (!r) r = cairn_buf_append(&b, "\n", 1);
    }
    if (!r) r = put_kv(&b, "      ", "keys_path", c->keys_path);
    if (!r) r = cairn_buf_appendf(&b, "    }\n  }\n");
  }
  if (!r && c->upstream_cert_path) {
    r = cairn_buf_appendf(&b, "  UpstreamAuthority \"disk\" {\n"
                         "    plugin_data {\n");
    if (!r) r = put_kv(&b, "      ", "cert_file_path", c->upstream_cert_path);
    if (!r) r = put_kv(&b, "      ", "key_file_path", c->upstream_key_path);
    if (!r && c->upstream_bundle_path)
      r = put_kv(&b, "      ", "bundle_file_path", c->upstream_bundle_path);
    if (!r) r = cairn_buf_appendf(&b, "    }\n  }\n");
  }
  if (!r && c->join_token_attestor)
    r = cairn_buf_appendf(&b, "  NodeAttestor \"join_token\" {\n"
                         "    plugin_data {}\n  }\n");
  if (!r) r = cairn_buf_appendf(&b, "}\n");
  if (!r) {
    *text = (char *)cairn_buf_steal(&b, NULL);
    if (!*text) r = cairn_seterr(CAIRN_ERR_NOMEM, "out of memory");
  }
  cairn_buf_cleanup(&b);
  return r;
}
