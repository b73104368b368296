/* Unit tests for the configuration loader of cairn-cloud and cairn-edge
 * (cairn/srvconf.h). */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/err.h"
#include "cairn/srvconf.h"

#define MIN_SERVER                                                         \
  "server {\n"                                                             \
  "  trust_domain = \"example.org\"\n"                                     \
  "  data_dir = \"/var/lib/cairn\"\n"                                      \
  "}\n"
#define MIN_PLUGINS                                                        \
  "plugins {\n"                                                            \
  "  DataStore \"sql\" {\n"                                                \
  "    plugin_data {\n"                                                    \
  "      database_type = \"sqlite3\"\n"                                    \
  "      connection_string = \"db.sqlite3\"\n"                             \
  "    }\n"                                                                \
  "  }\n"                                                                  \
  "}\n"

static struct cairn_srvconf *load_ok(const char *file, int line,
                                     const char *text)
{
  struct cairn_srvconf *c = NULL;
  int r = cairn_srvconf_parse_buf("t.conf", text, strlen(text), &c);
  if (r != CAIRN_OK) {
    test_fail(file, line, "load failed: %d (%s)", r, cairn_errdetail());
    return NULL;
  }
  return c;
}
#define LOAD_OK(text) load_ok(__FILE__, __LINE__, (text))

/* Loading text must fail with CAIRN_ERR_CONFIG whose detail starts with
 * "t.conf:<line>: " (line 0: "t.conf: ") and contains want. */
static void bad_at(const char *file, int cline, const char *text, int line,
                   const char *want)
{
  struct cairn_srvconf *c = (struct cairn_srvconf *)1;
  char prefix[64];
  const char *d;
  int r = cairn_srvconf_parse_buf("t.conf", text, strlen(text), &c);

  if (r != CAIRN_ERR_CONFIG) {
    test_fail(file, cline, "want CONFIG error, got %d (%s)", r,
              cairn_errdetail());
    if (r == CAIRN_OK) cairn_srvconf_free(c);
    return;
  }
  if (c) test_fail(file, cline, "*out not NULL after an error");
  d = cairn_errdetail();
  if (line > 0) snprintf(prefix, sizeof prefix, "t.conf:%d: ", line);
  else snprintf(prefix, sizeof prefix, "t.conf: ");
  if (strncmp(d, prefix, strlen(prefix)) != 0)
    test_fail(file, cline, "detail \"%s\" does not start with \"%s\"", d,
              prefix);
  if (want && !strstr(d, want))
    test_fail(file, cline, "detail \"%s\" lacks \"%s\"", d, want);
}
#define BAD(text, line, want) bad_at(__FILE__, __LINE__, (text), (line), (want))

static void test_defaults(void)
{
  struct cairn_srvconf *c = LOAD_OK(MIN_SERVER MIN_PLUGINS);
  if (!c) return;
  CHECK_STR_EQ(c->file, "t.conf");
  CHECK_STR_EQ(c->trust_domain, "example.org");
  CHECK_STR_EQ(c->data_dir, "/var/lib/cairn");
  CHECK_STR_EQ(c->bind_address, "0.0.0.0");
  CHECK_INT_EQ(c->bind_port, 8081);
  CHECK_STR_EQ(c->socket_path, "/tmp/cairn-server/private/api.sock");
  CHECK_INT_EQ(c->log_level, CAIRN_LOG_INFO);
  CHECK_INT_EQ(c->ca_ttl, 24 * 3600);
  CHECK_INT_EQ(c->default_x509_svid_ttl, 3600);
  CHECK_INT_EQ(c->default_jwt_svid_ttl, 300);
  CHECK_INT_EQ(c->ca_key_type, CAIRN_KEY_EC_P256);
  CHECK_STR_EQ(c->jwt_issuer, "");
  CHECK(c->ca_common_name == NULL);
  CHECK_STR_EQ(c->database_type, "sqlite3");
  CHECK_STR_EQ(c->connection_string, "db.sqlite3");
  CHECK_STR_EQ(c->db_path, "/var/lib/cairn/db.sqlite3");
  CHECK_INT_EQ(c->key_manager, CAIRN_CA_KM_DISK);
  CHECK_STR_EQ(c->keys_path, "keys");
  CHECK_STR_EQ(c->keys_dir, "/var/lib/cairn/keys");
  CHECK(c->upstream_cert_path == NULL);
  CHECK(c->upstream_key_path == NULL);
  CHECK(c->upstream_bundle_path == NULL);
  CHECK_INT_EQ(c->join_token_attestor, 0);
  CHECK_INT_EQ(c->n_warnings, 0);
  cairn_srvconf_free(c);

  /* plugin_data may be left out: connection_string defaults too. */
  c = LOAD_OK(MIN_SERVER "plugins { DataStore \"sql\" {} }");
  if (!c) return;
  CHECK_STR_EQ(c->db_path, "/var/lib/cairn/datastore.sqlite3");
  cairn_srvconf_free(c);
}

