/* Tests of the admin gRPC service (cairn/admin.h): a real store and CA
 * manager behind a gRPC server on its own thread and a temporary socket,
 * driven with the blocking client exactly as the `cairn` CLI does. A
 * second store connection (as another process would have) plays the
 * agents and checks what was written. */
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* wolfSSL's FP_ECC build keeps a per-thread point cache that the server
 * thread must release before it ends (wc_ecc_fp_free). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include "admin.pb-c.h"
#include "cairn/admin.h"
#include "cairn/bundle.h"
#include "cairn/ca.h"
#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/grpc.h"
#include "cairn/id.h"
#include "cairn/jwt.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/store.h"
#include "cairn/util.h"

#define TD "example.org"
#define SERVER_ID "spiffe://" TD "/spire/server"
#define P "/cairn.admin.v1."

/* ======================================================================
 * The server thread
 * ====================================================================== */

struct srv {
  pthread_t th;
  uv_loop_t loop;
  uv_async_t stop;
  struct cairn_grpc_server *s;
  struct cairn_admin *admin;
  char path[108];
  int started, listen_rc, close_rc, running;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

static struct srv g_srv;
static struct cairn_store *g_st;      /* used by the server thread only */
static struct cairn_ca *g_ca;         /* used by the server thread only */
static struct cairn_store *g_peer;    /* the test's own connection */
static struct cairn_grpc_client *g_cli;

static void on_stop(uv_async_t *a)
{
  struct srv *t = a->data;
  cairn_grpc_server_free(t->s);
  uv_close((uv_handle_t *)a, NULL);
}

static void *server_main(void *arg)
{
  struct srv *t = arg;
  int r;

  uv_loop_init(&t->loop);
  uv_async_init(&t->loop, &t->stop, on_stop);
  t->stop.data = t;
  r = cairn_grpc_server_new(&t->loop, NULL, &t->s);
  if (!r) r = cairn_admin_register(t->admin, t->s);
  if (!r) r = cairn_grpc_server_listen(t->s, t->path, 0600);
  pthread_mutex_lock(&t->mu);
  t->listen_rc = r;
  t->started = 1;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
  if (r) {
    cairn_grpc_server_free(t->s);
    uv_close((uv_handle_t *)&t->stop, NULL);
  }
  uv_run(&t->loop, UV_RUN_DEFAULT);
  t->close_rc = uv_loop_close(&t->loop);
  wc_ecc_fp_free();
  return NULL;
}

/* ======================================================================
 * Client helpers
 * ====================================================================== */

/* Calls path with req; returns the gRPC status (-1 on transport errors).
 * On OK, *resp holds the unpacked reply of type desc (free with
 * protobuf_c_message_free_unpacked); msg (may be NULL, 256 bytes) gets the
 * status message. */
static int call(const char *path, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, void **resp,
                char *msg)
{
  struct cairn_grpc_reply r;
  uint8_t *buf;
  size_t len = protobuf_c_message_get_packed_size(req);
  int rc, st;

  if (resp) *resp = NULL;
  if (msg) msg[0] = 0;
  buf = malloc(len ? len : 1);
  if (!buf) return -1;
  protobuf_c_message_pack(req, buf);
  rc = cairn_grpc_client_unary(g_cli, path, NULL, 0, buf, len, 10000, &r);
  free(buf);
  if (rc != CAIRN_OK) {
    test_fail(__FILE__, __LINE__, "%s: transport error %d (%s)", path, rc,
              cairn_errdetail());
    cairn_grpc_reply_cleanup(&r);
    return -1;
  }
  st = r.status;
  if (msg) snprintf(msg, 256, "%s", r.message);
  if (st == CAIRN_GRPC_OK && resp && desc) {
    *resp = protobuf_c_message_unpack(desc, NULL, r.len, r.data);
    if (!*resp) {
      test_fail(__FILE__, __LINE__, "%s: cannot unpack the reply", path);
      st = -1;
    }
  }
  cairn_grpc_reply_cleanup(&r);
  return st;
}

static void pbfree(void *m)
{
  if (m) protobuf_c_message_free_unpacked(m, NULL);
}

/* An entry on the wire; strings point at static text. */
struct ent {
  Cairn__Admin__V1__Entry e;
  Cairn__Admin__V1__Selector sel[4];
  Cairn__Admin__V1__Selector *selp[4];
};

static void ent_init(struct ent *x, const char *spiffe, const char *parent,
                     const char *sel1)
{
  char *colon;
  static char selbuf[64][128];
  static int k;
  char *s = selbuf[k++ & 63];

  cairn__admin__v1__entry__init(&x->e);
  x->e.spiffe_id = (char *)spiffe;
  x->e.parent_id = (char *)parent;
  cairn__admin__v1__selector__init(&x->sel[0]);
  snprintf(s, 128, "%s", sel1);
  colon = strchr(s, ':');
  if (colon) {
    *colon = 0;
    x->sel[0].type = s;
    x->sel[0].value = colon + 1;
  } else {
    x->sel[0].type = s;
    x->sel[0].value = (char *)"";
  }
  x->selp[0] = &x->sel[0];
  x->e.selectors = x->selp;
  x->e.n_selectors = 1;
}

/* BatchCreateEntry of n entries; returns the status. */
static int create(struct ent *ents, size_t n,
                  Cairn__Admin__V1__BatchCreateEntryResponse **out, char *msg)
{
  Cairn__Admin__V1__BatchCreateEntryRequest rq =
      CAIRN__ADMIN__V1__BATCH_CREATE_ENTRY_REQUEST__INIT;
  Cairn__Admin__V1__Entry *pp[16];
  void *resp = NULL;
  int st;

  for (size_t i = 0; i < n; i++) pp[i] = &ents[i].e;
  rq.entries = pp;
  rq.n_entries = n;
  st = call(P "Entries/BatchCreateEntry", &rq.base,
            &cairn__admin__v1__batch_create_entry_response__descriptor, &resp,
            msg);
  if (out) *out = resp;
  else pbfree(resp);
  return st;
}

/* Creates one entry that must succeed; returns its ID (static buffer). */
static const char *create1(const char *spiffe, const char *parent,
                           const char *sel)
{
  static char ids[16][64];
  static int k;
  char *id = ids[k++ & 15];
  struct ent x;
  Cairn__Admin__V1__BatchCreateEntryResponse *rs = NULL;
  char msg[256];

  id[0] = 0;
  ent_init(&x, spiffe, parent, sel);
  if (create(&x, 1, &rs, msg) != CAIRN_GRPC_OK) {
    test_fail(__FILE__, __LINE__, "create %s: %s", spiffe, msg);
    return id;
  }
  if (rs->n_entries == 1) snprintf(id, 64, "%s", rs->entries[0]->id);
  pbfree(rs);
  return id;
}

static int64_t count_entries(void)
{
  Cairn__Admin__V1__CountEntriesRequest rq =
      CAIRN__ADMIN__V1__COUNT_ENTRIES_REQUEST__INIT;
  Cairn__Admin__V1__CountEntriesResponse *rs = NULL;
  int64_t n = -1;

  if (call(P "Entries/CountEntries", &rq.base,
           &cairn__admin__v1__count_entries_response__descriptor,
           (void **)&rs, NULL) == CAIRN_GRPC_OK)
    n = rs->count;
  pbfree(rs);
  return n;
}

static Cairn__Admin__V1__Entry *get_entry(const char *id, int *status)
{
  Cairn__Admin__V1__GetEntryRequest rq = CAIRN__ADMIN__V1__GET_ENTRY_REQUEST__INIT;
  void *rs = NULL;
  rq.id = (char *)id;
  *status = call(P "Entries/GetEntry", &rq.base,
                 &cairn__admin__v1__entry__descriptor, &rs, NULL);
  return rs;
}

static int delete_ids(const char **ids, size_t n, char *msg)
{
  Cairn__Admin__V1__BatchDeleteEntryRequest rq =
      CAIRN__ADMIN__V1__BATCH_DELETE_ENTRY_REQUEST__INIT;
  rq.ids = (char **)ids;
  rq.n_ids = n;
  return call(P "Entries/BatchDeleteEntry", &rq.base,
              &cairn__admin__v1__batch_delete_entry_response__descriptor, NULL,
              msg);
}

static void node_add(const char *id, const char *sel_value)
{
  struct cairn_node n;
  struct cairn_selector s = {(char *)"join_token", (char *)sel_value};
  memset(&n, 0, sizeof n);
  n.spiffe_id = (char *)id;
  n.attestation_type = (char *)"join_token";
  n.selectors = &s;
  n.n_selectors = 1;
  n.cert_serial = (char *)"01";
  n.cert_not_after = (int64_t)cairn_now() + 3600;
  CHECK_OK(cairn_store_node_upsert(g_peer, &n, NULL));
}

/* ======================================================================
 * Tests
 * ====================================================================== */

static void test_create_get_count(void)
{
  struct ent x;
  Cairn__Admin__V1__BatchCreateEntryResponse *rs = NULL;
  Cairn__Admin__V1__Entry *e;
  char msg[256];
  const char *dns[] = {"web.example.org", "*.web.example.org"};
  char *dnsv[2] = {(char *)dns[0], (char *)dns[1]};
  int st;
  int64_t before = count_entries();

  ent_init(&x, "spiffe://" TD "/web", SERVER_ID, "unix:uid:1000");
  x.e.x509_svid_ttl = 600;
  x.e.jwt_svid_ttl = 60;
  x.e.dns_names = dnsv;
  x.e.n_dns_names = 2;
  x.e.hint = (char *)"frontend";
  x.e.owner = (char *)"mallory";          /* ignored: the server decides */
  x.e.revision_number = 99;               /* ignored on create */
  CHECK_INT_EQ(create(&x, 1, &rs, msg), CAIRN_GRPC_OK);
  if (!rs || rs->n_entries != 1) {
    test_fail(__FILE__, __LINE__, "create: %s", msg);
    pbfree(rs);
    return;
  }
  e = rs->entries[0];
  CHECK_INT_EQ(strlen(e->id), 36);
  CHECK_STR_EQ(e->owner, "cloud");
  CHECK_STR_EQ(e->spiffe_id, "spiffe://" TD "/web");
  CHECK(e->revision_number > 0 && e->revision_number != 99);
  CHECK(e->created_at > 0);
  CHECK_INT_EQ(e->x509_svid_ttl, 600);
  CHECK_INT_EQ(e->n_dns_names, 2);
  CHECK_STR_EQ(e->hint, "frontend");
  CHECK_INT_EQ(count_entries(), before + 1);
  {
    Cairn__Admin__V1__Entry *g = get_entry(e->id, &st);
    CHECK_INT_EQ(st, CAIRN_GRPC_OK);
    if (g) {
      CHECK_STR_EQ(g->parent_id, SERVER_ID);
      CHECK_INT_EQ(g->n_selectors, 1);
      if (g->n_selectors == 1) {
        CHECK_STR_EQ(g->selectors[0]->type, "unix");
        CHECK_STR_EQ(g->selectors[0]->value, "uid:1000");
      }
      CHECK_INT_EQ(g->jwt_svid_ttl, 60);
      CHECK_INT_EQ(g->revision_number, e->revision_number);
      pbfree(g);
    }
  }
  /* The same entry again is a duplicate. */
  CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_ALREADY_EXISTS);
  CHECK(strncmp(msg, "entry 0: ", 9) == 0);
  /* A caller-chosen ID, and the same ID again. */
  ent_init(&x, "spiffe://" TD "/chosen", SERVER_ID, "unix:uid:7");
  x.e.id = (char *)"my-entry.1";
  CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_OK);
  ent_init(&x, "spiffe://" TD "/chosen2", SERVER_ID, "unix:uid:7");
  x.e.id = (char *)"my-entry.1";
  CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_ALREADY_EXISTS);

  CHECK(get_entry("no-such-entry", &st) == NULL);
  CHECK_INT_EQ(st, CAIRN_GRPC_NOT_FOUND);
  CHECK(get_entry("", &st) == NULL);
  CHECK_INT_EQ(st, CAIRN_GRPC_INVALID_ARGUMENT);
  pbfree(rs);
}

