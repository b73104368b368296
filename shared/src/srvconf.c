/* srvconf.c - the configuration file of cairn-cloud and cairn-edge (see
 * cairn/srvconf.h). */
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
#include "cairn/store.h"
#include "cairn/util.h"

#define JWT_ISSUER_MAX 1024
#define CN_MAX 64  /* X.520 ub-common-name */

/* The path limits of srvconf.h are those the cfg helpers check. */
_Static_assert(CAIRN_SRVCONF_PATH_MAX == CAIRN_CFG_PATH_MAX,
               "path limits differ");
_Static_assert(CAIRN_GRPC_SOCK_PATH_MAX == CAIRN_CFG_SOCKET_PATH_MAX,
               "socket path limits differ");
/* So are the host and token limits, and the bundle formats are the cfg
 * helpers' values. */
_Static_assert(CAIRN_SRVCONF_HOST_MAX == CAIRN_CFG_HOST_MAX,
               "host limits differ");
_Static_assert(CAIRN_SRVCONF_TOKEN_MAX == CAIRN_CFG_TOKEN_MAX,
               "token limits differ");
_Static_assert(CAIRN_SRVCONF_BUNDLE_AUTO == (int)CAIRN_CFG_BUNDLE_AUTO &&
               CAIRN_SRVCONF_BUNDLE_PEM == (int)CAIRN_CFG_BUNDLE_PEM &&
               CAIRN_SRVCONF_BUNDLE_SPIFFE == (int)CAIRN_CFG_BUNDLE_SPIFFE,
               "bundle formats differ");

/* ---- small helpers ------------------------------------------------------- */

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
    return cairn_cfg_error(cairn_cfg_where(blk, key),
                           "%s: %s is out of range (%s..%s)", key,
                           cairn_duration_format(v, d, sizeof d),
                           cairn_duration_format(lo, a, sizeof a),
                           cairn_duration_format(hi, b, sizeof b));
  *out = v;
  return CAIRN_OK;
}

/* Warns when a default SVID TTL is more than ca_ttl/6, as SPIRE does;
 * cut says what happens to such SVIDs. */
static int warn_svid_ttl(struct cairn_srvconf *c, const char *key,
                         int64_t ttl, const char *cut)
{
  char a[32], b[32];

  if (ttl <= c->ca_ttl / 6) return CAIRN_OK;
  return warn(c, "%s (%s) is more than ca_ttl/6 (%s): %s and may be shorter "
              "than asked", key, cairn_duration_format(ttl, a, sizeof a),
              cairn_duration_format(c->ca_ttl / 6, b, sizeof b), cut);
}

/* ---- server { } ----------------------------------------------------------- */