static void test_full(void)
{
  struct cairn_srvconf *c;
  struct cairn_ca_opts o;
  const char *text =
      "# a complete configuration\n"
      "server {\n"
      "  trust_domain = \"td.example\"\n"
      "  bind_address = \"::1\"\n"
      "  bind_port = 9000\n"
      "  socket_path = \"/run/cairn/api.sock\"\n"
      "  data_dir = \"./data/\"\n"
      "  log_level = \"debug\"\n"
      "  ca_ttl = \"48h\"\n"
      "  default_x509_svid_ttl = \"2h\"\n"
      "  default_jwt_svid_ttl = 600\n"
      "  ca_key_type = \"ec-p384\"\n"
      "  jwt_issuer = \"https://oidc.td.example\"\n"
      "  ca_subject { common_name = \"Cairn Root \\\"A\\\"\" }\n"
      "}\n"
      "plugins {\n"
      "  DataStore \"sql\" {\n"
      "    plugin_data {\n"
      "      database_type = \"sqlite3\"\n"
      "      connection_string = \"/srv/cairn.db\"\n"
      "    }\n"
      "  }\n"
      "  KeyManager \"memory\" { enabled = false }\n"
      "  KeyManager \"disk\" { plugin_data = { keys_path = \"k\" } }\n"
      "  UpstreamAuthority \"disk\" {\n"
      "    plugin_data {\n"
      "      cert_file_path = \"up/ca.crt\"\n"
      "      key_file_path = \"up/ca.key\"\n"
      "      bundle_file_path = \"up/roots.pem\"\n"
      "    }\n"
      "  }\n"
      "  NodeAttestor \"join_token\" { plugin_data {} }\n"
      "}\n";
  char *fmt = NULL;
  struct cairn_srvconf *c2;

  c = LOAD_OK(text);
  if (!c) return;
  CHECK_STR_EQ(c->trust_domain, "td.example");
  CHECK_STR_EQ(c->bind_address, "::1");
  CHECK_INT_EQ(c->bind_port, 9000);
  CHECK_STR_EQ(c->socket_path, "/run/cairn/api.sock");
  CHECK_STR_EQ(c->data_dir, "./data/");
  CHECK_INT_EQ(c->log_level, CAIRN_LOG_DEBUG);
  CHECK_INT_EQ(c->ca_ttl, 48 * 3600);
  CHECK_INT_EQ(c->default_x509_svid_ttl, 7200);
  CHECK_INT_EQ(c->default_jwt_svid_ttl, 600);
  CHECK_INT_EQ(c->ca_key_type, CAIRN_KEY_EC_P384);
  CHECK_STR_EQ(c->jwt_issuer, "https://oidc.td.example");
  CHECK_STR_EQ(c->ca_common_name, "Cairn Root \"A\"");
  CHECK_STR_EQ(c->db_path, "/srv/cairn.db");  /* absolute: kept */
  CHECK_INT_EQ(c->key_manager, CAIRN_CA_KM_DISK);
  CHECK_STR_EQ(c->keys_dir, "./data/k");      /* relative to data_dir */
  CHECK_STR_EQ(c->upstream_cert_path, "up/ca.crt");  /* as written */
  CHECK_STR_EQ(c->upstream_key_path, "up/ca.key");
  CHECK_STR_EQ(c->upstream_bundle_path, "up/roots.pem");
  CHECK_INT_EQ(c->join_token_attestor, 1);
  CHECK_INT_EQ(c->n_warnings, 0);

  cairn_srvconf_ca_opts(c, &o);
  CHECK_STR_EQ(o.trust_domain, "td.example");
  CHECK_STR_EQ(o.keys_dir, "./data/k");
  CHECK_INT_EQ(o.key_type, CAIRN_KEY_EC_P384);
  CHECK_INT_EQ(o.ca_ttl, 48 * 3600);
  CHECK_INT_EQ(o.key_manager, CAIRN_CA_KM_DISK);
  CHECK_STR_EQ(o.upstream_cert_path, "up/ca.crt");
  CHECK_STR_EQ(o.upstream_key_path, "up/ca.key");
  CHECK_STR_EQ(o.upstream_bundle_path, "up/roots.pem");
  CHECK_STR_EQ(o.ca_common_name, "Cairn Root \"A\"");
  CHECK(o.upstream_fn == NULL);

  /* The formatted effective configuration loads back to the same values
   * (paths are already joined, so they come back absolute or as-is). */
  CHECK_OK(cairn_srvconf_format(c, &fmt));
  if (fmt) {
    CHECK(strstr(fmt, "ca_ttl = \"48h\"") != NULL);
    CHECK(strstr(fmt, "KeyManager \"disk\"") != NULL);
    CHECK(strstr(fmt, "# resolved: \"./data/k\"") != NULL);
    c2 = NULL;
    CHECK_OK(cairn_srvconf_parse_buf("fmt.conf", fmt, strlen(fmt), &c2));
    if (c2) {
      CHECK_STR_EQ(c2->trust_domain, c->trust_domain);
      CHECK_STR_EQ(c2->bind_address, c->bind_address);
      CHECK_INT_EQ(c2->bind_port, c->bind_port);
      CHECK_INT_EQ(c2->log_level, c->log_level);
      CHECK_INT_EQ(c2->ca_ttl, c->ca_ttl);
      CHECK_INT_EQ(c2->default_x509_svid_ttl, c->default_x509_svid_ttl);
      CHECK_INT_EQ(c2->default_jwt_svid_ttl, c->default_jwt_svid_ttl);
      CHECK_INT_EQ(c2->ca_key_type, c->ca_key_type);
      CHECK_STR_EQ(c2->ca_common_name, c->ca_common_name);
      CHECK_STR_EQ(c2->jwt_issuer, c->jwt_issuer);
      CHECK_STR_EQ(c2->db_path, c->db_path);
      CHECK_STR_EQ(c2->connection_string, "/srv/cairn.db");
      CHECK_STR_EQ(c2->keys_path, "k");
      CHECK_STR_EQ(c2->keys_dir, c->keys_dir);
      CHECK_STR_EQ(c2->data_dir, c->data_dir);
      CHECK_STR_EQ(c2->upstream_bundle_path, c->upstream_bundle_path);
      CHECK_INT_EQ(c2->join_token_attestor, 1);
      cairn_srvconf_free(c2);
    }
    free(fmt);
  }
  cairn_srvconf_free(c);

  /* The memory key manager has no keys directory. */
  c = LOAD_OK(MIN_SERVER "plugins { DataStore \"sql\" {}\n"
              "KeyManager \"memory\" { plugin_data {} } }");
  if (!c) return;
  CHECK_INT_EQ(c->key_manager, CAIRN_CA_KM_MEMORY);
  CHECK(c->keys_dir == NULL);
  CHECK(c->keys_path == NULL);
  cairn_srvconf_ca_opts(c, &o);
  CHECK_INT_EQ(o.key_manager, CAIRN_CA_KM_MEMORY);
  CHECK_OK(cairn_srvconf_format(c, &fmt));
  if (fmt) {
    CHECK(strstr(fmt, "KeyManager \"memory\"") != NULL);
    free(fmt);
  }
  cairn_srvconf_free(c);
}

