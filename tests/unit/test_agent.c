/* test_agent.c - cairn-agent's node identity (edge/agent/agent.c and
 * agent_state.c) against a small CoAP/DTLS server in the same process:
 * real DTLS handshakes on 127.0.0.1 (ephemeral port), the protocol bodies
 * of cairn/msg.h, and certificates from a test CA. The fake server serves
 * POST /v1/attest (single-use tokens), POST /v1/node/renew and an
 * observable GET /v1/bundle, and can evict the node, answer 5.03 or go
 * away. */
#include "test.h"
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "agent_conf.h"
#include "agent_state.h"
#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/msg.h"
#include "cairn/net.h"
#include "cairn/util.h"

#define TD "example.org"
#define SERVER_ID "spiffe://example.org/spire/server"
#define AGENT_PREFIX "spiffe://example.org/spire/agent/join_token/"
#define NTOKENS 8

static uv_loop_t g_loop;

/* ======================================================================
 * The fake server
 * ====================================================================== */

struct fake {
  struct cairn_net_server *net;
  uint16_t port;
  struct cairn_key *ca_key, *ca2_key;
  struct cairn_cert *ca, *ca2;      /* root; a second root added later */
  struct cairn_bundle *bundle;
  struct fx_creds srv;              /* server SVID */
  int64_t node_ttl;
  char tokens[NTOKENS][64];
  int used[NTOKENS];
  int evicted;
  int unavailable;                  /* answer 5.03 to this many attests */
  unsigned attests, attest_refusals, renews, bundle_gets;
};

static struct fake F;

/* A node SVID for id with the public key of a CSR, as a chain message. */
static int issue_node(const struct cairn_msg_bytes *csr, const char *id,
                      struct cairn_msg_chain *out, struct cairn_cert **keep)
{
  struct cairn_key *pub = NULL;
  struct cairn_cert *c;
  const uint8_t *der;
  size_t len;

  if (cairn_csr_parse(csr->data, csr->len, &pub)) return -1;
  c = fx_issue(CAIRN_CERT_LEAF, id, 0, F.node_ttl, pub, F.ca_key, F.ca);
  cairn_key_free(pub);
  if (!c) return -1;
  der = cairn_cert_der(c, &len);
  out->certs = calloc(1, sizeof *out->certs);
  out->certs[0].data = malloc(len);
  memcpy(out->certs[0].data, der, len);
  out->certs[0].len = len;
  out->n = 1;
  if (keep) *keep = c;
  else cairn_cert_free(c);
  return 0;
}

static char *bundle_json(void)
{
  char *j = NULL;
  size_t n = 0;
  CHECK_OK(cairn_bundle_write_json(F.bundle, 0, &j, &n));
  return j;
}

static void h_attest(struct cairn_net_exchange *x,
                     const struct cairn_net_request *rq, void *arg)
{
  struct cairn_msg_attest_req m;
  struct cairn_msg_attest_resp resp;
  char id[256];
  uint8_t *out = NULL;
  size_t out_len = 0;
  int i;

  (void)arg;
  memset(&m, 0, sizeof m);
  memset(&resp, 0, sizeof resp);
  CHECK_INT_EQ(rq->peer->authenticated, 0);
  if (F.unavailable > 0) {
    F.unavailable--;
    cairn_net_reply_error(x, CAIRN_NET_UNAVAILABLE, "no active CA yet");
    return;
  }
  if (cairn_msg_attest_req_decode(rq->body, rq->body_len, &m)) {
    cairn_net_reply_error(x, CAIRN_NET_BAD_REQUEST, "%s", cairn_errdetail());
    return;
  }
  CHECK_STR_EQ(m.type, "join_token");
  for (i = 0; i < NTOKENS; i++)
    if (F.tokens[i][0] && strcmp(F.tokens[i], m.token) == 0) break;
  if (i == NTOKENS || F.used[i]) {
    F.attest_refusals++;
    cairn_net_reply_error(x, CAIRN_NET_FORBIDDEN,
                          "join token does not exist or has already been "
                          "used");
    goto out;
  }
  F.used[i] = 1;
  snprintf(id, sizeof id, AGENT_PREFIX "%s", m.token);
  if (issue_node(&m.csr, id, &resp.svid, NULL)) {
    cairn_net_reply_error(x, CAIRN_NET_BAD_REQUEST, "bad csr");
    goto out;
  }
  resp.spiffe_id = cairn_strdup(id);
  resp.bundle = bundle_json();
  CHECK_OK(cairn_msg_attest_resp_encode(&resp, &out, &out_len));
  F.attests++;
  CHECK_OK(cairn_net_reply(x, CAIRN_NET_CREATED, out, out_len));
out:
  free(out);
  cairn_msg_attest_resp_clear(&resp);
  cairn_msg_attest_req_clear(&m);
}