static int load_server(struct cairn_srvconf *c, const struct cairn_cfg *srv)
{
  const struct cairn_cfg *sub = NULL;
  const char *s;
  int64_t port;
  int r;

  r = cairn_cfg_get_trust_domain(srv, "trust_domain", &c->trust_domain);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(srv, "server: trust_domain is required");
  if (r) return r;

  r = cairn_cfg_get_path(srv, "data_dir", NULL, &c->data_dir);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(srv, "server: data_dir is required");
  if (r) return r;

  /* bind_address, bind_port */
  s = NULL;
  r = cairn_cfg_get_str(srv, "bind_address", &s);
  if (r == CAIRN_OK) {
    unsigned char tmp[16];
    if (inet_pton(AF_INET, s, tmp) != 1 && inet_pton(AF_INET6, s, tmp) != 1)
      return cairn_cfg_error(cairn_cfg_where(srv, "bind_address"),
                             "bind_address: \"%.200s\" is not an IPv4 or IPv6 "
                             "address", s);
    if ((r = cairn_cfg_set_str(&c->bind_address, s))) return r;
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }
  r = cairn_cfg_get_int_range(srv, "bind_port", 1, 65535, &port);
  if (r == CAIRN_OK) c->bind_port = (int)port;
  else if (r != CAIRN_ERR_NOT_FOUND) return r;

  r = cairn_cfg_get_socket_path(srv, "socket_path", &c->socket_path);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  r = cairn_cfg_get_log_level(srv, "log_level", &c->log_level);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;

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
  if ((r = get_ttl(srv, "agent_ttl", 1, CAIRN_SRVCONF_SVID_TTL_MAX,
                   &c->agent_ttl)))
    return r;

  /* ca_key_type */
  s = NULL;
  r = cairn_cfg_get_str(srv, "ca_key_type", &s);
  if (r == CAIRN_OK) {
    if (cairn_key_type_parse(s, &c->ca_key_type) != CAIRN_OK)
      return cairn_cfg_error(cairn_cfg_where(srv, "ca_key_type"),
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
      return cairn_cfg_error(cairn_cfg_where(srv, "jwt_issuer"),
                             "jwt_issuer: longer than %d bytes", JWT_ISSUER_MAX);
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
        return cairn_cfg_error(cairn_cfg_where(srv, "jwt_issuer"),
                               "jwt_issuer: must not contain spaces or control "
                               "characters");
    if ((r = cairn_cfg_set_str(&c->jwt_issuer, s))) return r;
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
        return cairn_cfg_error(cairn_cfg_where(sub, "common_name"),
                               "common_name: must be 1..%d bytes", CN_MAX);
      if ((r = cairn_cfg_set_str(&c->ca_common_name, s))) return r;
    } else if (r != CAIRN_ERR_NOT_FOUND) {
      return r;
    }
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }

  /* Cross-checks that only warn. */
  if ((r = warn_svid_ttl(c, "default_x509_svid_ttl", c->default_x509_svid_ttl,
                         "X509-SVIDs are cut at the CA's notAfter")) ||
      (r = warn_svid_ttl(c, "default_jwt_svid_ttl", c->default_jwt_svid_ttl,
                         "JWT-SVIDs are cut at the signing key's expiry")))
    return r;
  return CAIRN_OK;
}

/* ---- plugins { } ---------------------------------------------------------- */

enum ptype { P_DATASTORE, P_KEYMANAGER, P_UPSTREAM, P_NODEATTESTOR, P__N };
static const char *const g_datastores[] = {"sql", NULL};
static const char *const g_keymanagers[] = {"disk", "memory", NULL};
static const char *const g_upstreams[] = {"disk", "cairn", "spire", NULL};
static const char *const g_nodeattestors[] = {"join_token", NULL};
/* SPIRE's server takes several NodeAttestors (one per kind); the loader
 * refuses a second "join_token" itself. */
static const struct cairn_cfg_plugin_type g_ptypes[P__N] = {
    {"DataStore", 0, g_datastores},
    {"KeyManager", 0, g_keymanagers},
    {"UpstreamAuthority", 0, g_upstreams},
    {"NodeAttestor", 1, g_nodeattestors}};

static int load_datastore(struct cairn_srvconf *c, const struct cairn_cfg *pd)
{
  const char *s = "sqlite3";
  const char *cs;
  int r;

  r = cairn_cfg_get_str(pd, "database_type", &s);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  if (strcmp(s, "sqlite3") != 0)
    return cairn_cfg_error(cairn_cfg_where(pd, "database_type"),
                           "database_type: \"%.64s\" is not supported (only "
                           "\"sqlite3\")", s);
  if ((r = cairn_cfg_set_str(&c->connection_string, CAIRN_SRVCONF_DB_DEFAULT)))
    return r;
  r = cairn_cfg_get_path(pd, "connection_string", NULL, &c->connection_string);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  cs = c->connection_string;
  if (strncmp(cs, "file:", 5) == 0 || strcmp(cs, ":memory:") == 0)
    return cairn_cfg_error(cairn_cfg_where(pd, "connection_string"),
                           "connection_string: give the path of the SQLite "
                           "file (URIs and :memory: are not supported)");
  if ((r = cairn_cfg_set_str(&c->database_type, s))) return r;
  if ((r = cairn_cfg_path_join(c->data_dir, cs, &c->db_path)))
    return cairn_cfg_error(cairn_cfg_where(pd, "connection_string"), "%s",
                           cairn_errdetail());
  return CAIRN_OK;
}