/* Control characters in values survive formatting on their own line. */
static void test_format_escapes(void)
{
  struct cairn_srvconf *c, *c2 = NULL;
  char *fmt = NULL;

  c = LOAD_OK("server {\n trust_domain = \"a.org\"\n"
              " data_dir = \"/d\\n\\u007f\\\\x\\\"\"\n}\n"
              "plugins { DataStore \"sql\" { plugin_data {\n"
              " connection_string = \"db\\tfile\" } } }");
  if (!c) return;
  CHECK_STR_EQ(c->data_dir, "/d\n\x7f\\x\"");
  CHECK_STR_EQ(c->db_path, "/d\n\x7f\\x\"/db\tfile");
  CHECK_OK(cairn_srvconf_format(c, &fmt));
  if (fmt) {
    CHECK(strstr(fmt, "data_dir = \"/d\\u000a\\u007f\\\\x\\\"\"\n") != NULL);
    CHECK_OK(cairn_srvconf_parse_buf("fmt.conf", fmt, strlen(fmt), &c2));
    if (c2) {
      CHECK_STR_EQ(c2->data_dir, c->data_dir);
      CHECK_STR_EQ(c2->db_path, c->db_path);
      CHECK_STR_EQ(c2->keys_dir, c->keys_dir);
    }
    free(fmt);
  }
  cairn_srvconf_free(c2);
  cairn_srvconf_free(c);
}