static void h_renew(struct cairn_net_exchange *x,
                    const struct cairn_net_request *rq, void *arg)
{
  struct cairn_msg_renew_req m;
  struct cairn_msg_renew_resp resp;
  uint8_t *out = NULL;
  size_t out_len = 0;

  (void)arg;
  memset(&m, 0, sizeof m);
  memset(&resp, 0, sizeof resp);
  CHECK_INT_EQ(rq->peer->authenticated, 1);
  CHECK(strncmp(rq->peer->id.str, AGENT_PREFIX, strlen(AGENT_PREFIX)) == 0);
  if (F.evicted) {
    cairn_net_reply_error(x, CAIRN_NET_FORBIDDEN,
                          "node is not attested (evicted?)");
    return;
  }
  if (cairn_msg_renew_req_decode(rq->body, rq->body_len, &m) ||
      issue_node(&m.csr, rq->peer->id.str, &resp.svid, NULL)) {
    cairn_net_reply_error(x, CAIRN_NET_BAD_REQUEST, "bad renewal");
    goto out;
  }
  CHECK_OK(cairn_msg_renew_resp_encode(&resp, &out, &out_len));
  F.renews++;
  CHECK_OK(cairn_net_reply(x, CAIRN_NET_CREATED, out, out_len));
out:
  free(out);
  cairn_msg_renew_resp_clear(&resp);
  cairn_msg_renew_req_clear(&m);
}

static void h_bundle(struct cairn_net_exchange *x,
                     const struct cairn_net_request *rq, void *arg)
{
  struct cairn_msg_bundle_resp resp;
  uint8_t *out = NULL;
  size_t out_len = 0;

  (void)arg;
  CHECK_INT_EQ(rq->peer->authenticated, 1);
  if (F.evicted) {
    cairn_net_reply_error(x, CAIRN_NET_FORBIDDEN,
                          "node is not attested (evicted?)");
    return;
  }
  memset(&resp, 0, sizeof resp);
  resp.trust_domain = cairn_strdup(TD);
  resp.sequence = cairn_bundle_sequence(F.bundle);
  resp.bundle = bundle_json();
  CHECK_OK(cairn_msg_bundle_resp_encode(&resp, &out, &out_len));
  F.bundle_gets++;
  CHECK_OK(cairn_net_reply(x, CAIRN_NET_CONTENT, out, out_len));
  free(out);
  cairn_msg_bundle_resp_clear(&resp);
}

static const struct fx_route g_routes[] = {
    {CAIRN_NET_POST, "/v1/attest", CAIRN_NET_ROUTE_BOOTSTRAP, h_attest},
    {CAIRN_NET_POST, "/v1/node/renew", 0, h_renew},
    {CAIRN_NET_GET, "/v1/bundle", CAIRN_NET_ROUTE_OBSERVABLE, h_bundle},
    {0, NULL, 0, NULL}};

static void fake_listen(uint16_t port)
{
  F.net = fx_server_start(&g_loop, port, &F.srv, F.bundle, 1, 0, g_routes);
  F.port = cairn_net_server_port(F.net);
}

static void fake_close(void)
{
  cairn_net_server_free(F.net);
  F.net = NULL;
  uv_run(&g_loop, UV_RUN_NOWAIT);
}

static void fake_setup(void)
{
  time_t now = cairn_now();

  memset(&F, 0, sizeof F);
  F.node_ttl = 3600;
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &F.ca_key));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &F.ca2_key));
  /* Backdated so an SVID that expired an hour ago can be issued. */
  F.ca = fx_issue(CAIRN_CERT_ROOT, "spiffe://" TD, now - 86400, 30 * 86400,
                  F.ca_key, F.ca_key, NULL);
  F.ca2 = fx_issue(CAIRN_CERT_ROOT, "spiffe://" TD, now, 30 * 86400, F.ca2_key,
                   F.ca2_key, NULL);
  CHECK_OK(cairn_bundle_new(TD, &F.bundle));
  CHECK_OK(cairn_bundle_add_x509(F.bundle, F.ca));
  cairn_bundle_set_sequence(F.bundle, 1);

  fx_creds_leaf(&F.srv, SERVER_ID, now, 86400, F.ca_key, F.ca, NULL);
  for (int i = 0; i < NTOKENS; i++)
    snprintf(F.tokens[i], sizeof F.tokens[i], "token-%d-%ld", i,
             (long)getpid());
  fake_listen(0);
}