static int load_keymanager(struct cairn_srvconf *c, const char *name,
                           const struct cairn_cfg *pd)
{
  size_t n;
  int r;

  if (strcmp(name, "memory") == 0) {
    c->key_manager = CAIRN_CA_KM_MEMORY;
    free(c->keys_dir);
    free(c->keys_path);
    c->keys_dir = c->keys_path = NULL;
    return CAIRN_OK;
  }
  c->key_manager = CAIRN_CA_KM_DISK;  /* "disk" */
  if ((r = cairn_cfg_set_str(&c->keys_path, CAIRN_SRVCONF_KEYS_DEFAULT)))
    return r;
  r = cairn_cfg_get_path(pd, "keys_path", NULL, &c->keys_path);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  n = strlen(c->keys_path);
  if (n >= 5 && strcmp(c->keys_path + n - 5, ".json") == 0 &&
      (r = warn(c, "KeyManager \"disk\" keys_path \"%.200s\" looks like "
                "SPIRE's keys.json file; Cairn uses it as a directory of key "
                "files", c->keys_path)))
    return r;
  if ((r = cairn_cfg_path_join(c->data_dir, c->keys_path, &c->keys_dir)))
    return cairn_cfg_error(cairn_cfg_where(pd, "keys_path"), "%s",
                           cairn_errdetail());
  return CAIRN_OK;
}

static int load_upstream(struct cairn_srvconf *c, const struct cairn_cfg *pb,
                         const struct cairn_cfg *pd)
{
  int r;

  r = cairn_cfg_get_path(pd, "cert_file_path", NULL, &c->upstream_cert_path);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(pd ? pd : pb, "UpstreamAuthority \"disk\": "
                           "cert_file_path is required");
  if (r) return r;
  r = cairn_cfg_get_path(pd, "key_file_path", NULL, &c->upstream_key_path);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(pd, "UpstreamAuthority \"disk\": key_file_path is "
                           "required");
  if (r) return r;
  r = cairn_cfg_get_path(pd, "bundle_file_path", NULL,
                         &c->upstream_bundle_path);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;
  return CAIRN_OK;
}

/* ---- UpstreamAuthority "cairn" / "spire" (cairn-edge) ------------------- */

int cairn_srvconf_check_token(const char *t)
{
  return cairn_cfg_check_token(t);
}

int cairn_srvconf_set_join_token(struct cairn_srvconf *c, const char *token)
{
  if (!c || !c->upstream_plugin)
    return cairn_seterr(CAIRN_ERR_INVAL, "-joinToken needs an "
                        "UpstreamAuthority \"cairn\" in the configuration");
  return cairn_cfg_set_join_token(&c->upstream_join_token, token);
}