static void test_server_errors(void)
{
  BAD("", 0, "missing server");
  BAD(MIN_PLUGINS, 0, "missing server");
  BAD(MIN_SERVER, 0, "missing plugins");
  BAD("server = \"x\"\n" MIN_PLUGINS, 1, "expected a block");
  BAD(MIN_SERVER MIN_SERVER MIN_PLUGINS, 5, "a second 'server' block");
  BAD("server {\n data_dir = \"/d\"\n}\n" MIN_PLUGINS, 1,
      "trust_domain is required");
  BAD("server {\n trust_domain = \"a.org\"\n}\n" MIN_PLUGINS, 1,
      "data_dir is required");
  BAD("server {\n trust_domain = \"Bad Domain\"\n data_dir = \"/d\"\n}\n"
      MIN_PLUGINS, 2, "invalid trust domain");
  BAD("server {\n trust_domain = \"spiffe://a.org\"\n data_dir = \"/d\"\n}\n"
      MIN_PLUGINS, 2, "bare name");
  BAD("server {\n trust_domain = 5\n data_dir = \"/d\"\n}\n" MIN_PLUGINS, 2,
      "expected a string");
  BAD("server {\n trust_domain = \"a.org\"\n data_dir = \"\"\n}\n"
      MIN_PLUGINS, 3, "empty path");
  /* An unknown key anywhere, named with its line and block. */
  BAD("server {\n trust_domain = \"a.org\"\n data_dir = \"/d\"\n"
      " audit_log_enabled = true\n}\n" MIN_PLUGINS, 4,
      "unknown key 'audit_log_enabled' in block 'server'");
  BAD(MIN_SERVER MIN_PLUGINS "telemetry {}\n", 13,
      "unknown key 'telemetry' at top level");
  BAD("server {\n trust_domain = \"a.org\"\n data_dir = \"/d\"\n"
      " ca_subject { organization = [\"x\"] }\n}\n" MIN_PLUGINS, 4,
      "unknown key 'organization' in block 'server.ca_subject'");
  BAD("server {\n trust_domain = \"a.org\"\n data_dir = \"/d\"\n"
      " ca_subject { common_name = \"\" }\n}\n" MIN_PLUGINS, 4,
      "common_name");

#define SRV(line) "server {\n trust_domain = \"a.org\"\n data_dir = \"/d\"\n " \
                  line "\n}\n" MIN_PLUGINS
  BAD(SRV("bind_address = \"localhost\""), 4, "not an IPv4 or IPv6");
  BAD(SRV("bind_port = 0"), 4, "out of range (1..65535)");
  BAD(SRV("bind_port = 70000"), 4, "out of range");
  BAD(SRV("bind_port = \"80\""), 4, "expected an integer");
  BAD(SRV("log_level = \"verbose\""), 4, "DEBUG, INFO, WARN, ERROR");
  BAD(SRV("ca_ttl = \"30s\""), 4, "ca_ttl: 30s is out of range (1m..87600h)");
  BAD(SRV("ca_ttl = \"1h30\""), 4, "ca_ttl");
  BAD(SRV("ca_ttl = \"500ms\""), 4, "sub-second");
  BAD(SRV("ca_ttl = \"-1h\""), 4, "negative");
  BAD(SRV("ca_ttl = \"87600h1s\""), 4, "out of range");
  BAD(SRV("default_x509_svid_ttl = 0"), 4, "out of range");
  BAD(SRV("default_jwt_svid_ttl = \"400d\""), 4, "out of range");
  BAD(SRV("agent_ttl = 0"), 4, "agent_ttl: 0s is out of range");
  BAD(SRV("ca_key_type = \"rsa-2048\""), 4, "ec-p256 or ec-p384");
  BAD(SRV("jwt_issuer = \"has space\""), 4, "jwt_issuer");
  BAD(SRV("socket_path = \"/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\""),
      4, "Unix socket path");
  BAD(SRV("trust_domain = \"b.org\""), 4, "duplicate key 'trust_domain'");
#undef SRV
}

