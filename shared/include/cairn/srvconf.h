/* cairn/srvconf.h - the configuration file of cairn-cloud and cairn-edge.
 *
 * The file is HCL (cfg.h) shaped like spire-server's:
 *
 *   server {
 *     trust_domain = "example.org"          # required
 *     data_dir = "/var/lib/cairn-cloud"     # required
 *     bind_address = "0.0.0.0"              # CoAP endpoint (issue #4)
 *     bind_port = 8081
 *     socket_path = "/tmp/cairn-server/private/api.sock"
 *     log_level = "INFO"                    # DEBUG | INFO | WARN | ERROR
 *     ca_ttl = "24h"
 *     default_x509_svid_ttl = "1h"
 *     default_jwt_svid_ttl = "5m"
 *     agent_ttl = "1h"                      # node SVIDs; default:
 *                                           # default_x509_svid_ttl
 *     ca_key_type = "ec-p256"               # or "ec-p384"
 *     jwt_issuer = ""
 *     ca_subject { common_name = "..." }    # optional
 *   }
 *   plugins {
 *     DataStore "sql" {                     # required
 *       plugin_data {
 *         database_type = "sqlite3"
 *         connection_string = "datastore.sqlite3"
 *       }
 *     }
 *     KeyManager "disk" { plugin_data { keys_path = "keys" } }
 *     # or KeyManager "memory" { plugin_data {} }
 *     UpstreamAuthority "disk" {            # optional
 *       plugin_data {
 *         cert_file_path = "..." key_file_path = "..."
 *         bundle_file_path = "..."          # optional
 *       }
 *     }
 *     # or, for cairn-edge, an upstream Cairn server:
 *     UpstreamAuthority "cairn" {           # also "spire" (same keys)
 *       plugin_data {
 *         server_address = "10.0.0.1"       # required; IP or host name
 *         server_port = 8081
 *         trust_bundle_path = "root.pem"    # or insecure_bootstrap = true
 *         trust_bundle_format = "pem"       # "pem" | "spiffe"; optional
 *         join_token = "..."                # for the first start
 *         scope = "/site-a"                 # optional path scope
 *       }
 *     }
 *     NodeAttestor "join_token" { plugin_data {} }
 *   }
 *
 * UpstreamAuthority "spire" takes the same keys; SPIRE's
 * workload_api_socket is refused (a Cairn edge attests to its upstream
 * itself, there is no co-located upstream agent). cairn-cloud refuses
 * "cairn"/"spire" (it is a root) and cairn-edge requires one of them;
 * the loader accepts both so `cairn validate` checks either file.
 *
 * Every plugin block may also hold "enabled = false" (the block is then
 * skipped entirely); "plugin_cmd", "plugin_checksum" and "plugin_data_file"
 * (external plugins) are refused. Unknown keys, blocks and plugins are
 * errors naming file:line. Exactly one DataStore is required; at most one
 * KeyManager (none given means "disk" with keys_path <data_dir>/keys) and
 * at most one UpstreamAuthority (none: self-signed roots) may be enabled.
 *
 * Paths: data_dir, socket_path and the UpstreamAuthority files are used as
 * written (relative ones are relative to the working directory, as in
 * SPIRE). DataStore connection_string and KeyManager keys_path name the
 * server's own files and are relative to data_dir when relative; the
 * struct holds them already joined (db_path, keys_dir).
 *
 * Loading only reads the configuration file; nothing else on disk is
 * looked at or created, so `cairn validate -config` can run it offline.
 */
#ifndef CAIRN_SRVCONF_H
#define CAIRN_SRVCONF_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/ca.h"
#include "cairn/key.h"
#include "cairn/log.h"

#define CAIRN_SRVCONF_SOCKET_DEFAULT "/tmp/cairn-server/private/api.sock"
#define CAIRN_SRVCONF_BIND_ADDRESS_DEFAULT "0.0.0.0"
#define CAIRN_SRVCONF_BIND_PORT_DEFAULT 8081
#define CAIRN_SRVCONF_DB_DEFAULT "datastore.sqlite3"  /* in data_dir */
#define CAIRN_SRVCONF_KEYS_DEFAULT "keys"             /* in data_dir */
#define CAIRN_SRVCONF_CA_TTL_MAX (10LL * 365 * 24 * 3600)
#define CAIRN_SRVCONF_SVID_TTL_MAX (365LL * 24 * 3600)
#define CAIRN_SRVCONF_PATH_MAX 4096
#define CAIRN_SRVCONF_WARNINGS_MAX 8
#define CAIRN_SRVCONF_UPSTREAM_PORT_DEFAULT 8081
#define CAIRN_SRVCONF_TOKEN_MAX 128
#define CAIRN_SRVCONF_HOST_MAX 253

/* UpstreamAuthority "cairn" / "spire": how cairn-edge reaches and trusts
 * its upstream Cairn server. */
enum cairn_srvconf_bundle_format {
  CAIRN_SRVCONF_BUNDLE_AUTO = 0,  /* PEM when the file holds "-----BEGIN" */
  CAIRN_SRVCONF_BUNDLE_PEM,
  CAIRN_SRVCONF_BUNDLE_SPIFFE
};

/* A loaded, validated configuration. Every string is owned by the struct
 * (freed by cairn_srvconf_free) and is never NULL unless stated. */