static void fake_teardown(void)
{
  fake_close();
  fx_creds_free(&F.srv);
  cairn_bundle_free(F.bundle);
  cairn_cert_free(F.ca);
  cairn_cert_free(F.ca2);
  cairn_key_free(F.ca_key);
  cairn_key_free(F.ca2_key);
}

/* ======================================================================
 * Loop and agent helpers
 * ====================================================================== */

/* Runs the loop until pred() holds or ms elapse; returns pred(). */
static int run_until(int (*pred)(void *), void *arg, int ms)
{
  return fx_loop_until(&g_loop, pred, arg, ms);
}

static void run_for(int ms)
{
  fx_loop_for(&g_loop, ms);
}

struct run {
  struct ea_conf *conf;
  struct ea_agent *a;
  int exited;
  int code;
};

static void on_exit_cb(struct ea_agent *a, int code, void *arg)
{
  struct run *r = arg;
  (void)a;
  r->exited++;
  r->code = code;
}

static struct ea_agent_status status_of(struct run *r)
{
  struct ea_agent_status st;
  ea_agent_get_status(r->a, &st);
  return st;
}

static int is_up(void *arg)
{
  struct run *r = arg;
  struct ea_agent_status st = status_of(r);
  return st.phase == EA_PHASE_RUNNING && st.server_up;
}

static int is_down(void *arg)
{
  return !status_of(arg).server_up;
}

static int has_exited(void *arg)
{
  return ((struct run *)arg)->exited > 0;
}

/* Writes the PEM of the bundle's roots (or of root) to a file. */
static const char *write_roots(const char *name, const struct cairn_cert *root)
{
  struct cairn_bundle *b = NULL;
  const char *path = test_path(name);
  char *pem = NULL;
  size_t len = 0;

  CHECK_OK(cairn_bundle_new(TD, &b));
  CHECK_OK(cairn_bundle_add_x509(b, root));
  CHECK_OK(cairn_bundle_write_pem(b, &pem, &len));
  CHECK_OK(test_write_file(path, pem, len));
  free(pem);
  cairn_bundle_free(b);
  return path;
}

static const char *g_server_address = "127.0.0.1";

/* Builds a configuration. bootstrap is the line that says how the server
 * is trusted; token may be NULL; km is "disk" or "memory". */
static struct ea_conf *make_conf(const char *td, const char *dir,
                                 const char *bootstrap, const char *token,
                                 const char *km)
{
  char text[4096];
  struct ea_conf *c = NULL;

  snprintf(text, sizeof text,
           "agent {\n"
           "  trust_domain = \"%s\"\n"
           "  server_address = \"%s\"\n"
           "  server_port = %u\n"
           "  data_dir = \"%s\"\n"
           "  %s\n"
           "  %s%s%s\n"
           "}\n"
           "plugins {\n"
           "  NodeAttestor \"join_token\" { plugin_data {} }\n"
           "  KeyManager \"%s\" { plugin_data {} }\n"
           "}\n",
           td, g_server_address, F.port, dir, bootstrap,
           token ? "join_token = \"" : "",
           token ? token : "", token ? "\"" : "", km);
  CHECK_OK(ea_conf_parse_buf("test.conf", text, strlen(text), &c));
  return c;
}

static int start_run(struct run *r, struct ea_conf *conf)
{
  struct ea_agent_opts o;
  int rc;

  memset(r, 0, sizeof *r);
  r->conf = conf;
  ea_agent_opts_init(&o);
  o.conf = conf;
  o.backoff_min_ms = 100;
  o.backoff_max_ms = 400;
  o.timeout_ms = 3000;
  o.keepalive_s = 0;
  o.on_exit = on_exit_cb;
  o.arg = r;
  CHECK_OK(ea_agent_new(&g_loop, &o, &r->a));
  rc = ea_agent_start(r->a);
  return rc;
}

static void end_run(struct run *r)
{
  ea_agent_free(r->a);
  r->a = NULL;
  uv_run(&g_loop, UV_RUN_NOWAIT);
  run_for(50);
  ea_conf_free(r->conf);
  r->conf = NULL;
}

static int file_mode(const char *path)
{
  struct stat sb;
  if (stat(path, &sb) != 0) return -1;
  return (int)(sb.st_mode & 07777);
}

static char *dir_file(const char *dir, const char *name)
{
  static char buf[4][1024];
  static int i;
  char *b = buf[i++ % 4];
  snprintf(b, sizeof buf[0], "%s/%s", dir, name);
  return b;
}