static void test_plugin_errors(void)
{
#define PLUG(body) MIN_SERVER "plugins {\n" body "\n}\n"
  /* "plugins {" is line 5; its first item is on line 6 */
  BAD(PLUG(""), 5, "DataStore \"sql\" plugin is required");
  BAD(PLUG("DataStore \"sql\" { enabled = false }"), 5,
      "DataStore \"sql\" plugin is required");
  BAD(PLUG("DataStore \"postgres\" {}"), 6, "unknown DataStore plugin");
  BAD(PLUG("DataStore \"sql\" { plugin_data { database_type = \"mysql\" } }"),
      6, "not supported (only \"sqlite3\")");
  BAD(PLUG("DataStore \"sql\" {\n plugin_data {\n connection_string = "
           "\"file:x.db?mode=ro\" } }"), 8, "URIs");
  BAD(PLUG("DataStore \"sql\" {\n plugin_data {\n max_open_conns = 5 } }"), 8,
      "unknown key 'max_open_conns' in block "
      "'plugins.DataStore \"sql\".plugin_data'");
  BAD(PLUG("DataStore \"sql\" {}\nDataStore \"sql\" {}"), 7,
      "a second DataStore plugin");
  BAD(PLUG("DataStore \"sql\" {}\nKeyManager \"aws_kms\" {}"), 7,
      "unknown KeyManager plugin");
  BAD(PLUG("DataStore \"sql\" {}\nKeyManager \"disk\" {}\n"
           "KeyManager \"memory\" {}"), 8, "only one may be enabled");
  BAD(PLUG("DataStore \"sql\" {}\nKeyManager \"disk\" { plugin_data {\n"
           "keys_path = \"\" } }"), 8, "empty path");
  BAD(PLUG("DataStore \"sql\" {}\nUpstreamAuthority \"vault\" {}"), 7,
      "unknown UpstreamAuthority plugin");
  BAD(PLUG("DataStore \"sql\" {}\nUpstreamAuthority \"disk\" {}"), 7,
      "cert_file_path is required");
  BAD(PLUG("DataStore \"sql\" {}\nUpstreamAuthority \"disk\" {\n"
           "plugin_data { cert_file_path = \"c\" } }"), 8,
      "key_file_path is required");
  BAD(PLUG("DataStore \"sql\" {}\nNodeAttestor \"x509pop\" {}"), 7,
      "unknown NodeAttestor plugin");
  BAD(PLUG("DataStore \"sql\" {}\nNodeAttestor \"join_token\" {}\n"
           "NodeAttestor \"join_token\" {}"), 8, "configured twice");
  BAD(PLUG("DataStore \"sql\" {}\nNodeAttestor \"join_token\" {\n"
           "plugin_data { foo = 1 } }"), 8, "unknown key 'foo'");
  BAD(PLUG("DataStore \"sql\" {}\nWorkloadAttestor \"unix\" {}"), 7,
      "unknown plugin type 'WorkloadAttestor'");
  BAD(PLUG("DataStore \"sql\" {\n plugin_cmd = \"/bin/x\" }"), 7,
      "external plugins are not supported");
  BAD(PLUG("DataStore \"sql\" {\n plugin_data_file = \"/x\" }"), 7,
      "external plugins");
  BAD(PLUG("DataStore {}"), 6, "expected a plugin block");
  BAD(PLUG("DataStore \"sql\" \"x\" {}"), 6, "expected a plugin block");
  BAD(PLUG("DataStore = \"sql\""), 6, "expected a plugin block");
  BAD(PLUG("DataStore \"sql\" { enabled = \"no\" }"), 6, "expected a boolean");
  BAD(PLUG("DataStore \"sql\" { plugin_data = 3 }"), 6, "expected a block");
  BAD(PLUG("DataStore \"sql\" { enabled = true\n bogus = 1 }"), 7,
      "unknown key 'bogus' in block 'plugins.DataStore \"sql\"'");
  /* Syntax errors come from the parser, with the line. */
  BAD(PLUG("DataStore \"sql\" {\n plugin_data { x = } }"), 7, NULL);
#undef PLUG
}