static void test_parents(void)
{
  struct ent x, b[2];
  char msg[256];

  /* Unknown parent. */
  ent_init(&x, "spiffe://" TD "/orphan", "spiffe://" TD "/spire/agent/x",
           "unix:uid:1");
  CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_FAILED_PRECONDITION);
  CHECK(strstr(msg, "entry 0: parent ID spiffe://" TD "/spire/agent/x is not "
               "the server, an attested agent or a registered entry") != NULL);
  /* An attested agent is a known parent. */
  node_add("spiffe://" TD "/spire/agent/join_token/abc", "abc");
  create1("spiffe://" TD "/on-agent", "spiffe://" TD "/spire/agent/join_token/abc",
          "unix:uid:2");
  /* A node alias entry, then a child of the alias. */
  create1("spiffe://" TD "/node-group/a", SERVER_ID, "join_token:abc");
  create1("spiffe://" TD "/in-group", "spiffe://" TD "/node-group/a",
          "unix:uid:3");
  /* Parent and child in one batch: the child sees the parent. */
  ent_init(&b[0], "spiffe://" TD "/node-group/b", SERVER_ID, "join_token:def");
  ent_init(&b[1], "spiffe://" TD "/in-group-b", "spiffe://" TD "/node-group/b",
           "unix:uid:4");
  CHECK_INT_EQ(create(b, 2, NULL, msg), CAIRN_GRPC_OK);
}

static void test_invalid_entries(void)
{
  struct ent x;
  char msg[256];
  char *bad_dns[] = {(char *)"bad_name.example.org"};
  int64_t before = count_entries();

#define BADENT(spiffe, parent, sel, want)                                   \
  do {                                                                      \
    ent_init(&x, spiffe, parent, sel);                                      \
    CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_INVALID_ARGUMENT);    \
    if (!strstr(msg, want))                                                 \
      test_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"", msg, want); \
  } while (0)
  BADENT("spiffe://other.org/web", SERVER_ID, "unix:uid:1",
         "entry 0: spiffe_id \"spiffe://other.org/web\" is not in trust "
         "domain \"example.org\"");
  BADENT("spiffe://" TD "/a/../b", SERVER_ID, "unix:uid:1",
         "is not a valid SPIFFE ID");
  BADENT("spiffe://" TD, SERVER_ID, "unix:uid:1", "has no path");
  BADENT("", SERVER_ID, "unix:uid:1", "spiffe_id is required");
  BADENT("spiffe://" TD "/x", "", "unix:uid:1", "parent_id is required");
  BADENT("spiffe://" TD "/x", "spiffe://other.org/spire/server", "unix:uid:1",
         "parent_id");
  BADENT("spiffe://" TD "/x", SERVER_ID, "unix", "type:value");
  BADENT("spiffe://" TD "/x", SERVER_ID, ":uid", "type:value");
  BADENT(SERVER_ID, SERVER_ID, "unix:uid:1", "server's own ID");

  ent_init(&x, "spiffe://" TD "/x", SERVER_ID, "unix:uid:1");
  x.e.n_selectors = 0;
  CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK(strstr(msg, "at least one selector") != NULL);
  ent_init(&x, "spiffe://" TD "/x", SERVER_ID, "unix:uid:1");
  x.e.x509_svid_ttl = -1;
  CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_INVALID_ARGUMENT);
  ent_init(&x, "spiffe://" TD "/x", SERVER_ID, "unix:uid:1");
  x.e.expires_at = (int64_t)cairn_now() - 10;
  CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK(strstr(msg, "in the past") != NULL);
  ent_init(&x, "spiffe://" TD "/x", SERVER_ID, "unix:uid:1");
  x.e.dns_names = bad_dns;
  x.e.n_dns_names = 1;
  CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK(strstr(msg, "invalid DNS name") != NULL);
  ent_init(&x, "spiffe://" TD "/x", SERVER_ID, "unix:uid:1");
  x.e.scope = (char *)"/site/a";
  CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK(strstr(msg, "downstream") != NULL);
  ent_init(&x, "spiffe://" TD "/x", SERVER_ID, "unix:uid:1");
  x.e.id = (char *)"bad id";
  CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_INT_EQ(count_entries(), before);