static int load_upstream_cairn(struct cairn_srvconf *c, const char *name,
                               const struct cairn_cfg *pb,
                               const struct cairn_cfg *pd)
{
  enum cairn_cfg_bundle_format fmt =
      (enum cairn_cfg_bundle_format)c->upstream_trust_bundle_format;
  const char *s = NULL;
  int64_t port;
  int r;

  if ((r = cairn_cfg_set_str(&c->upstream_plugin, name))) return r;
  c->upstream_port = CAIRN_SRVCONF_UPSTREAM_PORT_DEFAULT;
  if (strcmp(name, "spire") == 0 &&
      cairn_cfg_get_str(pd, "workload_api_socket", &s) != CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(cairn_cfg_where(pd, "workload_api_socket"),
                           "UpstreamAuthority \"spire\": workload_api_socket "
                           "is not applicable: cairn-edge attests to its "
                           "upstream itself (join_token, trust_bundle_path) "
                           "instead of through a co-located agent's Workload "
                           "API");
  r = cairn_cfg_get_host(pd, "server_address", &c->upstream_address);
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(pd ? pd : pb, "UpstreamAuthority \"%s\": "
                           "server_address is required", name);
  if (r) return r;
  r = cairn_cfg_get_int_range(pd, "server_port", 1, 65535, &port);
  if (r == CAIRN_OK) c->upstream_port = (int)port;
  else if (r != CAIRN_ERR_NOT_FOUND) return r;

  r = cairn_cfg_get_bootstrap(pd, &c->upstream_trust_bundle_path, &fmt,
                              &c->upstream_insecure_bootstrap);
  c->upstream_trust_bundle_format = (enum cairn_srvconf_bundle_format)fmt;
  if (r == CAIRN_ERR_NOT_FOUND)
    return cairn_cfg_error(pd ? pd : pb, "UpstreamAuthority \"%s\": "
                           "trust_bundle_path is required unless "
                           "insecure_bootstrap = true (the edge must know its "
                           "upstream's root to attest safely)", name);
  if (r) return r;

  r = cairn_cfg_get_join_token(pd, "join_token", &c->upstream_join_token);
  if (r && r != CAIRN_ERR_NOT_FOUND) return r;

  s = NULL;
  r = cairn_cfg_get_str(pd, "scope", &s);
  if (r == CAIRN_OK) {
    if (!s[0] || strlen(s) > CAIRN_STORE_ID_MAX ||
        cairn_scope_validate(s) != CAIRN_OK)
      return cairn_cfg_error(cairn_cfg_where(pd, "scope"),
                             "scope: \"%.200s\" is not a path scope such as "
                             "\"/site-a\" or \"/site-a/*\"", s);
    if ((r = cairn_cfg_set_str(&c->upstream_scope, s))) return r;
  } else if (r != CAIRN_ERR_NOT_FOUND) {
    return r;
  }
  return CAIRN_OK;
}

static int load_upstream_any(struct cairn_srvconf *c, const char *name,
                             const struct cairn_cfg *pb,
                             const struct cairn_cfg *pd)
{
  if (strcmp(name, "disk") == 0) return load_upstream(c, pb, pd);
  return load_upstream_cairn(c, name, pb, pd);
}

/* One enabled plugin, its type and name already checked. */
static int load_plugin(struct cairn_srvconf *c, const struct cairn_cfg_plugin *p)
{
  switch (p->type) {
    case P_DATASTORE: return load_datastore(c, p->data);
    case P_KEYMANAGER: return load_keymanager(c, p->name, p->data);
    case P_UPSTREAM: return load_upstream_any(c, p->name, p->block, p->data);
    case P_NODEATTESTOR:
      if (c->join_token_attestor)
        return cairn_cfg_error(p->block, "NodeAttestor \"join_token\" is "
                               "configured twice");
      c->join_token_attestor = 1;
      return CAIRN_OK;
    default: break;
  }
  return cairn_seterr(CAIRN_ERR_INTERNAL, "unhandled plugin type");
}

static int load_plugins(struct cairn_srvconf *c, const struct cairn_cfg *root,
                        const struct cairn_cfg *plugins)
{
  struct cairn_cfg_plugins it;
  struct cairn_cfg_plugin p;
  int r;

  if ((r = cairn_cfg_plugins_init(&it, plugins, "Cairn", g_ptypes, P__N)))
    return r;
  while ((r = cairn_cfg_plugins_next(&it, &p)) == CAIRN_OK)
    if ((r = load_plugin(c, &p))) return r;
  if (r != CAIRN_ERR_NOT_FOUND) return r;
  if (!cairn_cfg_plugins_first(&it, P_DATASTORE))
    return cairn_cfg_error(plugins ? plugins : root,
                           "plugins: a DataStore \"sql\" plugin is required");
  if (!cairn_cfg_plugins_first(&it, P_KEYMANAGER) &&
      ((r = cairn_cfg_set_str(&c->keys_path, CAIRN_SRVCONF_KEYS_DEFAULT)) ||
       (r = cairn_cfg_path_join(c->data_dir, CAIRN_SRVCONF_KEYS_DEFAULT,
                                &c->keys_dir))))
    return r;
  return CAIRN_OK;
}

/* ---- entry points ---------------------------------------------------------- */

/* A cairn_cfg_load_fn: ctx is the struct cairn_srvconf ** to fill. */
static int load_tree(const char *name, const struct cairn_cfg *root, void *ctx)
{
  struct cairn_srvconf **out = ctx;
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
  if ((r = cairn_cfg_set_str(&c->file, name)) ||
      (r = cairn_cfg_set_str(&c->bind_address,
                             CAIRN_SRVCONF_BIND_ADDRESS_DEFAULT)) ||
      (r = cairn_cfg_set_str(&c->socket_path, CAIRN_SRVCONF_SOCKET_DEFAULT)) ||
      (r = cairn_cfg_set_str(&c->jwt_issuer, "")))
    goto out;

  if ((r = cairn_cfg_required_block(root, "server", NULL, &srv)) ||
      (r = load_server(c, srv)))
    goto out;
  if ((r = cairn_cfg_required_block(root, "plugins", "a DataStore \"sql\" "
                                    "plugin is required", &plugins)) ||
      (r = load_plugins(c, root, plugins)))
    goto out;

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
  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "no output");
  *out = NULL;
  return cairn_cfg_load_buf(name, data, len, load_tree, out);
}