static void test_warnings(void)
{
  struct cairn_srvconf *c;

  c = LOAD_OK("server {\n trust_domain = \"a.org\"\n data_dir = \"/d\"\n"
              " ca_ttl = \"1h\"\n default_x509_svid_ttl = \"30m\"\n"
              " default_jwt_svid_ttl = \"5m\"\n}\n"
              "plugins { DataStore \"sql\" {}\n"
              " KeyManager \"disk\" { plugin_data { keys_path = "
              "\"/d/keys.json\" } } }");
  if (!c) return;
  CHECK_INT_EQ(c->n_warnings, 2);
  if (c->n_warnings == 2) {
    CHECK(strstr(c->warnings[0], "default_x509_svid_ttl (30m)") != NULL);
    CHECK(strstr(c->warnings[0], "ca_ttl/6 (10m)") != NULL);
    CHECK(strstr(c->warnings[1], "keys.json") != NULL);
  }
  CHECK_STR_EQ(c->keys_dir, "/d/keys.json");
  cairn_srvconf_free(c);
}

static void test_files(void)
{
  struct cairn_srvconf *c = (struct cairn_srvconf *)1;
  const char *p = test_path("cloud.conf");
  const char *text = MIN_SERVER MIN_PLUGINS;

  CHECK_ERR(cairn_srvconf_load(test_path("absent.conf"), &c),
            CAIRN_ERR_NOT_FOUND);
  CHECK(c == NULL);
  CHECK(strstr(cairn_errdetail(), "absent.conf") != NULL);
  CHECK_ERR(cairn_srvconf_load("", &c), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_srvconf_load(NULL, &c), CAIRN_ERR_INVAL);

  CHECK_INT_EQ(test_write_file(p, text, strlen(text)), 0);
  CHECK_OK(cairn_srvconf_load(p, &c));
  if (c) {
    CHECK_STR_EQ(c->file, p);
    CHECK_STR_EQ(c->trust_domain, "example.org");
    cairn_srvconf_free(c);
  }
  /* Errors inside a file name the file's path. */
  CHECK_INT_EQ(test_write_file(p, "server {\n bogus = 1\n}\n", 22), 0);
  CHECK_ERR(cairn_srvconf_load(p, &c), CAIRN_ERR_CONFIG);
  CHECK(strncmp(cairn_errdetail(), p, strlen(p)) == 0);
  cairn_srvconf_free(NULL);
}

/* ---- UpstreamAuthority "cairn" / "spire" (cairn-edge) ------------------ */

#define EDGE_PLUGINS(up)                                                   \
  "plugins {\n"                                                            \
  "  DataStore \"sql\" { plugin_data {} }\n"                               \
  "  UpstreamAuthority " up "\n"                                           \
  "}\n"