/* The serial of the persisted SVID in dir ("" when unreadable). */
static const char *persisted_serial(const char *dir)
{
  static char serial[41];
  struct ea_files f;
  struct ea_svid *s = NULL;

  serial[0] = '\0';
  CHECK_OK(ea_files_init(&f, dir, dir));
  if (ea_state_load_svid(&f, &s) == CAIRN_OK) {
    snprintf(serial, sizeof serial, "%s", s->serial);
    ea_svid_free(s);
  }
  ea_files_clear(&f);
  return serial;
}

static char g_bundle_line[1200];

static const char *bundle_line(void)
{
  snprintf(g_bundle_line, sizeof g_bundle_line, "trust_bundle_path = \"%s\"",
           write_roots("roots.pem", F.ca));
  return g_bundle_line;
}

/* ======================================================================
 * Tests
 * ====================================================================== */

/* Attest with a trust bundle file, persist, and resume after a restart
 * without attesting again. */
static void test_attest_persist_resume(void)
{
  const char *dir = test_path("a1");
  struct run r;
  struct ea_agent_status st;
  char want[256], serial[41];
  unsigned attests = F.attests;
  struct ea_files f;
  struct cairn_bundle *pb = NULL;

  CHECK_OK(start_run(&r, make_conf(TD, dir, bundle_line(), F.tokens[0],
                                   "disk")));
  CHECK(run_until(is_up, &r, 10000));
  st = status_of(&r);
  snprintf(want, sizeof want, AGENT_PREFIX "%s", F.tokens[0]);
  CHECK_STR_EQ(st.id.str, want);
  CHECK_INT_EQ(st.attested, 1);
  CHECK_INT_EQ(st.resumed, 0);
  CHECK_INT_EQ(F.attests, attests + 1);
  CHECK(st.not_after > cairn_now() + 3000);
  CHECK(st.renew_at > cairn_now() + 1500 && st.renew_at < st.not_after);
  CHECK(F.bundle_gets >= 1);
  snprintf(serial, sizeof serial, "%s", st.serial);

  /* The files: key 0600, SVID and bundle readable, directory 0700. */
  CHECK_INT_EQ(file_mode(dir), 0700);
  CHECK_INT_EQ(file_mode(dir_file(dir, EA_STATE_KEY_FILE)), 0600);
  CHECK_INT_EQ(file_mode(dir_file(dir, EA_STATE_SVID_FILE)), 0644);
  CHECK_INT_EQ(file_mode(dir_file(dir, EA_STATE_BUNDLE_FILE)), 0644);
  CHECK_INT_EQ(access(dir_file(dir, EA_STATE_KEY_FILE ".next"), F_OK), -1);
  CHECK_STR_EQ(persisted_serial(dir), serial);
  CHECK_OK(ea_files_init(&f, dir, dir));
  CHECK_OK(ea_state_load_bundle(&f, TD, &pb));
  CHECK(pb && cairn_bundle_content_equal(pb, F.bundle));
  cairn_bundle_free(pb);
  ea_files_clear(&f);

  /* A second agent on the same data_dir is refused. */
  {
    struct run r2;
    CHECK_ERR(start_run(&r2, make_conf(TD, dir, bundle_line(), NULL,
                                       "disk")),
              CAIRN_ERR_EXISTS);
    CHECK(strstr(cairn_errdetail(), "another cairn-agent") != NULL);
    end_run(&r2);
  }
  end_run(&r);

  /* Restart: resumes with the same SVID, no attestation, and works. */
  CHECK_OK(start_run(&r, make_conf(TD, dir, bundle_line(), F.tokens[0],
                                   "disk")));
  st = status_of(&r);
  CHECK_INT_EQ(st.resumed, 1);
  CHECK_STR_EQ(st.serial, serial);
  CHECK(run_until(is_up, &r, 10000));
  CHECK_INT_EQ(F.attests, attests + 1);
  CHECK_INT_EQ(status_of(&r).attested, 0);
  CHECK_INT_EQ(r.exited, 0);
  end_run(&r);

  /* The token is spent: a re-attestation would have been refused. */
  CHECK_INT_EQ(F.used[0], 1);
  CHECK_INT_EQ(F.attest_refusals, 0);
}