#undef BADENT

  /* Bytes that are not a request at all. */
  {
    struct cairn_grpc_reply r;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    CHECK_OK(cairn_grpc_client_unary(g_cli, P "Entries/BatchCreateEntry", NULL,
                                     0, junk, sizeof junk, 5000, &r));
    CHECK_INT_EQ(r.status, CAIRN_GRPC_INVALID_ARGUMENT);
    CHECK(strstr(r.message, "cannot parse") != NULL);
    cairn_grpc_reply_cleanup(&r);
  }
}

static void test_batch_atomic(void)
{
  struct ent b[3];
  char msg[256];
  int64_t before = count_entries();

  ent_init(&b[0], "spiffe://" TD "/batch/0", SERVER_ID, "unix:uid:100");
  ent_init(&b[1], "spiffe://" TD "/batch/1", SERVER_ID, "unix:uid:101");
  ent_init(&b[2], "spiffe://" TD "/batch/2", "spiffe://" TD "/nobody",
           "unix:uid:102");
  CHECK_INT_EQ(create(b, 3, NULL, msg), CAIRN_GRPC_FAILED_PRECONDITION);
  CHECK(strncmp(msg, "entry 2: ", 9) == 0);
  CHECK_INT_EQ(count_entries(), before);
  /* A duplicate inside the batch also undoes the whole batch. */
  ent_init(&b[2], "spiffe://" TD "/batch/0", SERVER_ID, "unix:uid:100");
  CHECK_INT_EQ(create(b, 3, NULL, msg), CAIRN_GRPC_ALREADY_EXISTS);
  CHECK(strncmp(msg, "entry 2: ", 9) == 0);
  CHECK_INT_EQ(count_entries(), before);
  /* The same batch fixed goes in whole. */
  ent_init(&b[2], "spiffe://" TD "/batch/2", SERVER_ID, "unix:uid:102");
  CHECK_INT_EQ(create(b, 3, NULL, msg), CAIRN_GRPC_OK);
  CHECK_INT_EQ(count_entries(), before + 3);
  /* An empty batch is fine and changes nothing. */
  CHECK_INT_EQ(create(b, 0, NULL, msg), CAIRN_GRPC_OK);
  CHECK_INT_EQ(count_entries(), before + 3);
}

static int list_page(const Cairn__Admin__V1__EntryFilter *f, int size,
                     const char *token, Cairn__Admin__V1__ListEntriesResponse **rs)
{
  Cairn__Admin__V1__ListEntriesRequest rq =
      CAIRN__ADMIN__V1__LIST_ENTRIES_REQUEST__INIT;
  rq.filter = (Cairn__Admin__V1__EntryFilter *)f;
  rq.page_size = size;
  rq.page_token = (char *)token;
  return call(P "Entries/ListEntries", &rq.base,
              &cairn__admin__v1__list_entries_response__descriptor,
              (void **)rs, NULL);
}

static void test_list_paging_filters(void)
{
  Cairn__Admin__V1__ListEntriesResponse *rs = NULL;
  Cairn__Admin__V1__EntryFilter f = CAIRN__ADMIN__V1__ENTRY_FILTER__INIT;
  Cairn__Admin__V1__Selector s = CAIRN__ADMIN__V1__SELECTOR__INIT;
  Cairn__Admin__V1__Selector *sp = &s;
  char token[300] = "", prev[300] = "";
  int64_t total = count_entries();
  int64_t seen = 0;
  int pages = 0;

  for (int i = 0; i < 5; i++) {
    char id[64];
    snprintf(id, sizeof id, "spiffe://" TD "/paged/%d", i);
    create1(id, "spiffe://" TD "/node-group/a", "k8s:ns:paged");
  }
  total += 5;
  /* Pages of 3 cover every entry exactly once, in ID order. */
  for (;;) {
    CHECK_INT_EQ(list_page(NULL, 3, token, &rs), CAIRN_GRPC_OK);
    if (!rs) break;
    pages++;
    CHECK(rs->n_entries <= 3);
    for (size_t i = 0; i < rs->n_entries; i++) {
      CHECK(strcmp(rs->entries[i]->id, prev) > 0);
      snprintf(prev, sizeof prev, "%s", rs->entries[i]->id);
      seen++;
    }
    snprintf(token, sizeof token, "%s", rs->next_page_token);
    if (token[0]) CHECK_INT_EQ(rs->n_entries, 3);
    pbfree(rs);
    rs = NULL;
    if (!token[0] || pages > 100) break;
  }
  CHECK_INT_EQ(seen, total);
  CHECK_INT_EQ(pages, (total + 2) / 3);
  /* Default page size returns everything here, with no next token. */
  CHECK_INT_EQ(list_page(NULL, 0, "", &rs), CAIRN_GRPC_OK);
  if (rs) {
    CHECK_INT_EQ(rs->n_entries, total);
    CHECK_STR_EQ(rs->next_page_token, "");
    pbfree(rs);
    rs = NULL;
  }
  CHECK_INT_EQ(list_page(NULL, -1, "", &rs), CAIRN_GRPC_INVALID_ARGUMENT);
  /* Filters. */
  f.by_parent_id = (char *)"spiffe://" TD "/node-group/a";
  CHECK_INT_EQ(list_page(&f, 0, "", &rs), CAIRN_GRPC_OK);
  if (rs) {
    CHECK_INT_EQ(rs->n_entries, 6);  /* in-group + 5 paged */
    pbfree(rs);
    rs = NULL;
  }
  f.by_parent_id = (char *)"";
  f.by_spiffe_id = (char *)"spiffe://" TD "/paged/3";
  CHECK_INT_EQ(list_page(&f, 0, "", &rs), CAIRN_GRPC_OK);
  if (rs) {
    CHECK_INT_EQ(rs->n_entries, 1);
    pbfree(rs);
    rs = NULL;
  }
  f.by_spiffe_id = (char *)"";
  s.type = (char *)"k8s";
  s.value = (char *)"ns:paged";
  f.by_selectors = &sp;
  f.n_by_selectors = 1;
  f.match = CAIRN__ADMIN__V1__SELECTOR_MATCH__MATCH_EXACT;
  CHECK_INT_EQ(list_page(&f, 0, "", &rs), CAIRN_GRPC_OK);
  if (rs) {
    CHECK_INT_EQ(rs->n_entries, 5);
    pbfree(rs);
    rs = NULL;
  }
  {
    Cairn__Admin__V1__CountEntriesRequest rq =
        CAIRN__ADMIN__V1__COUNT_ENTRIES_REQUEST__INIT;
    Cairn__Admin__V1__CountEntriesResponse *cr = NULL;
    rq.filter = &f;
    CHECK_INT_EQ(call(P "Entries/CountEntries", &rq.base,
                      &cairn__admin__v1__count_entries_response__descriptor,
                      (void **)&cr, NULL),
                 CAIRN_GRPC_OK);
    if (cr) CHECK_INT_EQ(cr->count, 5);
    pbfree(cr);
  }
  f.by_spiffe_id = (char *)"not an id";
  CHECK_INT_EQ(list_page(&f, 0, "", &rs), CAIRN_GRPC_INVALID_ARGUMENT);
  f.by_spiffe_id = (char *)"";
  s.value = (char *)"";
  CHECK_INT_EQ(list_page(&f, 0, "", &rs), CAIRN_GRPC_INVALID_ARGUMENT);
}