static void test_edge(void)
{
  struct cairn_srvconf *c, *c2 = NULL;
  struct cairn_ca_opts o;
  char *fmt = NULL;

  c = LOAD_OK(MIN_SERVER EDGE_PLUGINS(
      "\"cairn\" { plugin_data {\n"
      "  server_address = \"10.0.0.1\"\n"
      "  trust_bundle_path = \"up.pem\"\n"
      "  join_token = \"tok-1.2_3\"\n"
      "  scope = \"/site-a/*\"\n"
      "} }"));
  if (!c) return;
  CHECK_STR_EQ(c->upstream_plugin, "cairn");
  CHECK_STR_EQ(c->upstream_address, "10.0.0.1");
  CHECK_INT_EQ(c->upstream_port, 8081);
  CHECK_STR_EQ(c->upstream_trust_bundle_path, "up.pem");
  CHECK_INT_EQ(c->upstream_trust_bundle_format, CAIRN_SRVCONF_BUNDLE_AUTO);
  CHECK_INT_EQ(c->upstream_insecure_bootstrap, 0);
  CHECK_STR_EQ(c->upstream_join_token, "tok-1.2_3");
  CHECK_STR_EQ(c->upstream_scope, "/site-a/*");
  CHECK(c->upstream_cert_path == NULL);
  CHECK_INT_EQ(c->agent_ttl, 0);
  cairn_srvconf_ca_opts(c, &o);
  CHECK(o.upstream_cert_path == NULL && o.upstream_fn == NULL);
  /* -joinToken replaces the token after the same checks. */
  CHECK_OK(cairn_srvconf_set_join_token(c, "other"));
  CHECK_STR_EQ(c->upstream_join_token, "other");
  CHECK_ERR(cairn_srvconf_set_join_token(c, "a/b"), CAIRN_ERR_CONFIG);
  CHECK(strstr(cairn_errdetail(), "-joinToken") != NULL);
  CHECK(strstr(cairn_errdetail(), "a/b") == NULL); /* never echoed */
  CHECK_STR_EQ(c->upstream_join_token, "other");
  /* The effective configuration loads back, without the token. */
  CHECK_OK(cairn_srvconf_format(c, &fmt));
  if (fmt) {
    CHECK(strstr(fmt, "UpstreamAuthority \"cairn\"") != NULL);
    CHECK(strstr(fmt, "other") == NULL);
    CHECK(strstr(fmt, "join_token is set") != NULL);
    CHECK_OK(cairn_srvconf_parse_buf("fmt.conf", fmt, strlen(fmt), &c2));
    if (c2) {
      CHECK_STR_EQ(c2->upstream_address, "10.0.0.1");
      CHECK_INT_EQ(c2->upstream_port, 8081);
      CHECK_STR_EQ(c2->upstream_trust_bundle_path, "up.pem");
      CHECK_STR_EQ(c2->upstream_scope, "/site-a/*");
      CHECK(c2->upstream_join_token == NULL);
    }
    free(fmt);
  }
  cairn_srvconf_free(c2);
  cairn_srvconf_free(c);

  /* "spire" with SPIRE's keys, a host name, a SPIFFE bundle; agent_ttl. */
  c = LOAD_OK("server {\n trust_domain = \"a.org\"\n data_dir = \"/d\"\n"
              " agent_ttl = \"12h\"\n}\n" EDGE_PLUGINS(
      "\"spire\" { plugin_data {\n"
      "  server_address = \"cloud.example\"\n server_port = 9000\n"
      "  trust_bundle_path = \"b.json\"\n trust_bundle_format = \"spiffe\"\n"
      "} }"));
  if (c) {
    CHECK_STR_EQ(c->upstream_plugin, "spire");
    CHECK_STR_EQ(c->upstream_address, "cloud.example");
    CHECK_INT_EQ(c->upstream_port, 9000);
    CHECK_INT_EQ(c->upstream_trust_bundle_format,
                 CAIRN_SRVCONF_BUNDLE_SPIFFE);
    CHECK(c->upstream_join_token == NULL && c->upstream_scope == NULL);
    CHECK_INT_EQ(c->agent_ttl, 12 * 3600);
    cairn_srvconf_free(c);
  }
  c = LOAD_OK(MIN_SERVER EDGE_PLUGINS(
      "\"cairn\" { plugin_data { server_address = \"::1\"\n"
      " insecure_bootstrap = true } }"));
  if (c) {
    CHECK_INT_EQ(c->upstream_insecure_bootstrap, 1);
    CHECK(c->upstream_trust_bundle_path == NULL);
    cairn_srvconf_free(c);
  }

  /* Errors, each at its line ("UpstreamAuthority" is line 7). */
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"spire\" { plugin_data {\n server_address = \"10.0.0.1\"\n"
          " trust_bundle_path = \"b.pem\"\n"
          " workload_api_socket = \"/run/spire/agent.sock\"\n} }"),
      10, "workload_api_socket is not applicable");
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"cairn\" { plugin_data {\n trust_bundle_path = \"b.pem\"\n} }"),
      7, "server_address is required");
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"cairn\" { plugin_data {\n server_address = \"10.0.0.1\"\n} }"),
      7, "trust_bundle_path is required unless insecure_bootstrap");
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"cairn\" { plugin_data {\n server_address = \"-bad-\"\n"
          " trust_bundle_path = \"b.pem\"\n} }"),
      8, "not an IP address or a host name");
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"cairn\" { plugin_data {\n server_address = \"10.0.0.1\"\n"
          " server_port = 0\n trust_bundle_path = \"b.pem\"\n} }"),
      9, "out of range");
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"cairn\" { plugin_data {\n server_address = \"10.0.0.1\"\n"
          " trust_bundle_path = \"b.pem\"\n insecure_bootstrap = true\n} }"),
      10, "only one of insecure_bootstrap and trust_bundle_path");
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"cairn\" { plugin_data {\n server_address = \"10.0.0.1\"\n"
          " trust_bundle_path = \"b.pem\"\n trust_bundle_format = \"der\"\n"
          "} }"),
      10, "not \"pem\" or \"spiffe\"");
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"cairn\" { plugin_data {\n server_address = \"10.0.0.1\"\n"
          " trust_bundle_path = \"b.pem\"\n join_token = \"..\"\n} }"),
      10, "join_token");
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"cairn\" { plugin_data {\n server_address = \"10.0.0.1\"\n"
          " trust_bundle_path = \"b.pem\"\n join_token = \"a b\"\n} }"),
      10, "letters, digits");
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"cairn\" { plugin_data {\n server_address = \"10.0.0.1\"\n"
          " trust_bundle_path = \"b.pem\"\n scope = \"site-a\"\n} }"),
      10, "not a path scope");
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"cairn\" { plugin_data {\n server_address = \"10.0.0.1\"\n"
          " trust_bundle_path = \"b.pem\"\n scope = \"/a//b\"\n} }"),
      10, "not a path scope");
  BAD(MIN_SERVER EDGE_PLUGINS(
          "\"cairn\" { plugin_data {\n server_address = \"10.0.0.1\"\n"
          " trust_bundle_path = \"b.pem\"\n experimental = 1\n} }"),
      10, "unknown key 'experimental'");
  BAD(MIN_SERVER
      "plugins {\n  DataStore \"sql\" { plugin_data {} }\n"
      "  UpstreamAuthority \"disk\" { plugin_data { cert_file_path = \"c\"\n"
      " key_file_path = \"k\" } }\n"
      "  UpstreamAuthority \"cairn\" { plugin_data {} }\n}\n",
      9, "a second UpstreamAuthority plugin");
  /* Without an UpstreamAuthority "cairn" there is no token to set. */
  c = LOAD_OK(MIN_SERVER MIN_PLUGINS);
  if (c) {
    CHECK_ERR(cairn_srvconf_set_join_token(c, "tok"), CAIRN_ERR_INVAL);
    cairn_srvconf_free(c);
  }
}