/* A key file that group or other may read is refused at start. */
static void test_loose_key(void)
{
  const char *dir = test_path("a1");
  const char *key = dir_file(dir, EA_STATE_KEY_FILE);
  struct run r;

  CHECK_INT_EQ(chmod(key, 0640), 0);
  CHECK_ERR(start_run(&r, make_conf(TD, dir, bundle_line(), NULL, "disk")),
            CAIRN_ERR_PERM);
  CHECK(strstr(cairn_errdetail(), "agent_svid.key") != NULL);
  CHECK(strstr(cairn_errdetail(), "0640") != NULL);
  CHECK_INT_EQ(r.exited, 0);
  end_run(&r);
  CHECK_INT_EQ(chmod(key, 0600), 0);
}

/* No SVID and no token: a clear configuration error. */
static void test_no_token(void)
{
  struct run r;

  CHECK_ERR(start_run(&r, make_conf(TD, test_path("empty"), bundle_line(),
                                    NULL, "disk")),
            CAIRN_ERR_CONFIG);
  CHECK(strstr(cairn_errdetail(), "no join token") != NULL);
  end_run(&r);
}

/* A used token is refused with the documented fatal error. */
static void test_reused_token(void)
{
  const char *dir = test_path("reuse");
  struct run r;
  char want[256];
  unsigned refusals = F.attest_refusals;

  CHECK_OK(start_run(&r, make_conf(TD, dir, bundle_line(), F.tokens[0],
                                   "disk")));
  CHECK(run_until(has_exited, &r, 10000));
  CHECK_INT_EQ(r.code, 1);
  CHECK_INT_EQ(ea_agent_exit_code(r.a), 1);
  snprintf(want, sizeof want, "join token %s was refused: join token does "
           "not exist or has already been used", F.tokens[0]);
  CHECK_STR_EQ(ea_agent_error(r.a), want);
  CHECK_INT_EQ(F.attest_refusals, refusals + 1);
  CHECK_INT_EQ(access(dir_file(dir, EA_STATE_SVID_FILE), F_OK), -1);
  CHECK_INT_EQ(access(dir_file(dir, EA_STATE_KEY_FILE), F_OK), -1);
  end_run(&r);
}

/* A bundle that does not hold the server's CA, and a configuration for
 * another trust domain: the server is refused before the token is sent. */
static void test_wrong_bundle(void)
{
  struct cairn_key *k = NULL;
  struct cairn_cert *rogue;
  char line[1200];
  struct run r;
  unsigned attests = F.attests, refusals = F.attest_refusals;

  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  rogue = fx_issue(CAIRN_CERT_ROOT, "spiffe://" TD, 0, 86400, k, k, NULL);
  snprintf(line, sizeof line, "trust_bundle_path = \"%s\"",
           write_roots("rogue.pem", rogue));
  CHECK_OK(start_run(&r, make_conf(TD, test_path("rogue"), line, F.tokens[1],
                                   "disk")));
  CHECK(run_until(has_exited, &r, 10000));
  CHECK_INT_EQ(r.code, 1);
  CHECK(strstr(ea_agent_error(r.a), "cannot attest to 127.0.0.1:") != NULL);
  CHECK(strstr(ea_agent_error(r.a), "no trusted issuer") != NULL);
  end_run(&r);
  cairn_cert_free(rogue);
  cairn_key_free(k);

  /* Configured for other.org while the server is example.org. */
  CHECK_OK(start_run(&r, make_conf("other.org", test_path("othertd"),
                                   bundle_line(), F.tokens[1], "disk")));
  CHECK(run_until(has_exited, &r, 10000));
  CHECK_INT_EQ(r.code, 1);
  CHECK(strstr(ea_agent_error(r.a), "cannot attest") != NULL);
  CHECK(strstr(ea_agent_error(r.a), "spiffe://example.org/spire/server is "
               "not in trust domain other.org") != NULL);
  end_run(&r);

  CHECK_INT_EQ(F.attests, attests);
  CHECK_INT_EQ(F.attest_refusals, refusals);
  CHECK_INT_EQ(F.used[1], 0);
}

/* insecure_bootstrap attests without a bundle; KeyManager memory keeps
 * only the bundle on disk. 5.03 answers are retried. */
static void test_insecure_memory_retry(void)
{
  const char *dir = test_path("insecure");
  struct run r;

  F.unavailable = 2;
  CHECK_OK(start_run(&r, make_conf(TD, dir, "insecure_bootstrap = true",
                                   F.tokens[2], "memory")));
  CHECK(run_until(is_up, &r, 10000));
  CHECK_INT_EQ(F.unavailable, 0);
  CHECK_INT_EQ(status_of(&r).attested, 1);
  CHECK_INT_EQ(access(dir_file(dir, EA_STATE_BUNDLE_FILE), F_OK), 0);
  CHECK_INT_EQ(access(dir_file(dir, EA_STATE_SVID_FILE), F_OK), -1);
  CHECK_INT_EQ(access(dir_file(dir, EA_STATE_KEY_FILE), F_OK), -1);
  end_run(&r);
}

