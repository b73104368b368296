/* test_agent_conf.c - cairn-agent's configuration loader (agent_conf.c):
 * the shipped conf/agent.conf, defaults, every key, and the errors with
 * their file:line. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_conf.h"
#include "cairn/err.h"

#ifndef CAIRN_CONF_DIR
#error "CAIRN_CONF_DIR must name the conf/ directory"
#endif

#define MIN_AGENT                                                   \
  "agent {\n"                                                       \
  "  trust_domain = \"example.org\"\n"                              \
  "  server_address = \"127.0.0.1\"\n"                              \
  "  insecure_bootstrap = true\n"                                   \
  "}\n"
#define MIN_PLUGINS                                                 \
  "plugins {\n"                                                     \
  "  NodeAttestor \"join_token\" { plugin_data {} }\n"              \
  "}\n"

static struct ea_conf *parse(const char *text)
{
  struct ea_conf *c = NULL;
  int r = ea_conf_parse_buf("agent.conf", text, strlen(text), &c);
  if (r != CAIRN_OK)
    test_fail(__FILE__, __LINE__, "parse failed: %s", cairn_errdetail());
  return c;
}

/* The text must fail with CAIRN_ERR_CONFIG and exactly this detail. */
static void expect_error(int line, const char *text, const char *detail)
{
  struct ea_conf *c = NULL;
  int r = ea_conf_parse_buf("agent.conf", text, strlen(text), &c);

  if (r != CAIRN_ERR_CONFIG || c != NULL)
    test_fail(__FILE__, line, "want CONFIG, got %d (%s)", r,
              cairn_errdetail());
  else if (strcmp(cairn_errdetail(), detail) != 0)
    test_fail(__FILE__, line, "detail \"%s\", want \"%s\"",
              cairn_errdetail(), detail);
  ea_conf_free(c);
}

static void test_shipped_file(void)
{
  struct ea_conf *c = NULL;

  CHECK_OK(ea_conf_load(CAIRN_CONF_DIR "/agent.conf", &c));
  if (!c) return;
  CHECK_STR_EQ(c->trust_domain, "example.org");
  CHECK_STR_EQ(c->server_address, "127.0.0.1");
  CHECK_INT_EQ(c->server_port, 8081);
  CHECK_STR_EQ(c->data_dir, "/tmp/cairn-agent");
  CHECK_STR_EQ(c->trust_bundle_path, "/tmp/cairn-agent/bootstrap.pem");
  CHECK_INT_EQ(c->trust_bundle_format, EA_BUNDLE_AUTO);
  CHECK_INT_EQ(c->insecure_bootstrap, 0);
  CHECK(c->join_token == NULL);
  CHECK_STR_EQ(c->socket_path, EA_CONF_SOCKET_DEFAULT);
  CHECK_INT_EQ(c->log_level, CAIRN_LOG_INFO);
  CHECK_INT_EQ(c->workload_key_type, CAIRN_KEY_EC_P256);
  CHECK_INT_EQ(c->key_manager, EA_KM_DISK);
  CHECK_STR_EQ(c->keys_dir, "/tmp/cairn-agent");
  CHECK_INT_EQ(c->workload_attestor_unix, 1);
  ea_conf_free(c);
}

static void test_defaults(void)
{
  struct ea_conf *c = parse(MIN_AGENT MIN_PLUGINS);

  if (!c) return;
  CHECK_INT_EQ(c->server_port, EA_CONF_SERVER_PORT_DEFAULT);
  CHECK_STR_EQ(c->data_dir, ".");
  CHECK_STR_EQ(c->keys_dir, ".");
  CHECK_INT_EQ(c->key_manager, EA_KM_DISK);
  CHECK(c->trust_bundle_path == NULL);
  CHECK_INT_EQ(c->insecure_bootstrap, 1);
  CHECK_INT_EQ(c->workload_attestor_unix, 0);
  CHECK_STR_EQ(c->file, "agent.conf");
  ea_conf_free(c);
}

