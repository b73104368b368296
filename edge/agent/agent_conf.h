/* edge/agent/agent_conf.h - the configuration file of cairn-agent.
 *
 * HCL (cairn/cfg.h) shaped like spire-agent's agent.conf:
 *
 *   agent {
 *     trust_domain = "example.org"           # required
 *     server_address = "127.0.0.1"           # required; IP literal or name
 *     server_port = 8081
 *     socket_path = "/tmp/cairn-agent/public/api.sock"   # Workload API
 *     data_dir = "."                         # SPIRE's default: the cwd
 *     trust_bundle_path = "bundle.pem"       # exactly one of these two
 *     trust_bundle_format = "pem"            # "pem" | "spiffe"; optional
 *     insecure_bootstrap = false
 *     join_token = "..."                     # needed for the first start
 *     log_level = "INFO"                     # DEBUG | INFO | WARN | ERROR
 *     workload_x509_svid_key_type = "ec-p256"
 *   }
 *   plugins {
 *     NodeAttestor "join_token" { plugin_data {} }          # required
 *     KeyManager "disk" { plugin_data { directory = "..." } }
 *     # or KeyManager "memory" { plugin_data {} }   (default: disk)
 *     WorkloadAttestor "unix" { plugin_data {} }             # optional
 *   }
 *
 * Unknown keys, blocks and plugins are errors naming file:line, and so is
 * every invalid value. Every plugin block may hold "enabled = false" (then
 * it is skipped); external plugins (plugin_cmd, plugin_checksum,
 * plugin_data_file) are refused.
 *
 * Paths: data_dir, socket_path and trust_bundle_path are used as written
 * (relative ones are relative to the working directory, as in SPIRE). The
 * KeyManager "disk" directory is relative to data_dir when relative and
 * defaults to data_dir itself; keys_dir holds it already joined.
 *
 * Loading reads only the configuration file; nothing else on disk is
 * looked at or created (the trust bundle file is read when the agent
 * attests).
 */
#ifndef CAIRN_EDGE_AGENT_CONF_H
#define CAIRN_EDGE_AGENT_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/key.h"
#include "cairn/log.h"

#define EA_CONF_SOCKET_DEFAULT "/tmp/cairn-agent/public/api.sock"
#define EA_CONF_SERVER_PORT_DEFAULT 8081
#define EA_CONF_DATA_DIR_DEFAULT "."
#define EA_CONF_PATH_MAX 4096
#define EA_CONF_SOCKET_MAX 107        /* sun_path minus the NUL */
#define EA_CONF_HOST_MAX 253
#define EA_CONF_TOKEN_MAX 128

enum ea_bundle_format {
  EA_BUNDLE_AUTO = 0,   /* PEM when the file holds "-----BEGIN", else JSON */
  EA_BUNDLE_PEM,
  EA_BUNDLE_SPIFFE
};

enum ea_key_manager {
  EA_KM_DISK = 1,       /* node key in a 0600 file in keys_dir */
  EA_KM_MEMORY          /* node key only in memory: no resume on restart */
};

/* A loaded, validated configuration. Strings are owned by the struct
 * (ea_conf_free) and never NULL unless stated. */
struct ea_conf {
  char *file;                     /* where it was loaded from */

  /* agent { } */
  char *trust_domain;             /* bare name, validated */
  char *server_address;           /* IP literal or host name */
  uint16_t server_port;
  char *socket_path;              /* Workload API socket (issue #5) */
  char *data_dir;
  char *trust_bundle_path;        /* NULL when not set */
  enum ea_bundle_format trust_bundle_format;
  int insecure_bootstrap;
  char *join_token;               /* NULL when not set; zeroised on free */
  enum cairn_log_level log_level;
  enum cairn_key_type workload_key_type;

  /* plugins { } */
  enum ea_key_manager key_manager;
  char *keys_dir;                 /* disk: directory of the node key;
                                     NULL for memory */
  int workload_attestor_unix;     /* WorkloadAttestor "unix" configured */
};

/* Loads and validates a file. *out: ea_conf_free(). CAIRN_ERR_CONFIG with
 * a "file:line: ..." detail for every problem in the file; the errors of
 * cairn_cfg_parse_file() for an unreadable one. */
int ea_conf_load(const char *path, struct ea_conf **out);
/* The same for a buffer; name is used in errors ("<config>" when NULL). */
int ea_conf_parse_buf(const char *name, const char *data, size_t len,
                      struct ea_conf **out);

/* Replaces join_token (the -joinToken flag) after the same checks as the
 * file's value; CAIRN_ERR_CONFIG with a detail naming the flag. */
int ea_conf_set_join_token(struct ea_conf *c, const char *token);

/* Checks a join token: 1..128 bytes of [A-Za-z0-9._-], not "." or "..",
 * since it becomes a path segment of the agent's SPIFFE ID. CAIRN_OK or
 * CAIRN_ERR_INVAL with a detail (which never repeats the token). */
int ea_conf_check_token(const char *token);

void ea_conf_free(struct ea_conf *c);

#endif