static int renewed_twice(void *arg)
{
  return status_of(arg).renewals >= 2 && is_up(arg);
}

static int bundle_updated(void *arg)
{
  return status_of(arg).bundle_updates >= 1;
}

/* Renewal at half life with a new key, bundle updates, then eviction. */
static void test_renew_bundle_evict(void)
{
  const char *dir = test_path("renew");
  struct run r;
  struct ea_agent_status st;
  char serial0[41];
  unsigned renews = F.renews;
  struct ea_files f;
  struct cairn_bundle *pb = NULL;
  uint8_t *key0 = NULL, *key1 = NULL;
  size_t key0_len = 0, key1_len = 0;

  F.node_ttl = 3; /* renewal about 1.5 s after each issue */
  CHECK_OK(start_run(&r, make_conf(TD, dir, bundle_line(), F.tokens[3],
                                   "disk")));
  CHECK(run_until(is_up, &r, 10000));
  snprintf(serial0, sizeof serial0, "%s", status_of(&r).serial);
  CHECK_OK(cairn_file_read_private(dir_file(dir, EA_STATE_KEY_FILE), 65536,
                                   &key0, &key0_len));
  CHECK(run_until(renewed_twice, &r, 12000));
  st = status_of(&r);
  CHECK(F.renews >= renews + 2);
  CHECK(strcmp(st.serial, serial0) != 0);
  CHECK_STR_EQ(persisted_serial(dir), st.serial);
  CHECK_OK(cairn_file_read_private(dir_file(dir, EA_STATE_KEY_FILE), 65536,
                                   &key1, &key1_len));
  CHECK(key0_len != key1_len || memcmp(key0, key1, key0_len) != 0);
  CHECK_INT_EQ(file_mode(dir_file(dir, EA_STATE_KEY_FILE)), 0600);
  cairn_freezero(key0, key0_len);
  cairn_freezero(key1, key1_len);

  /* A second root appears: observers are told and the agent persists. */
  F.node_ttl = 3600;
  CHECK_OK(cairn_bundle_add_x509(F.bundle, F.ca2));
  cairn_bundle_set_sequence(F.bundle, 2);
  CHECK_OK(cairn_net_server_notify(F.net, "/v1/bundle"));
  CHECK(run_until(bundle_updated, &r, 10000));
  CHECK_INT_EQ(status_of(&r).bundle_sequence, 2);
  CHECK_OK(ea_files_init(&f, dir, dir));
  CHECK_OK(ea_state_load_bundle(&f, TD, &pb));
  CHECK(pb && cairn_bundle_content_equal(pb, F.bundle));
  CHECK_INT_EQ(cairn_cert_list_count(cairn_bundle_x509(pb)), 2);
  cairn_bundle_free(pb);
  ea_files_clear(&f);
  CHECK_OK(cairn_bundle_remove_x509(F.bundle, F.ca2));
  cairn_bundle_set_sequence(F.bundle, 3);

  /* Evicted: the next call (the pending renewal of the current 3 s SVID,
   * or the bundle) gets 4.03 and the agent stops with exit code 1,
   * keeping its files. */
  F.evicted = 1;
  CHECK(run_until(has_exited, &r, 10000));
  CHECK_INT_EQ(r.code, 1);
  CHECK(strstr(ea_agent_error(r.a), "evicted or banned") != NULL);
  CHECK(strstr(ea_agent_error(r.a), "node is not attested (evicted?)") !=
        NULL);
  CHECK_INT_EQ(access(dir_file(dir, EA_STATE_SVID_FILE), F_OK), 0);
  CHECK_INT_EQ(access(dir_file(dir, EA_STATE_KEY_FILE), F_OK), 0);
  end_run(&r);
  F.evicted = 0;
}

/* The server is down when a persisted agent starts: it keeps running and
 * connects once the server is back. */