static int update(Cairn__Admin__V1__Entry **es, size_t n, char *msg,
                  Cairn__Admin__V1__BatchUpdateEntryResponse **out)
{
  Cairn__Admin__V1__BatchUpdateEntryRequest rq =
      CAIRN__ADMIN__V1__BATCH_UPDATE_ENTRY_REQUEST__INIT;
  void *rs = NULL;
  int st;
  rq.entries = es;
  rq.n_entries = n;
  st = call(P "Entries/BatchUpdateEntry", &rq.base,
            &cairn__admin__v1__batch_update_entry_response__descriptor, &rs,
            msg);
  if (out) *out = rs;
  else pbfree(rs);
  return st;
}

static void test_update_delete(void)
{
  char id1[64], id2[64];
  Cairn__Admin__V1__Entry *e1, *e2, *g;
  Cairn__Admin__V1__BatchUpdateEntryResponse *ur = NULL;
  Cairn__Admin__V1__Entry *pp[2];
  char msg[256];
  int st;
  int64_t rev1;

  snprintf(id1, sizeof id1, "%s", create1("spiffe://" TD "/upd/1", SERVER_ID,
                                          "unix:uid:201"));
  snprintf(id2, sizeof id2, "%s", create1("spiffe://" TD "/upd/2", SERVER_ID,
                                          "unix:uid:202"));
  e1 = get_entry(id1, &st);
  e2 = get_entry(id2, &st);
  if (!e1 || !e2) {
    test_fail(__FILE__, __LINE__, "entries missing");
    pbfree(e1);
    pbfree(e2);
    return;
  }
  rev1 = e1->revision_number;

  /* A plain update: new TTL and admin flag, revision grows. */
  e1->x509_svid_ttl = 1234;
  e1->admin = 1;
  pp[0] = e1;
  CHECK_INT_EQ(update(pp, 1, msg, &ur), CAIRN_GRPC_OK);
  if (ur && ur->n_entries == 1) {
    CHECK_INT_EQ(ur->entries[0]->x509_svid_ttl, 1234);
    CHECK(ur->entries[0]->admin);
    CHECK(ur->entries[0]->revision_number > rev1);
    CHECK_STR_EQ(ur->entries[0]->owner, "cloud");
  }
  pbfree(ur);
  ur = NULL;
  /* The stale revision (rev1) is refused with ABORTED. */
  e1->x509_svid_ttl = 999;
  CHECK_INT_EQ(update(pp, 1, msg, NULL), CAIRN_GRPC_ABORTED);
  CHECK(strstr(msg, "changed concurrently") != NULL);
  /* Revision 0 means "don't check". */
  e1->revision_number = 0;
  CHECK_INT_EQ(update(pp, 1, msg, NULL), CAIRN_GRPC_OK);
  /* Atomic: the second entry fails (unknown parent), the first stays. */
  e1->x509_svid_ttl = 5;
  {
    char *own_parent = e2->parent_id;
    e2->parent_id = (char *)"spiffe://" TD "/nobody";
    pp[1] = e2;
    CHECK_INT_EQ(update(pp, 2, msg, NULL), CAIRN_GRPC_FAILED_PRECONDITION);
    CHECK(strncmp(msg, "entry 1: ", 9) == 0);
    e2->parent_id = own_parent;
  }
  g = get_entry(id1, &st);
  if (g) CHECK_INT_EQ(g->x509_svid_ttl, 999);
  pbfree(g);
  /* Unknown ID, missing ID. (e2's own strings are kept aside and put
   * back before it is freed.) */
  {
    char *own_id = e2->id, *own_parent = e2->parent_id;
    char *own_spiffe = e2->spiffe_id, *own_value = e2->selectors[0]->value;

    e2->parent_id = (char *)SERVER_ID;
    e2->id = (char *)"does-not-exist";
    CHECK_INT_EQ(update(&pp[1], 1, msg, NULL), CAIRN_GRPC_NOT_FOUND);
    e2->id = (char *)"";
    CHECK_INT_EQ(update(&pp[1], 1, msg, NULL), CAIRN_GRPC_INVALID_ARGUMENT);
    CHECK(strstr(msg, "id is required") != NULL);
    /* An update that would duplicate another entry. */
    e2->id = id2;
    e2->spiffe_id = (char *)"spiffe://" TD "/upd/1";
    e2->selectors[0]->value = (char *)"uid:201";
    CHECK_INT_EQ(update(&pp[1], 1, msg, NULL), CAIRN_GRPC_ALREADY_EXISTS);
    e2->id = own_id;
    e2->parent_id = own_parent;
    e2->spiffe_id = own_spiffe;
    e2->selectors[0]->value = own_value;
  }
  pbfree(e1);
  pbfree(e2);

  /* Entries of another owner (replicated from a site) cannot be changed
   * here, but can be deleted. */
  {
    struct cairn_entry se;
    struct cairn_selector sel = {(char *)"unix", (char *)"uid:300"};
    struct cairn_entry *stored = NULL;
    memset(&se, 0, sizeof se);
    se.spiffe_id = (char *)"spiffe://" TD "/site-owned";
    se.parent_id = (char *)SERVER_ID;
    se.selectors = &sel;
    se.n_selectors = 1;
    se.owner = (char *)"site-a";
    CHECK_OK(cairn_store_entry_create(g_peer, &se, &stored));
    if (stored) {
      g = get_entry(stored->entry_id, &st);
      if (g) {
        pp[0] = g;
        CHECK_INT_EQ(update(pp, 1, msg, NULL), CAIRN_GRPC_PERMISSION_DENIED);
        CHECK(strstr(msg, "site-a") != NULL);
        pbfree(g);
      }
      {
        const char *ids[] = {stored->entry_id};
        CHECK_INT_EQ(delete_ids(ids, 1, msg), CAIRN_GRPC_OK);
      }
      cairn_entry_free(stored);
    }
  }

  /* Delete: atomic, NOT_FOUND for an unknown ID. */
  {
    const char *ids[] = {id1, "nope", id2};
    int64_t before = count_entries();
    CHECK_INT_EQ(delete_ids(ids, 3, msg), CAIRN_GRPC_NOT_FOUND);
    CHECK(strncmp(msg, "entry 1: ", 9) == 0);
    CHECK_INT_EQ(count_entries(), before);
    ids[1] = id2;
    CHECK_INT_EQ(delete_ids(ids, 2, msg), CAIRN_GRPC_OK);
    CHECK_INT_EQ(count_entries(), before - 2);
    CHECK(get_entry(id1, &st) == NULL);
    CHECK_INT_EQ(st, CAIRN_GRPC_NOT_FOUND);
    ids[0] = "";
    CHECK_INT_EQ(delete_ids(ids, 1, msg), CAIRN_GRPC_INVALID_ARGUMENT);
  }
}

static int join_token(int ttl, const char *token, const char *agent_id,
                      Cairn__Admin__V1__JoinToken **out, char *msg)
{
  Cairn__Admin__V1__CreateJoinTokenRequest rq =
      CAIRN__ADMIN__V1__CREATE_JOIN_TOKEN_REQUEST__INIT;
  void *rs = NULL;
  int st;
  rq.ttl = ttl;
  rq.token = (char *)token;
  rq.agent_id = (char *)agent_id;
  st = call(P "Agents/CreateJoinToken", &rq.base,
            &cairn__admin__v1__join_token__descriptor, &rs, msg);
  if (out) *out = rs;
  else pbfree(rs);
  return st;
}