struct cairn_srvconf {
  char *file;                 /* the path it was loaded from */

  /* server { } */
  char *trust_domain;         /* bare name, validated */
  char *bind_address;         /* IPv4 or IPv6 literal */
  int bind_port;              /* 1..65535 */
  char *socket_path;          /* admin API socket, at most 107 bytes */
  char *data_dir;
  enum cairn_log_level log_level;
  int64_t ca_ttl;             /* seconds, CAIRN_CA_TTL_MIN..CA_TTL_MAX */
  int64_t default_x509_svid_ttl;  /* seconds, 1..SVID_TTL_MAX */
  int64_t default_jwt_svid_ttl;   /* seconds, 1..SVID_TTL_MAX */
  int64_t agent_ttl;          /* node SVIDs (SPIRE's agent_ttl), seconds,
                               * 1..SVID_TTL_MAX; 0 = not set (then
                               * default_x509_svid_ttl) */
  enum cairn_key_type ca_key_type;
  char *jwt_issuer;           /* "" = none */
  char *ca_common_name;       /* NULL = none (ca_subject absent or no CN) */

  /* plugins { } */
  char *database_type;        /* "sqlite3" */
  char *connection_string;    /* as written (default "datastore.sqlite3") */
  char *db_path;              /* the SQLite file: connection_string, under
                               * data_dir when relative */
  enum cairn_ca_key_manager key_manager;
  char *keys_path;            /* KeyManager "disk" keys_path as written
                               * (default "keys"); NULL for "memory" */
  char *keys_dir;             /* keys_path, under data_dir when relative;
                               * NULL for "memory" */
  /* UpstreamAuthority "disk": all NULL when not configured;
   * upstream_bundle_path may be NULL alone. */
  char *upstream_cert_path;
  char *upstream_key_path;
  char *upstream_bundle_path;
  /* UpstreamAuthority "cairn" or "spire" (cairn-edge): upstream_plugin is
   * NULL when not configured, and then every field below is NULL/0. */
  char *upstream_plugin;          /* "cairn" or "spire" */
  char *upstream_address;         /* server_address: IP literal or host */
  int upstream_port;              /* server_port, 1..65535 (8081) */
  char *upstream_trust_bundle_path;  /* NULL with insecure_bootstrap */
  enum cairn_srvconf_bundle_format upstream_trust_bundle_format;
  int upstream_insecure_bootstrap;
  char *upstream_join_token;      /* NULL when not set; zeroised on free */
  char *upstream_scope;           /* path scope, NULL when not set */
  int join_token_attestor;    /* 1 when NodeAttestor "join_token" is on */

  /* Legal but questionable settings, one sentence each, e.g.
   * "default_x509_svid_ttl (24h) is more than ca_ttl/6 (4h): SVIDs will
   * be shorter than asked". Programs log them at WARN. */
  char *warnings[CAIRN_SRVCONF_WARNINGS_MAX];
  size_t n_warnings;
};

/* Loads and validates the file at path. On success *out is a new
 * configuration (cairn_srvconf_free()). On failure *out is NULL and the
 * result is CAIRN_ERR_CONFIG with a one-line detail (cairn_errdetail())
 * starting "file:line: " for anything wrong inside the file (bad syntax,
 * unknown key or plugin, a value out of range, a required key missing),
 * or CAIRN_ERR_NOT_FOUND / CAIRN_ERR_PERM / CAIRN_ERR_IO /
 * CAIRN_ERR_TOO_BIG (detail names the path) when the file cannot be read,
 * or CAIRN_ERR_NOMEM. */
int cairn_srvconf_load(const char *path, struct cairn_srvconf **out);

/* The same for a configuration in memory; name is used in error messages
 * and as the "file" member (NULL gives "<config>"). */
int cairn_srvconf_parse_buf(const char *name, const char *data, size_t len,
                            struct cairn_srvconf **out);

/* Frees a configuration. NULL-safe. */
void cairn_srvconf_free(struct cairn_srvconf *c);

/* Checks a join token as -joinToken or join_token: 1..128 bytes of
 * [A-Za-z0-9._-], not "." or ".." (it becomes a path segment of the node
 * ID). CAIRN_ERR_INVAL with a detail that never repeats the token. */
int cairn_srvconf_check_token(const char *token);

/* Replaces upstream_join_token (cairn-edge's -joinToken flag) after that
 * check; CAIRN_ERR_CONFIG naming the flag, CAIRN_ERR_INVAL when no
 * UpstreamAuthority "cairn"/"spire" is configured. */
int cairn_srvconf_set_join_token(struct cairn_srvconf *c, const char *token);

/* Fills *o for cairn_ca_new() from c (the upstream callback of cairn-edge
 * is left NULL for the program to set). The pointers in *o point into c,
 * which must outlive *o's use. */
void cairn_srvconf_ca_opts(const struct cairn_srvconf *c,
                           struct cairn_ca_opts *o);

/* Writes the effective configuration (every key with its value, defaults
 * included, paths as written) as HCL text that loads back to the same
 * values, for `cairn validate`; a comment line before each plugin path
 * under data_dir shows the resolved path. *text: NUL-terminated, free(). */
int cairn_srvconf_format(const struct cairn_srvconf *c, char **text);

#endif