static void test_server_down(void)
{
  const char *dir = test_path("a1");
  struct run r;
  uint16_t port = F.port;
  struct ea_agent_status st;

  fake_close();
  CHECK_OK(start_run(&r, make_conf(TD, dir, bundle_line(), NULL, "disk")));
  run_for(1500);
  st = status_of(&r);
  CHECK_INT_EQ(st.phase, EA_PHASE_RUNNING);
  CHECK_INT_EQ(st.server_up, 0);
  CHECK_INT_EQ(r.exited, 0);
  fake_listen(port);
  CHECK_INT_EQ(F.port, port);
  CHECK(run_until(is_up, &r, 10000));
  CHECK_INT_EQ(r.exited, 0);

  /* The server goes away under a running agent and comes back. */
  fake_close();
  CHECK(run_until(is_down, &r, 10000));
  run_for(1000);
  CHECK_INT_EQ(r.exited, 0);
  fake_listen(port);
  CHECK(run_until(is_up, &r, 10000));
  CHECK_INT_EQ(r.exited, 0);
  ea_agent_stop(r.a);
  CHECK_INT_EQ(ea_agent_exit_code(r.a), 0);
  CHECK_INT_EQ(r.exited, 0);
  end_run(&r);
}

/* server_address may be a host name; it is resolved when connecting. */
static void test_host_name(void)
{
  struct run r;

  g_server_address = "localhost";
  CHECK_OK(start_run(&r, make_conf(TD, test_path("a1"), bundle_line(), NULL,
                                   "disk")));
  CHECK(run_until(is_up, &r, 10000));
  end_run(&r);
  g_server_address = "127.0.0.1";
}

/* A persisted SVID that expired: the agent must attest again, and a spent
 * token then ends it. */
static void test_expired_persisted(void)
{
  const char *dir = test_path("expired");
  struct ea_files f;
  struct cairn_key *k = NULL;
  struct cairn_cert *c;
  struct cairn_cert_list *l = NULL;
  struct ea_svid *s = NULL;
  char id[256];
  struct run r;

  CHECK_OK(cairn_mkdir_p(dir, 0700));
  CHECK_OK(ea_files_init(&f, dir, dir));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  snprintf(id, sizeof id, AGENT_PREFIX "%s", F.tokens[0]);
  c = fx_issue(CAIRN_CERT_LEAF, id, cairn_now() - 7200, 3600, k, F.ca_key,
               F.ca);
  CHECK_OK(cairn_cert_list_new(&l));
  CHECK_OK(cairn_cert_list_push(l, c));
  CHECK_OK(ea_svid_new(l, k, &s));
  CHECK_OK(ea_state_save_svid(&f, s));
  CHECK_OK(ea_state_save_bundle(&f, F.bundle));
  ea_svid_free(s);
  ea_files_clear(&f);

  CHECK_ERR(start_run(&r, make_conf(TD, dir, bundle_line(), NULL, "disk")),
            CAIRN_ERR_CONFIG);
  end_run(&r);
  CHECK_OK(start_run(&r, make_conf(TD, dir, bundle_line(), F.tokens[0],
                                   "disk")));
  CHECK(run_until(has_exited, &r, 10000));
  CHECK(strstr(ea_agent_error(r.a), "was refused") != NULL);
  end_run(&r);
}