static void test_all_keys(void)
{
  struct ea_conf *c = parse(
      "agent {\n"
      "  trust_domain = \"td.example\"\n"
      "  server_address = \"cairn-cloud.internal\"\n"
      "  server_port = 5684\n"
      "  socket_path = \"/run/cairn/api.sock\"\n"
      "  data_dir = \"/var/lib/cairn-agent/\"\n"
      "  trust_bundle_path = \"/etc/cairn/bundle.json\"\n"
      "  trust_bundle_format = \"spiffe\"\n"
      "  insecure_bootstrap = false\n"
      "  join_token = \"0b7e6c1e-2b4f-4c55-9b1e-8d2f0c9a7e11\"\n"
      "  log_level = \"debug\"\n"
      "  workload_x509_svid_key_type = \"ec-p384\"\n"
      "}\n"
      "plugins {\n"
      "  NodeAttestor \"join_token\" { plugin_data {} }\n"
      "  KeyManager \"disk\" { plugin_data { directory = \"keys\" } }\n"
      "  WorkloadAttestor \"unix\" { plugin_data {} }\n"
      "}\n");

  if (!c) return;
  CHECK_STR_EQ(c->trust_domain, "td.example");
  CHECK_STR_EQ(c->server_address, "cairn-cloud.internal");
  CHECK_INT_EQ(c->server_port, 5684);
  CHECK_STR_EQ(c->socket_path, "/run/cairn/api.sock");
  CHECK_STR_EQ(c->trust_bundle_path, "/etc/cairn/bundle.json");
  CHECK_INT_EQ(c->trust_bundle_format, EA_BUNDLE_SPIFFE);
  CHECK_STR_EQ(c->join_token, "0b7e6c1e-2b4f-4c55-9b1e-8d2f0c9a7e11");
  CHECK_INT_EQ(c->log_level, CAIRN_LOG_DEBUG);
  CHECK_INT_EQ(c->workload_key_type, CAIRN_KEY_EC_P384);
  CHECK_STR_EQ(c->keys_dir, "/var/lib/cairn-agent/keys");
  CHECK_INT_EQ(c->workload_attestor_unix, 1);
  ea_conf_free(c);

  c = parse("agent { trust_domain = \"example.org\" "
            "server_address = \"::1\" trust_bundle_path = \"b.pem\" "
            "data_dir = \"d\" }\n"
            "plugins {\n"
            "  NodeAttestor \"join_token\" { plugin_data {} }\n"
            "  KeyManager \"disk\" { plugin_data { directory = \"/k\" } }\n"
            "}\n");
  if (!c) return;
  CHECK_STR_EQ(c->server_address, "::1");
  CHECK_STR_EQ(c->keys_dir, "/k");
  ea_conf_free(c);

  c = parse("agent { trust_domain = \"example.org\" "
            "server_address = \"10.0.0.1\" insecure_bootstrap = true }\n"
            "plugins {\n"
            "  NodeAttestor \"join_token\" { plugin_data {} }\n"
            "  KeyManager \"memory\" { plugin_data {} }\n"
            "  WorkloadAttestor \"unix\" { enabled = false "
            "plugin_data { whatever = 1 } }\n"
            "}\n");
  if (!c) return;
  CHECK_INT_EQ(c->key_manager, EA_KM_MEMORY);
  CHECK(c->keys_dir == NULL);
  CHECK_INT_EQ(c->workload_attestor_unix, 0);
  ea_conf_free(c);
}

static void test_agent_errors(void)
{
  expect_error(__LINE__, MIN_PLUGINS, "agent.conf: missing agent { } block");
  expect_error(__LINE__, MIN_AGENT,
               "agent.conf: missing plugins { } block (a NodeAttestor "
               "\"join_token\" plugin is required)");
  expect_error(__LINE__,
               "agent {\n  server_address = \"127.0.0.1\"\n}\n" MIN_PLUGINS,
               "agent.conf:1: agent: trust_domain is required");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"spiffe://example.org\"\n}\n",
               "agent.conf:2: trust_domain: give the bare name "
               "(\"example.org\"), not a SPIFFE ID");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n}\n" MIN_PLUGINS,
               "agent.conf:1: agent: server_address is required");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"-bad-.example\"\n}\n",
               "agent.conf:3: server_address: \"-bad-.example\" is not an "
               "IP address or a host name");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n  server_port = 0\n}\n",
               "agent.conf:4: server_port: 0 is out of range (1..65535)");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n  server_port = \"8081\"\n"
               "}\n",
               "agent.conf:4: server_port: expected an integer, got a "
               "string");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n"
               "  socket_path = \"/tmp/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
               "xxxxxxxxxxxx.sock\"\n}\n",
               "agent.conf:4: socket_path: 121 bytes, a Unix socket path may "
               "have at most 107");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n  data_dir = \"\"\n}\n",
               "agent.conf:4: data_dir: empty path");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n}\n" MIN_PLUGINS,
               "agent.conf:1: agent: trust_bundle_path is required unless "
               "insecure_bootstrap = true (the agent must know how to trust "
               "the server on first contact)");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n"
               "  trust_bundle_path = \"b.pem\"\n"
               "  insecure_bootstrap = true\n}\n" MIN_PLUGINS,
               "agent.conf:5: only one of insecure_bootstrap and "
               "trust_bundle_path can be set");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n"
               "  trust_bundle_path = \"b.pem\"\n"
               "  trust_bundle_format = \"der\"\n}\n",
               "agent.conf:5: trust_bundle_format: \"der\" is not \"pem\" or "
               "\"spiffe\"");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n"
               "  insecure_bootstrap = true\n"
               "  trust_bundle_format = \"pem\"\n}\n",
               "agent.conf:5: trust_bundle_format is set but "
               "trust_bundle_path is not");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n"
               "  insecure_bootstrap = \"yes\"\n}\n",
               "agent.conf:4: insecure_bootstrap: expected a boolean (true or false), got a "
               "string");
  expect_error(__LINE__,
               MIN_AGENT "agent { }\n" MIN_PLUGINS,
               "agent.conf:6: a second 'agent' block (the first is at line "
               "1)");
}