int cairn_srvconf_load(const char *path, struct cairn_srvconf **out)
{
  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "no output");
  *out = NULL;
  return cairn_cfg_load_file(path, load_tree, out);
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
  free(c->upstream_plugin);
  free(c->upstream_address);
  free(c->upstream_trust_bundle_path);
  cairn_cfg_clear_secret(&c->upstream_join_token);
  free(c->upstream_scope);
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
  if (!r && c->agent_ttl)
    r = cairn_buf_appendf(&b, "  agent_ttl = \"%s\"\n",
                          cairn_duration_format(c->agent_ttl, d1, sizeof d1));
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
  if (!r && c->upstream_plugin) {
    r = cairn_buf_appendf(&b, "  UpstreamAuthority ");
    if (!r) r = put_quoted(&b, c->upstream_plugin);
    if (!r) r = cairn_buf_appendf(&b, " {\n    plugin_data {\n");
    if (!r) r = put_kv(&b, "      ", "server_address", c->upstream_address);
    if (!r)
      r = cairn_buf_appendf(&b, "      server_port = %d\n", c->upstream_port);
    if (!r && c->upstream_trust_bundle_path)
      r = put_kv(&b, "      ", "trust_bundle_path",
                 c->upstream_trust_bundle_path);
    if (!r && c->upstream_trust_bundle_format != CAIRN_SRVCONF_BUNDLE_AUTO)
      r = put_kv(&b, "      ", "trust_bundle_format",
                 c->upstream_trust_bundle_format == CAIRN_SRVCONF_BUNDLE_PEM
                     ? "pem" : "spiffe");
    if (!r && c->upstream_insecure_bootstrap)
      r = cairn_buf_appendf(&b, "      insecure_bootstrap = true\n");
    /* The token is a secret: only whether one is set. */
    if (!r && c->upstream_join_token)
      r = cairn_buf_appendf(&b, "      # join_token is set (not shown)\n");
    if (!r && c->upstream_scope)
      r = put_kv(&b, "      ", "scope", c->upstream_scope);
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