/* The crash-safe save order of agent_state.c. */
static void test_state_files(void)
{
  const char *dir = test_path("state");
  struct ea_files f;
  struct cairn_key *k1 = NULL, *k2 = NULL;
  struct cairn_cert_list *l1 = NULL, *l2 = NULL;
  struct ea_svid *s1 = NULL, *s2 = NULL, *got = NULL;
  char serial1[41], serial2[41];

  CHECK_OK(cairn_mkdir_p(dir, 0700));
  CHECK_OK(ea_files_init(&f, dir, dir));
  CHECK_ERR(ea_state_load_svid(&f, &got), CAIRN_ERR_NOT_FOUND);
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k1));
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k2));
  CHECK_OK(cairn_cert_list_new(&l1));
  CHECK_OK(cairn_cert_list_new(&l2));
  CHECK_OK(cairn_cert_list_push(l1, fx_issue(CAIRN_CERT_LEAF, AGENT_PREFIX "s",
                                             0, 600, k1, F.ca_key, F.ca)));
  CHECK_OK(cairn_cert_list_push(l2, fx_issue(CAIRN_CERT_LEAF, AGENT_PREFIX "s",
                                             0, 600, k2, F.ca_key, F.ca)));
  /* A chain with someone else's key is refused. */
  CHECK_ERR(ea_svid_new(l1, k2, &s1), CAIRN_ERR_POLICY);
  CHECK_OK(ea_svid_new(l1, k1, &s1));
  CHECK_OK(ea_svid_new(l2, k2, &s2));
  snprintf(serial1, sizeof serial1, "%s", s1->serial);
  snprintf(serial2, sizeof serial2, "%s", s2->serial);

  CHECK_OK(ea_state_save_svid(&f, s1));
  CHECK_OK(ea_state_load_svid(&f, &got));
  CHECK(got && strcmp(got->serial, serial1) == 0);
  CHECK_STR_EQ(got->id.str, AGENT_PREFIX "s");
  ea_svid_free(got);
  got = NULL;

  /* Crash after the new key was written, before the chain: the old pair
   * loads and the stale .next goes away. */
  CHECK_OK(cairn_key_save(k2, f.key_next));
  CHECK_OK(ea_state_load_svid(&f, &got));
  CHECK(got && strcmp(got->serial, serial1) == 0);
  CHECK_INT_EQ(access(f.key_next, F_OK), -1);
  ea_svid_free(got);
  got = NULL;

  /* Crash after the chain, before the rename: .next is the key, and the
   * rename is completed. */
  CHECK_OK(cairn_key_save(k2, f.key_next));
  {
    char *pem = NULL;
    size_t len = 0;
    CHECK_OK(cairn_cert_list_to_pem(s2->chain, &pem, &len));
    CHECK_OK(cairn_file_write_atomic(f.svid, pem, len, 0644));
    free(pem);
  }
  CHECK_OK(ea_state_load_svid(&f, &got));
  CHECK(got && strcmp(got->serial, serial2) == 0);
  CHECK_INT_EQ(access(f.key_next, F_OK), -1);
  CHECK_INT_EQ(file_mode(f.key), 0600);
  ea_svid_free(got);
  got = NULL;

  /* The key of another SVID and no .next: refused. */
  CHECK_OK(cairn_key_save(k1, f.key));
  CHECK_ERR(ea_state_load_svid(&f, &got), CAIRN_ERR_POLICY);
  CHECK(strstr(cairn_errdetail(), "no usable key") != NULL);
  /* No key at all. */
  CHECK_INT_EQ(unlink(f.key), 0);
  CHECK_ERR(ea_state_load_svid(&f, &got), CAIRN_ERR_POLICY);
  /* A garbage chain. */
  CHECK_OK(test_write_file(f.svid, "not pem", 7));
  CHECK(ea_state_load_svid(&f, &got) != CAIRN_OK);
  CHECK(got == NULL);

  /* Bootstrap bundle files: PEM, SPIFFE JSON, and junk. */
  {
    struct cairn_bundle *b = NULL;
    char *json = bundle_json();
    const char *pem = write_roots("boot.pem", F.ca);
    CHECK_OK(ea_bundle_read_file(pem, EA_BUNDLE_AUTO, TD, &b));
    CHECK(b && cairn_cert_list_count(cairn_bundle_x509(b)) == 1);
    cairn_bundle_free(b);
    b = NULL;
    CHECK_OK(test_write_file(test_path("boot.json"), json, strlen(json)));
    CHECK_OK(ea_bundle_read_file(test_path("boot.json"), EA_BUNDLE_AUTO, TD,
                                 &b));
    CHECK(b && cairn_bundle_content_equal(b, F.bundle));
    cairn_bundle_free(b);
    b = NULL;
    CHECK(ea_bundle_read_file(test_path("boot.json"), EA_BUNDLE_PEM, TD,
                              &b) != CAIRN_OK);
    CHECK_OK(test_write_file(test_path("empty.json"), "{\"keys\":[]}", 11));
    CHECK_ERR(ea_bundle_read_file(test_path("empty.json"), EA_BUNDLE_AUTO, TD,
                                  &b),
              CAIRN_ERR_PARSE);
    CHECK(strstr(cairn_errdetail(), "no X.509 authority") != NULL);
    CHECK_ERR(ea_bundle_read_file(test_path("nope.pem"), EA_BUNDLE_AUTO, TD,
                                  &b),
              CAIRN_ERR_NOT_FOUND);
    free(json);
  }
  ea_svid_free(s1);
  ea_svid_free(s2);
  ea_files_clear(&f);
}

int main(void)
{
  cairn_log_set_level(getenv("CAIRN_TEST_DEBUG") ? CAIRN_LOG_DEBUG
                                                 : CAIRN_LOG_WARN);
  CHECK_INT_EQ(uv_loop_init(&g_loop), 0);
  fake_setup();
  RUN(test_state_files);
  RUN(test_attest_persist_resume);
  RUN(test_loose_key);
  RUN(test_no_token);
  RUN(test_reused_token);
  RUN(test_wrong_bundle);
  RUN(test_insecure_memory_retry);
  RUN(test_renew_bundle_evict);
  RUN(test_server_down);
  RUN(test_host_name);
  RUN(test_expired_persisted);
  fake_teardown();
  run_for(100);
  CHECK_INT_EQ(uv_loop_close(&g_loop), 0);
  return test_done();
}