static void test_value_errors(void)
{
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n"
               "  insecure_bootstrap = true\n"
               "  join_token = \"a/b\"\n}\n" MIN_PLUGINS,
               "agent.conf:5: join_token: join token may only hold letters, "
               "digits, '-', '_' and '.'");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n"
               "  insecure_bootstrap = true\n"
               "  join_token = \"..\"\n}\n" MIN_PLUGINS,
               "agent.conf:5: join_token: join token cannot be \".\" or "
               "\"..\"");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n"
               "  insecure_bootstrap = true\n"
               "  log_level = \"loud\"\n}\n" MIN_PLUGINS,
               "agent.conf:5: log_level: \"loud\" is not one of DEBUG, INFO, "
               "WARN, ERROR");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n"
               "  insecure_bootstrap = true\n"
               "  workload_x509_svid_key_type = \"rsa-2048\"\n}\n"
               MIN_PLUGINS,
               "agent.conf:5: workload_x509_svid_key_type: \"rsa-2048\" is "
               "not \"ec-p256\" or \"ec-p384\"");
  expect_error(__LINE__,
               "agent {\n  trust_domain = \"example.org\"\n"
               "  server_address = \"127.0.0.1\"\n"
               "  insecure_bootstrap = true\n"
               "  trust_bundle_url = \"https://x\"\n}\n" MIN_PLUGINS,
               "agent.conf:5: unknown key 'trust_bundle_url' in block "
               "'agent'");
}