static void test_tokens(void)
{
  Cairn__Admin__V1__JoinToken *t = NULL;
  struct cairn_join_token *list = NULL;
  size_t n = 0;
  char msg[256], *log = NULL;
  const char *logpath = test_path("admin-token.log");
  FILE *lf = fopen(logpath, "w");
  int64_t now = (int64_t)cairn_now();
  int found_gen = 0, found_given = 0;
  char gen[64] = "";

  if (lf) cairn_log_set_stream(lf);
  CHECK_INT_EQ(join_token(600, "", "", &t, msg), CAIRN_GRPC_OK);
  if (t) {
    CHECK_INT_EQ(strlen(t->value), 36);   /* UUID v4 */
    CHECK(t->expires_at >= now + 600 && t->expires_at <= now + 605);
    snprintf(gen, sizeof gen, "%s", t->value);
    pbfree(t);
    t = NULL;
  }
  CHECK_INT_EQ(join_token(60, "my-token-123", "spiffe://" TD "/host/1", &t, msg),
               CAIRN_GRPC_OK);
  if (t) CHECK_STR_EQ(t->value, "my-token-123");
  pbfree(t);
  CHECK_INT_EQ(join_token(60, "my-token-123", "", NULL, msg),
               CAIRN_GRPC_ALREADY_EXISTS);
  CHECK_INT_EQ(join_token(0, "", "", NULL, msg), CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK(strstr(msg, "ttl") != NULL);
  CHECK_INT_EQ(join_token(-5, "", "", NULL, msg), CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_INT_EQ(join_token(60, "", "spiffe://other.org/host", NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_INT_EQ(join_token(60, "bad token!", "", NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  cairn_log_set_stream(NULL);
  if (lf) fclose(lf);

  /* Stored with the alias, as node attestation will read them. */
  CHECK_OK(cairn_store_token_list(g_peer, &list, &n));
  for (size_t i = 0; i < n; i++) {
    if (strcmp(list[i].token, gen) == 0) {
      found_gen = 1;
      CHECK_STR_EQ(list[i].spiffe_id, "");
    }
    if (strcmp(list[i].token, "my-token-123") == 0) {
      found_given = 1;
      CHECK_STR_EQ(list[i].spiffe_id, "spiffe://" TD "/host/1");
    }
  }
  CHECK(found_gen && found_given);
  cairn_join_token_array_free(list, n);

  /* Tokens are secrets: the log shows their first 4 characters only. */
  log = test_read_file(logpath, NULL);
  CHECK(log != NULL);
  if (log && gen[0]) {
    char head[16];
    snprintf(head, sizeof head, "token=%.4s...", gen);
    CHECK(strstr(log, head) != NULL);
    CHECK(strstr(log, gen) == NULL);
    CHECK(strstr(log, "my-token-123") == NULL);
    CHECK(strstr(log, "token=my-t...") != NULL);
  }
  free(log);
}

static void test_agents(void)
{
  Cairn__Admin__V1__ListAgentsRequest lr = CAIRN__ADMIN__V1__LIST_AGENTS_REQUEST__INIT;
  Cairn__Admin__V1__ListAgentsResponse *ls = NULL;
  Cairn__Admin__V1__CountAgentsRequest cr = CAIRN__ADMIN__V1__COUNT_AGENTS_REQUEST__INIT;
  Cairn__Admin__V1__CountAgentsResponse *cs = NULL;
  Cairn__Admin__V1__AgentIdRequest ir = CAIRN__ADMIN__V1__AGENT_ID_REQUEST__INIT;
  Cairn__Admin__V1__Agent *ag = NULL;
  char msg[256], token[300] = "";
  size_t seen = 0;
  int pages = 0;

  for (int i = 0; i < 4; i++) {
    char id[128], v[16];
    snprintf(id, sizeof id, "spiffe://" TD "/spire/agent/join_token/t%d", i);
    snprintf(v, sizeof v, "t%d", i);
    node_add(id, v);
  }
  /* 5 agents now (one from test_parents); pages of 2. */
  do {
    lr.page_size = 2;
    lr.page_token = token;
    CHECK_INT_EQ(call(P "Agents/ListAgents", &lr.base,
                      &cairn__admin__v1__list_agents_response__descriptor,
                      (void **)&ls, msg),
                 CAIRN_GRPC_OK);
    if (!ls) break;
    seen += ls->n_agents;
    pages++;
    if (ls->n_agents)
      CHECK_STR_EQ(ls->agents[0]->attestation_type, "join_token");
    snprintf(token, sizeof token, "%s", ls->next_page_token);
    pbfree(ls);
    ls = NULL;
  } while (token[0] && pages < 20);
  CHECK_INT_EQ(seen, 5);
  CHECK_INT_EQ(pages, 3);

  ir.spiffe_id = (char *)"spiffe://" TD "/spire/agent/join_token/t1";
  CHECK_INT_EQ(call(P "Agents/GetAgent", &ir.base,
                    &cairn__admin__v1__agent__descriptor, (void **)&ag, msg),
               CAIRN_GRPC_OK);
  if (ag) {
    CHECK_STR_EQ(ag->spiffe_id, ir.spiffe_id);
    CHECK_INT_EQ(ag->n_selectors, 1);
    CHECK(!ag->banned);
    CHECK_STR_EQ(ag->x509svid_serial_number, "01");
    pbfree(ag);
    ag = NULL;
  }
  CHECK_INT_EQ(call(P "Agents/BanAgent", &ir.base, NULL, NULL, msg),
               CAIRN_GRPC_OK);
  CHECK_INT_EQ(call(P "Agents/GetAgent", &ir.base,
                    &cairn__admin__v1__agent__descriptor, (void **)&ag, msg),
               CAIRN_GRPC_OK);
  if (ag) CHECK(ag->banned);
  pbfree(ag);
  cr.by_banned = 1;
  CHECK_INT_EQ(call(P "Agents/CountAgents", &cr.base,
                    &cairn__admin__v1__count_agents_response__descriptor,
                    (void **)&cs, msg),
               CAIRN_GRPC_OK);
  if (cs) CHECK_INT_EQ(cs->count, 1);
  pbfree(cs);
  cr.by_banned = 2;
  cr.by_attestation_type = (char *)"join_token";
  CHECK_INT_EQ(call(P "Agents/CountAgents", &cr.base,
                    &cairn__admin__v1__count_agents_response__descriptor,
                    (void **)&cs, msg),
               CAIRN_GRPC_OK);
  if (cs) CHECK_INT_EQ(cs->count, 4);
  pbfree(cs);
  cr.by_banned = 7;
  CHECK_INT_EQ(call(P "Agents/CountAgents", &cr.base, NULL, NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);

  CHECK_INT_EQ(call(P "Agents/DeleteAgent", &ir.base, NULL, NULL, msg),
               CAIRN_GRPC_OK);
  CHECK_INT_EQ(call(P "Agents/GetAgent", &ir.base, NULL, NULL, msg),
               CAIRN_GRPC_NOT_FOUND);
  CHECK_INT_EQ(call(P "Agents/DeleteAgent", &ir.base, NULL, NULL, msg),
               CAIRN_GRPC_NOT_FOUND);
  CHECK_INT_EQ(call(P "Agents/BanAgent", &ir.base, NULL, NULL, msg),
               CAIRN_GRPC_NOT_FOUND);
  ir.spiffe_id = (char *)"spiffe://other.org/spire/agent/x";
  CHECK_INT_EQ(call(P "Agents/GetAgent", &ir.base, NULL, NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
}

/* A self-signed root for another trust domain, as PEM (free()). */
static char *foreign_root_pem(const char *td)
{
  struct cairn_key *k = NULL;
  struct cairn_cert *c = NULL;
  struct cairn_cert_template t;
  char id[300], *pem = NULL;
  size_t len;

  snprintf(id, sizeof id, "spiffe://%s", td);
  memset(&t, 0, sizeof t);
  t.kind = CAIRN_CERT_ROOT;
  t.spiffe_id = id;
  t.ttl = 86400;
  t.path_len = -1;
  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  CHECK_OK(cairn_cert_issue(&t, k, k, NULL, &c));
  if (c) CHECK_OK(cairn_cert_to_pem(c, &pem, &len));
  cairn_cert_free(c);
  cairn_key_free(k);
  return pem;
}

static int set_bundle(const char *td, const char *json, const char *pem,
                      Cairn__Admin__V1__Bundle **out, char *msg)
{
  Cairn__Admin__V1__SetFederatedBundleRequest rq =
      CAIRN__ADMIN__V1__SET_FEDERATED_BUNDLE_REQUEST__INIT;
  void *rs = NULL;
  int st;
  rq.trust_domain = (char *)td;
  rq.spiffe_json = (char *)json;
  rq.x509_pem = (char *)pem;
  st = call(P "Bundles/SetFederatedBundle", &rq.base,
            &cairn__admin__v1__bundle__descriptor, &rs, msg);
  if (out) *out = rs;
  else pbfree(rs);
  return st;
}

static void test_bundles(void)
{
  Cairn__Admin__V1__GetBundleRequest gr = CAIRN__ADMIN__V1__GET_BUNDLE_REQUEST__INIT;
  Cairn__Admin__V1__Bundle *b = NULL;
  Cairn__Admin__V1__GetFederatedBundleRequest fr =
      CAIRN__ADMIN__V1__GET_FEDERATED_BUNDLE_REQUEST__INIT;
  Cairn__Admin__V1__DeleteFederatedBundleRequest dr =
      CAIRN__ADMIN__V1__DELETE_FEDERATED_BUNDLE_REQUEST__INIT;
  Cairn__Admin__V1__ListFederatedBundlesRequest lr =
      CAIRN__ADMIN__V1__LIST_FEDERATED_BUNDLES_REQUEST__INIT;
  Cairn__Admin__V1__ListFederatedBundlesResponse *ls = NULL;
  struct cairn_bundle *parsed = NULL;
  char msg[256], *pem = foreign_root_pem("partner.org");
  char *pem2 = foreign_root_pem("partner.org");
  char *json2 = NULL;
  uint64_t seq1 = 0;

  /* The own bundle, from the CA manager. */
  CHECK_INT_EQ(call(P "Bundles/GetBundle", &gr.base,
                    &cairn__admin__v1__bundle__descriptor, (void **)&b, msg),
               CAIRN_GRPC_OK);
  if (b) {
    CHECK_STR_EQ(b->trust_domain, TD);
    CHECK(b->n_x509_authorities >= 1);
    CHECK(b->sequence_number >= 1);
    CHECK_OK(cairn_bundle_parse_json(TD, b->spiffe_json,
                                     strlen(b->spiffe_json), 0, &parsed));
    if (parsed) {
      CHECK_INT_EQ(cairn_cert_list_count(cairn_bundle_x509(parsed)),
                   b->n_x509_authorities);
      CHECK(cairn_bundle_jwt_count(parsed) >= 1);
      cairn_bundle_free(parsed);
    }
    pbfree(b);
    b = NULL;
  }

  /* A federated bundle from PEM. */
  CHECK_INT_EQ(set_bundle("partner.org", "", pem, &b, msg), CAIRN_GRPC_OK);
  if (b) {
    CHECK_STR_EQ(b->trust_domain, "partner.org");
    CHECK_INT_EQ(b->n_x509_authorities, 1);
    seq1 = b->sequence_number;
    CHECK(seq1 >= 1);
    pbfree(b);
    b = NULL;
  }
  /* Replaced from SPIFFE JSON (spiffe:// form of the name accepted); the
   * stored sequence grows. */
  {
    struct cairn_bundle *nb = NULL;
    CHECK_OK(cairn_bundle_parse_pem("partner.org", pem2, strlen(pem2), &nb));
    if (nb) CHECK_OK(cairn_bundle_write_json(nb, 0, &json2, NULL));
    cairn_bundle_free(nb);
  }
  CHECK_INT_EQ(set_bundle("spiffe://partner.org", json2 ? json2 : "", "", &b,
                          msg),
               CAIRN_GRPC_OK);
  if (b) {
    CHECK(b->sequence_number > seq1);
    pbfree(b);
    b = NULL;
  }
  fr.trust_domain = (char *)"partner.org";
  CHECK_INT_EQ(call(P "Bundles/GetFederatedBundle", &fr.base,
                    &cairn__admin__v1__bundle__descriptor, (void **)&b, msg),
               CAIRN_GRPC_OK);
  if (b) {
    CHECK_INT_EQ(b->n_x509_authorities, 1);
    CHECK(strstr(b->spiffe_json, "x509-svid") != NULL);
    pbfree(b);
    b = NULL;
  }
  CHECK_INT_EQ(call(P "Bundles/ListFederatedBundles", &lr.base,
                    &cairn__admin__v1__list_federated_bundles_response__descriptor,
                    (void **)&ls, msg),
               CAIRN_GRPC_OK);
  if (ls) {
    CHECK_INT_EQ(ls->n_bundles, 1);  /* the own bundle is not listed */
    if (ls->n_bundles) CHECK_STR_EQ(ls->bundles[0]->trust_domain, "partner.org");
    pbfree(ls);
  }

  /* Refused input. */
  CHECK_INT_EQ(set_bundle(TD, "", pem, NULL, msg), CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK(strstr(msg, "own trust domain") != NULL);
  CHECK_INT_EQ(set_bundle("x.org", json2 ? json2 : "", pem, NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_INT_EQ(set_bundle("x.org", "", "", NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_INT_EQ(set_bundle("x.org", "{\"keys\":[]}", "", NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK(strstr(msg, "no X.509 authorities") != NULL);
  CHECK_INT_EQ(set_bundle("x.org", "", "-----BEGIN CERTIFICATE-----\nAAAA\n"
                          "-----END CERTIFICATE-----\n", NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_INT_EQ(set_bundle("Not A Domain", "", pem, NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  fr.trust_domain = (char *)"unknown.org";
  CHECK_INT_EQ(call(P "Bundles/GetFederatedBundle", &fr.base, NULL, NULL, msg),
               CAIRN_GRPC_NOT_FOUND);
  fr.trust_domain = (char *)TD;
  CHECK_INT_EQ(call(P "Bundles/GetFederatedBundle", &fr.base, NULL, NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);

  /* Entries may federate only with stored bundles; a bundle in use cannot
   * be deleted. */
  {
    struct ent x;
    char *fed[] = {(char *)"partner.org"};
    char *fed_bad[] = {(char *)"nowhere.org"};
    Cairn__Admin__V1__BatchCreateEntryResponse *rs = NULL;
    char id[64] = "";

    ent_init(&x, "spiffe://" TD "/fed", SERVER_ID, "unix:uid:400");
    x.e.federates_with = fed_bad;
    x.e.n_federates_with = 1;
    CHECK_INT_EQ(create(&x, 1, NULL, msg), CAIRN_GRPC_FAILED_PRECONDITION);
    CHECK(strstr(msg, "nowhere.org") != NULL);
    x.e.federates_with = fed;
    CHECK_INT_EQ(create(&x, 1, &rs, msg), CAIRN_GRPC_OK);
    if (rs && rs->n_entries == 1) {
      snprintf(id, sizeof id, "%s", rs->entries[0]->id);
      CHECK_INT_EQ(rs->entries[0]->n_federates_with, 1);
    }
    pbfree(rs);
    dr.trust_domain = (char *)"partner.org";
    CHECK_INT_EQ(call(P "Bundles/DeleteFederatedBundle", &dr.base, NULL, NULL,
                      msg),
                 CAIRN_GRPC_FAILED_PRECONDITION);
    CHECK(strstr(msg, id) != NULL);
    {
      const char *ids[] = {id};
      CHECK_INT_EQ(delete_ids(ids, 1, msg), CAIRN_GRPC_OK);
    }
    CHECK_INT_EQ(call(P "Bundles/DeleteFederatedBundle", &dr.base, NULL, NULL,
                      msg),
                 CAIRN_GRPC_OK);
    CHECK_INT_EQ(call(P "Bundles/DeleteFederatedBundle", &dr.base, NULL, NULL,
                      msg),
                 CAIRN_GRPC_NOT_FOUND);
    dr.trust_domain = (char *)TD;
    CHECK_INT_EQ(call(P "Bundles/DeleteFederatedBundle", &dr.base, NULL, NULL,
                      msg),
                 CAIRN_GRPC_INVALID_ARGUMENT);
  }
  free(pem);
  free(pem2);
  free(json2);
}

static int mint_x509(const uint8_t *csr, size_t csr_len, const char *id,
                     char **dns, size_t n_dns, int ttl,
                     Cairn__Admin__V1__MintX509SVIDResponse **out, char *msg)
{
  Cairn__Admin__V1__MintX509SVIDRequest rq =
      CAIRN__ADMIN__V1__MINT_X509_SVIDREQUEST__INIT;
  void *rs = NULL;
  int st;
  rq.csr.data = (uint8_t *)csr;
  rq.csr.len = csr_len;
  rq.spiffe_id = (char *)id;
  rq.dns_names = dns;
  rq.n_dns_names = n_dns;
  rq.ttl = ttl;
  st = call(P "SVIDs/MintX509SVID", &rq.base,
            &cairn__admin__v1__mint_x509_svidresponse__descriptor, &rs, msg);
  if (out) *out = rs;
  else pbfree(rs);
  return st;
}

static void test_mint_x509(void)
{
  struct cairn_key *k = NULL;
  uint8_t *csr = NULL;
  size_t csr_len = 0;
  Cairn__Admin__V1__MintX509SVIDResponse *rs = NULL;
  char *dns[] = {(char *)"svc.example.org"};
  char msg[256];
  int64_t now = (int64_t)cairn_now();

  CHECK_OK(cairn_key_generate(CAIRN_KEY_EC_P256, &k));
  if (k) CHECK_OK(cairn_csr_create(k, &csr, &csr_len));
  CHECK_INT_EQ(mint_x509(csr, csr_len, "spiffe://" TD "/minted", dns, 1, 120,
                         &rs, msg),
               CAIRN_GRPC_OK);
  if (rs) {
    struct cairn_cert_list *chain = NULL, *roots = NULL;
    struct cairn_cert *c;
    struct cairn_id id;
    CHECK(rs->n_svid >= 1);
    CHECK(rs->n_root_cas >= 1);
    CHECK(rs->expires_at > now && rs->expires_at <= now + 121);
    CHECK_OK(cairn_cert_list_new(&chain));
    CHECK_OK(cairn_cert_list_new(&roots));
    for (size_t i = 0; i < rs->n_svid; i++) {
      c = NULL;
      CHECK_OK(cairn_cert_parse_der(rs->svid[i].data, rs->svid[i].len, &c));
      if (c && cairn_cert_list_push(chain, c)) cairn_cert_free(c);
    }
    for (size_t i = 0; i < rs->n_root_cas; i++) {
      c = NULL;
      CHECK_OK(cairn_cert_parse_der(rs->root_cas[i].data, rs->root_cas[i].len,
                                    &c));
      if (c && cairn_cert_list_push(roots, c)) cairn_cert_free(c);
    }
    CHECK_OK(cairn_cert_verify(chain, roots, TD, 0, 0, &id));
    CHECK_STR_EQ(id.str, "spiffe://" TD "/minted");
    if (cairn_cert_list_count(chain)) {
      const struct cairn_cert *leaf = cairn_cert_list_at(chain, 0);
      CHECK(cairn_cert_matches_key(leaf, k));
      CHECK_INT_EQ(cairn_cert_dns_count(leaf), 1);
      if (cairn_cert_dns_count(leaf))
        CHECK_STR_EQ(cairn_cert_dns_at(leaf, 0), "svc.example.org");
      CHECK_INT_EQ((int64_t)cairn_cert_not_after(leaf), rs->expires_at);
    }
    cairn_cert_list_free(chain);
    cairn_cert_list_free(roots);
    pbfree(rs);
    rs = NULL;
  }
  /* ttl 0: the configured default (1h here). */
  CHECK_INT_EQ(mint_x509(csr, csr_len, "spiffe://" TD "/minted", NULL, 0, 0,
                         &rs, msg),
               CAIRN_GRPC_OK);
  if (rs) {
    CHECK(rs->expires_at > now + 3500 && rs->expires_at <= now + 3601);
    pbfree(rs);
  }
  CHECK_INT_EQ(mint_x509(csr, csr_len, "spiffe://other.org/minted", NULL, 0, 0,
                         NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_INT_EQ(mint_x509(NULL, 0, "spiffe://" TD "/minted", NULL, 0, 0, NULL,
                         msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK(strstr(msg, "csr") != NULL);
  if (csr) {
    csr[csr_len - 1] ^= 1;  /* break the signature */
    CHECK_INT_EQ(mint_x509(csr, csr_len, "spiffe://" TD "/minted", NULL, 0, 0,
                           NULL, msg),
                 CAIRN_GRPC_INVALID_ARGUMENT);
    CHECK(strncmp(msg, "csr: ", 5) == 0);
    csr[csr_len - 1] ^= 1;
  }
  CHECK_INT_EQ(mint_x509(csr, csr_len, "spiffe://" TD "/minted", NULL, 0, -1,
                         NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  free(csr);
  cairn_key_free(k);
}

static void test_mint_jwt(void)
{
  Cairn__Admin__V1__MintJWTSVIDRequest rq =
      CAIRN__ADMIN__V1__MINT_JWTSVIDREQUEST__INIT;
  Cairn__Admin__V1__MintJWTSVIDResponse *rs = NULL;
  Cairn__Admin__V1__GetBundleRequest gr = CAIRN__ADMIN__V1__GET_BUNDLE_REQUEST__INIT;
  Cairn__Admin__V1__Bundle *b = NULL;
  struct cairn_bundle *bundle = NULL;
  char *aud[] = {(char *)"db", (char *)"cache"};
  char *empty_aud[] = {(char *)""};
  char msg[256];
  int64_t now = (int64_t)cairn_now();

  rq.spiffe_id = (char *)"spiffe://" TD "/jwt-user";
  rq.audience = aud;
  rq.n_audience = 2;
  CHECK_INT_EQ(call(P "SVIDs/MintJWTSVID", &rq.base,
                    &cairn__admin__v1__mint_jwtsvidresponse__descriptor,
                    (void **)&rs, msg),
               CAIRN_GRPC_OK);
  CHECK_INT_EQ(call(P "Bundles/GetBundle", &gr.base,
                    &cairn__admin__v1__bundle__descriptor, (void **)&b, msg),
               CAIRN_GRPC_OK);
  if (b)
    CHECK_OK(cairn_bundle_parse_json(TD, b->spiffe_json, strlen(b->spiffe_json),
                                     0, &bundle));
  if (rs && bundle) {
    struct cairn_jwt_claims *cl = NULL;
    const struct cairn_bundle *bs[] = {bundle};
    CHECK(rs->expires_at > now + 290 && rs->expires_at <= now + 301);
    CHECK_OK(cairn_jwt_validate(rs->token, bs, 1, "cache", 0, &cl));
    if (cl) {
      CHECK_STR_EQ(cl->sub.str, "spiffe://" TD "/jwt-user");
      CHECK_INT_EQ(cl->naud, 2);
      CHECK_INT_EQ(cl->exp, rs->expires_at);
      cairn_jwt_claims_free(cl);
    }
    CHECK_ERR(cairn_jwt_validate(rs->token, bs, 1, "other", 0, NULL),
              CAIRN_ERR_AUDIENCE);
  }
  pbfree(rs);
  rs = NULL;
  pbfree(b);
  cairn_bundle_free(bundle);

  rq.ttl = 30;
  rq.n_audience = 1;
  CHECK_INT_EQ(call(P "SVIDs/MintJWTSVID", &rq.base,
                    &cairn__admin__v1__mint_jwtsvidresponse__descriptor,
                    (void **)&rs, msg),
               CAIRN_GRPC_OK);
  if (rs) CHECK(rs->expires_at <= now + 31);
  pbfree(rs);
  rq.n_audience = 0;
  CHECK_INT_EQ(call(P "SVIDs/MintJWTSVID", &rq.base, NULL, NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK(strstr(msg, "audience") != NULL);
  rq.audience = empty_aud;
  rq.n_audience = 1;
  CHECK_INT_EQ(call(P "SVIDs/MintJWTSVID", &rq.base, NULL, NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
  rq.audience = aud;
  rq.spiffe_id = (char *)"spiffe://" TD;
  CHECK_INT_EQ(call(P "SVIDs/MintJWTSVID", &rq.base, NULL, NULL, msg),
               CAIRN_GRPC_INVALID_ARGUMENT);
}

static void test_health(void)
{
  Cairn__Admin__V1__HealthRequest rq = CAIRN__ADMIN__V1__HEALTH_REQUEST__INIT;
  Cairn__Admin__V1__HealthResponse *rs = NULL;
  size_t n_entries = 0, n_agents = 0;
  int x509 = 0, jwt = 0;

  CHECK_INT_EQ(call(P "Health/Check", &rq.base,
                    &cairn__admin__v1__health_response__descriptor,
                    (void **)&rs, NULL),
               CAIRN_GRPC_OK);
  if (!rs) return;
  CHECK_OK(cairn_store_entry_count(g_peer, NULL, &n_entries));
  CHECK_OK(cairn_store_node_count(g_peer, NULL, &n_agents));
  CHECK(rs->healthy);
  CHECK_STR_EQ(rs->trust_domain, TD);
  CHECK_STR_EQ(rs->version, "9.9.9-test");
  CHECK_STR_EQ(rs->upstream, "self-signed");
  CHECK(rs->uptime_seconds >= 0);
  CHECK_INT_EQ(rs->entries, n_entries);
  CHECK_INT_EQ(rs->agents, n_agents);
  CHECK(rs->bundle_sequence >= 1);
  for (size_t i = 0; i < rs->n_authorities; i++) {
    Cairn__Admin__V1__Authority *a = rs->authorities[i];
    if (strcmp(a->state, "active") == 0 && strcmp(a->kind, "x509") == 0) x509++;
    if (strcmp(a->state, "active") == 0 && strcmp(a->kind, "jwt") == 0) jwt++;
    CHECK(a->not_after > a->not_before);
    CHECK(a->id[0] != 0);
  }
  CHECK_INT_EQ(x509, 1);
  CHECK_INT_EQ(jwt, 1);
  pbfree(rs);
}

static void test_status_map(void)
{
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_OK), CAIRN_GRPC_OK);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_PARSE),
               CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_POLICY),
               CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_TOO_BIG),
               CAIRN_GRPC_INVALID_ARGUMENT);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_NOT_FOUND),
               CAIRN_GRPC_NOT_FOUND);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_EXISTS),
               CAIRN_GRPC_ALREADY_EXISTS);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_CONFLICT),
               CAIRN_GRPC_ABORTED);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_DENIED),
               CAIRN_GRPC_PERMISSION_DENIED);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_PERM),
               CAIRN_GRPC_PERMISSION_DENIED);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_EXPIRED),
               CAIRN_GRPC_FAILED_PRECONDITION);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_TIMEOUT),
               CAIRN_GRPC_UNAVAILABLE);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_DB), CAIRN_GRPC_INTERNAL);
  CHECK_INT_EQ(cairn_admin_grpc_status(CAIRN_ERR_IO), CAIRN_GRPC_INTERNAL);
}

static void test_misc_api(void)
{
  struct cairn_admin *a = (struct cairn_admin *)1;
  struct cairn_admin_opts o;
  struct cairn_grpc_reply r;

  memset(&o, 0, sizeof o);
  CHECK_ERR(cairn_admin_new(&o, NULL, g_ca, &a), CAIRN_ERR_INVAL);
  CHECK(a == NULL);
  o.default_x509_svid_ttl = -1;
  CHECK_ERR(cairn_admin_new(&o, g_st, g_ca, &a), CAIRN_ERR_INVAL);
  cairn_admin_free(NULL);
  /* Registering twice on the running server's paths fails: here on a
   * fresh server to stay off the server thread. */
  {
    uv_loop_t loop;
    struct cairn_grpc_server *s = NULL;
    uv_loop_init(&loop);
    CHECK_OK(cairn_grpc_server_new(&loop, NULL, &s));
    CHECK_OK(cairn_admin_register(g_srv.admin, s));
    CHECK_ERR(cairn_admin_register(g_srv.admin, s), CAIRN_ERR_EXISTS);
    cairn_grpc_server_free(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
  }
  /* A method that admin.proto does not have. */
  CHECK_OK(cairn_grpc_client_unary(g_cli, P "Entries/Nope", NULL, 0, "", 0,
                                   5000, &r));
  CHECK_INT_EQ(r.status, CAIRN_GRPC_UNIMPLEMENTED);
  cairn_grpc_reply_cleanup(&r);
}

int main(void)
{
  struct cairn_ca_opts co;
  struct cairn_admin_opts ao;
  const char *db = test_path("admin.db");
  int ok = 1;

  cairn_log_set_level(CAIRN_LOG_INFO);
  CHECK_OK(cairn_store_open(db, &g_st));
  memset(&co, 0, sizeof co);
  co.trust_domain = TD;
  co.key_manager = CAIRN_CA_KM_MEMORY;
  co.ca_ttl = 86400;
  if (g_st) CHECK_OK(cairn_ca_new(&co, g_st, &g_ca));
  CHECK_OK(cairn_store_open(db, &g_peer));
  memset(&ao, 0, sizeof ao);
  ao.default_x509_svid_ttl = 3600;
  ao.default_jwt_svid_ttl = 300;
  ao.version = "9.9.9-test";
  if (g_ca) CHECK_OK(cairn_admin_new(&ao, g_st, g_ca, &g_srv.admin));
  if (!g_st || !g_ca || !g_peer || !g_srv.admin) ok = 0;

  if (ok) {
    pthread_mutex_init(&g_srv.mu, NULL);
    pthread_cond_init(&g_srv.cv, NULL);
    snprintf(g_srv.path, sizeof g_srv.path, "%s", test_path("admin.sock"));
    if (pthread_create(&g_srv.th, NULL, server_main, &g_srv) != 0) ok = 0;
    else g_srv.running = 1;
  }
  if (ok) {
    pthread_mutex_lock(&g_srv.mu);
    while (!g_srv.started) pthread_cond_wait(&g_srv.cv, &g_srv.mu);
    pthread_mutex_unlock(&g_srv.mu);
    CHECK_OK(g_srv.listen_rc);
    CHECK_OK(cairn_grpc_client_connect(g_srv.path, 5000, NULL, &g_cli));
    if (g_srv.listen_rc || !g_cli) ok = 0;
  }
  if (ok) {
    RUN(test_status_map);
    RUN(test_create_get_count);
    RUN(test_parents);
    RUN(test_invalid_entries);
    RUN(test_batch_atomic);
    RUN(test_list_paging_filters);
    RUN(test_update_delete);
    RUN(test_tokens);
    RUN(test_agents);
    RUN(test_bundles);
    RUN(test_mint_x509);
    RUN(test_mint_jwt);
    RUN(test_health);
    RUN(test_misc_api);
  } else {
    test_fail(__FILE__, __LINE__, "setup failed");
  }
  cairn_grpc_client_free(g_cli);
  if (g_srv.running) {
    uv_async_send(&g_srv.stop);
    pthread_join(g_srv.th, NULL);
    CHECK_INT_EQ(g_srv.close_rc, 0);
    pthread_mutex_destroy(&g_srv.mu);
    pthread_cond_destroy(&g_srv.cv);
  }
  cairn_admin_free(g_srv.admin);
  cairn_ca_free(g_ca);
  cairn_store_close(g_peer);
  cairn_store_close(g_st);
  return test_done();
}