static void test_repo_conf(void)
{
  /* conf/cloud.conf as shipped must load. */
  struct cairn_srvconf *c = NULL;

  CHECK_OK(cairn_srvconf_load(CAIRN_CONF_DIR "/cloud.conf", &c));
  if (c) {
    CHECK_INT_EQ(c->n_warnings, 0);
    CHECK_INT_EQ(c->join_token_attestor, 1);
    CHECK(c->upstream_plugin == NULL);
    cairn_srvconf_free(c);
  }
  /* conf/edge.conf too, with its upstream. */
  c = NULL;
  CHECK_OK(cairn_srvconf_load(CAIRN_CONF_DIR "/edge.conf", &c));
  if (c) {
    CHECK_INT_EQ(c->n_warnings, 0);
    CHECK_INT_EQ(c->join_token_attestor, 1);
    CHECK_STR_EQ(c->upstream_plugin, "cairn");
    CHECK_STR_EQ(c->upstream_address, "127.0.0.1");
    CHECK_INT_EQ(c->upstream_port, 8081);
    CHECK_INT_EQ(c->bind_port, 8082);
    CHECK(c->upstream_trust_bundle_path != NULL);
    cairn_srvconf_free(c);
  }
}

int main(void)
{
  RUN(test_defaults);
  RUN(test_full);
  RUN(test_format_escapes);
  RUN(test_server_errors);
  RUN(test_plugin_errors);
  RUN(test_warnings);
  RUN(test_files);
  RUN(test_edge);
  RUN(test_repo_conf);
  return test_done();
}