static void test_plugin_errors(void)
{
  expect_error(__LINE__, MIN_AGENT "plugins {\n}\n",
               "agent.conf:6: plugins: a NodeAttestor \"join_token\" plugin "
               "is required");
  expect_error(__LINE__,
               MIN_AGENT "plugins {\n"
               "  NodeAttestor \"x509pop\" { plugin_data {} }\n}\n",
               "agent.conf:7: unknown NodeAttestor plugin \"x509pop\" (Cairn "
               "has \"join_token\")");
  expect_error(__LINE__,
               MIN_AGENT "plugins {\n"
               "  NodeAttestor \"join_token\" { plugin_data {} }\n"
               "  NodeAttestor \"join_token\" { plugin_data {} }\n}\n",
               "agent.conf:8: a second NodeAttestor plugin; only one may be "
               "enabled (the first is at line 7)");
  expect_error(__LINE__,
               MIN_AGENT "plugins {\n"
               "  NodeAttestor \"join_token\" { plugin_data {} }\n"
               "  KeyManager \"tpm\" { plugin_data {} }\n}\n",
               "agent.conf:8: unknown KeyManager plugin \"tpm\" (Cairn has "
               "\"disk\" and \"memory\")");
  expect_error(__LINE__,
               MIN_AGENT "plugins {\n"
               "  NodeAttestor \"join_token\" { plugin_data {} }\n"
               "  KeyManager \"disk\" { plugin_data { directory = \"\" } }\n"
               "}\n",
               "agent.conf:8: directory: empty path");
  expect_error(__LINE__,
               MIN_AGENT "plugins {\n"
               "  NodeAttestor \"join_token\" { plugin_data {} }\n"
               "  KeyManager \"disk\" { plugin_data { keys_path = \"k\" } }\n"
               "}\n",
               "agent.conf:8: unknown key 'keys_path' in block "
               "'plugins.KeyManager \"disk\".plugin_data'");
  expect_error(__LINE__,
               MIN_AGENT "plugins {\n"
               "  NodeAttestor \"join_token\" { plugin_data {} }\n"
               "  WorkloadAttestor \"docker\" { plugin_data {} }\n}\n",
               "agent.conf:8: unknown WorkloadAttestor plugin \"docker\" "
               "(Cairn has \"unix\")");
  expect_error(__LINE__,
               MIN_AGENT "plugins {\n"
               "  NodeAttestor \"join_token\" { plugin_data {} }\n"
               "  WorkloadAttestor \"unix\" { plugin_data {"
               " discover_workload_path = true } }\n}\n",
               "agent.conf:8: unknown key 'discover_workload_path' in block "
               "'plugins.WorkloadAttestor \"unix\".plugin_data'");
  expect_error(__LINE__,
               MIN_AGENT "plugins {\n"
               "  NodeAttestor \"join_token\" {\n"
               "    plugin_cmd = \"/usr/bin/x\"\n  }\n}\n",
               "agent.conf:8: plugin_cmd: external plugins are not "
               "supported; Cairn's plugins are built in and take "
               "plugin_data { }");
  expect_error(__LINE__,
               MIN_AGENT "plugins {\n"
               "  NodeAttestor \"join_token\" { plugin_data {} }\n"
               "  SVIDStore \"aws\" { plugin_data {} }\n}\n",
               "agent.conf:8: unknown plugin type 'SVIDStore' (cairn-agent "
               "has NodeAttestor, KeyManager, WorkloadAttestor)");
  expect_error(__LINE__,
               MIN_AGENT "plugins {\n"
               "  NodeAttestor { plugin_data {} }\n}\n",
               "agent.conf:7: NodeAttestor: expected a plugin block "
               "NodeAttestor \"<name>\" { plugin_data { ... } }");
  expect_error(__LINE__, MIN_AGENT MIN_PLUGINS "telemetry { }\n",
               "agent.conf:9: unknown key 'telemetry' at top level");
}

static void test_join_token(void)
{
  struct ea_conf *c = parse(MIN_AGENT MIN_PLUGINS);
  char long_token[EA_CONF_TOKEN_MAX + 2];

  if (!c) return;
  CHECK_OK(ea_conf_set_join_token(c, "abc-123_x.y"));
  CHECK_STR_EQ(c->join_token, "abc-123_x.y");
  CHECK_ERR(ea_conf_set_join_token(c, "a b"), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "-joinToken: join token may only hold "
               "letters, digits, '-', '_' and '.'");
  CHECK_STR_EQ(c->join_token, "abc-123_x.y");
  CHECK_ERR(ea_conf_set_join_token(c, ""), CAIRN_ERR_CONFIG);
  memset(long_token, 'a', sizeof long_token - 1);
  long_token[sizeof long_token - 1] = '\0';
  CHECK_ERR(ea_conf_check_token(long_token), CAIRN_ERR_INVAL);
  long_token[EA_CONF_TOKEN_MAX] = '\0';
  CHECK_OK(ea_conf_check_token(long_token));
  CHECK_ERR(ea_conf_check_token("."), CAIRN_ERR_INVAL);
  CHECK_ERR(ea_conf_check_token(NULL), CAIRN_ERR_INVAL);
  ea_conf_free(c);
}

static void test_files(void)
{
  struct ea_conf *c = NULL;

  CHECK_ERR(ea_conf_load(test_path("missing.conf"), &c), CAIRN_ERR_NOT_FOUND);
  CHECK(c == NULL);
  CHECK_ERR(ea_conf_load("", &c), CAIRN_ERR_INVAL);
  CHECK_OK(test_write_file(test_path("bad.conf"), "agent {\n", 8));
  CHECK_ERR(ea_conf_load(test_path("bad.conf"), &c), CAIRN_ERR_CONFIG);
  CHECK(strstr(cairn_errdetail(), "bad.conf:") != NULL);
  CHECK(strstr(cairn_errdetail(), "never closed") != NULL);
}

int main(void)
{
  RUN(test_shipped_file);
  RUN(test_defaults);
  RUN(test_all_keys);
  RUN(test_agent_errors);
  RUN(test_value_errors);
  RUN(test_plugin_errors);
  RUN(test_join_token);
  RUN(test_files);
  return test_done();
}
