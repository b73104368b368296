/* cairn-certtool - test helper for the certificate interop tests.
 *
 *   cairn-certtool gen DIR [p256|p384] [NOW]
 *       Writes PEM files issued with cairn_cert_issue():
 *         root.pem, inter.pem (NameConstraints TD), leaf.pem, chain.pem
 *         (leaf + inter); region.pem, site.pem, leaf3.pem, chain3.pem
 *         (leaf3 + site + region), untrusted3.pem (site + region);
 *         evil-leaf.pem: a leaf for spiffe://evil.org crafted under inter
 *         (outside its NameConstraints; cairn_cert_issue() refuses it);
 *         root.key, inter.key (SEC1, 0600).
 *   cairn-certtool verify ROOTS.pem CHAIN.pem [TD|-] [ca] [NOW]
 *       Runs cairn_cert_verify(); prints the SPIFFE ID and exits 0, or
 *       prints "error: <code name>: <detail>" and exits 1.
 *   cairn-certtool corpus DIR NOW
 *       Writes concatenated-DER and PEM chains for the certchain fuzz
 *       corpus, valid around NOW.
 */
#include "cert_int.h"

#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/key.h"
#include "cairn/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TD "example.org"

static int die(const char *what, int r)
{
  fprintf(stderr, "cairn-certtool: %s: %s: %s\n", what, cairn_strerror(r),
          cairn_errdetail());
  exit(2);
}

static void write_file(const char *dir, const char *name, const void *data,
                       size_t len)
{
  char path[4096];
  int r;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if ((r = cairn_file_write_atomic(path, data, len, 0644))) die(path, r);
}

static void write_pem(const char *dir, const char *name,
                      const struct cairn_cert *const *v, size_t n)
{
  struct cairn_cert_list *l;
  char *pem;
  size_t len;
  int r;

  if ((r = cairn_cert_list_new(&l))) die("list", r);
  for (size_t i = 0; i < n; i++)
    if ((r = cairn_cert_list_push_copy(l, v[i]))) die("list", r);
  if ((r = cairn_cert_list_to_pem(l, &pem, &len))) die("pem", r);
  write_file(dir, name, pem, len);
  free(pem);
  cairn_cert_list_free(l);
}

static void write_der(const char *dir, const char *name,
                      const struct cairn_cert *const *v, size_t n)
{
  uint8_t *buf = malloc(n * CAIRN_CERT_MAX);
  size_t off = 0;

  if (!buf) die("malloc", CAIRN_ERR_NOMEM);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    const uint8_t *d = cairn_cert_der(v[i], &len);
    memcpy(buf + off, d, len);
    off += len;
  }
  write_file(dir, name, buf, off);
  free(buf);
}

static struct cairn_key *gen(enum cairn_key_type t)
{
  struct cairn_key *k;
  int r = cairn_key_generate(t, &k);
  if (r) die("keygen", r);
  return k;
}

static struct cairn_cert *issue(enum cairn_cert_kind kind, const char *id,
                                time_t now, int64_t ttl,
                                const struct cairn_key *subj,
                                const struct cairn_key *ikey,
                                const struct cairn_cert *issuer,
                                const char *permitted_td, int path_len,
                                const char *const *dns, size_t n_dns)
{
  struct cairn_cert_template t;
  struct cairn_cert *c;
  int r;

  memset(&t, 0, sizeof t);
  t.kind = kind;
  t.spiffe_id = id;
  t.now = now;
  t.ttl = ttl;
  t.permitted_td = permitted_td;
  t.path_len = path_len;
  t.dns_names = dns;
  t.n_dns = n_dns;
  if ((r = cairn_cert_issue(&t, subj, ikey, issuer, &c))) die(id, r);
  return c;
}

struct set {
  struct cairn_key *rk, *ik, *lk, *gk, *sk, *l3k, *ek;
  struct cairn_cert *root, *inter, *leaf, *region, *site, *leaf3, *evil;
};

static void make_set(struct set *s, enum cairn_key_type t, time_t now,
                     int64_t ttl)
{
  static const char *const dns[] = {"web.example.org"};
  struct cairn__cert_spec sp;
  const char *evil_uri[] = {"spiffe://evil.org/x"};
  int r;

  s->rk = gen(t);
  s->ik = gen(t);
  s->lk = gen(t);
  s->gk = gen(t);
  s->sk = gen(t);
  s->l3k = gen(t);
  s->ek = gen(t);
  s->root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, now, ttl, s->rk, s->rk,
                  NULL, NULL, -1, NULL, 0);
  s->inter = issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, now, ttl, s->ik,
                   s->rk, s->root, TD, 0, NULL, 0);
  s->leaf = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/ns/default/sa/web", now,
                  ttl, s->lk, s->ik, s->inter, NULL, -1, dns, 1);
  s->region = issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, now, ttl, s->gk,
                    s->rk, s->root, TD, 1, NULL, 0);
  s->site = issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, now, ttl, s->sk,
                  s->gk, s->region, NULL, 0, NULL, 0);
  s->leaf3 = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/site/a/workload", now,
                   ttl, s->l3k, s->sk, s->site, NULL, -1, NULL, 0);
  memset(&sp, 0, sizeof sp);
  sp.path_len = -1;
  sp.key_usage = CAIRN_KU_DIGITAL_SIGNATURE;
  sp.eku_tls = 1;
  sp.uris = evil_uri;
  sp.n_uris = 1;
  sp.not_before = now - CAIRN_CERT_BACKDATE;
  sp.not_after = cairn_cert_not_after(s->inter);
  if ((r = cairn__cert_encode(&sp, s->ek, s->ik, s->inter, &s->evil)))
    die("evil leaf", r);
}

static void free_set(struct set *s)
{
  struct cairn_key *k[] = {s->rk, s->ik, s->lk, s->gk, s->sk, s->l3k, s->ek};
  struct cairn_cert *c[] = {s->root, s->inter, s->leaf, s->region,
                            s->site, s->leaf3, s->evil};
  for (size_t i = 0; i < 7; i++) {
    cairn_key_free(k[i]);
    cairn_cert_free(c[i]);
  }
}

static int cmd_gen(int argc, char **argv)
{
  struct set s;
  enum cairn_key_type t = CAIRN_KEY_EC_P256;
  time_t now = argc > 4 ? (time_t)strtoll(argv[4], NULL, 10) : cairn_now();
  const char *dir = argv[2];
  int r;

  if (argc > 3) {
    if (strcmp(argv[3], "p384") == 0)
      t = CAIRN_KEY_EC_P384;
    else if (strcmp(argv[3], "p256") != 0)
      return die("curve (p256 or p384)", CAIRN_ERR_INVAL);
  }
  if ((r = cairn_mkdir_p(dir, 0755))) die(dir, r);
  make_set(&s, t, now, 86400);
  {
    const struct cairn_cert *v[] = {s.root};
    write_pem(dir, "root.pem", v, 1);
  }
  {
    const struct cairn_cert *v[] = {s.inter};
    write_pem(dir, "inter.pem", v, 1);
  }
  {
    const struct cairn_cert *v[] = {s.leaf};
    write_pem(dir, "leaf.pem", v, 1);
  }
  {
    const struct cairn_cert *v[] = {s.leaf, s.inter};
    write_pem(dir, "chain.pem", v, 2);
  }
  {
    const struct cairn_cert *v[] = {s.region};
    write_pem(dir, "region.pem", v, 1);
  }
  {
    const struct cairn_cert *v[] = {s.site};
    write_pem(dir, "site.pem", v, 1);
  }
  {
    const struct cairn_cert *v[] = {s.leaf3};
    write_pem(dir, "leaf3.pem", v, 1);
  }
  {
    const struct cairn_cert *v[] = {s.leaf3, s.site, s.region};
    write_pem(dir, "chain3.pem", v, 3);
  }
  {
    const struct cairn_cert *v[] = {s.site, s.region};
    write_pem(dir, "untrusted3.pem", v, 2);
  }
  {
    const struct cairn_cert *v[] = {s.evil};
    write_pem(dir, "evil-leaf.pem", v, 1);
  }
  {
    char path[4096];
    snprintf(path, sizeof path, "%s/root.key", dir);
    if ((r = cairn_key_save(s.rk, path))) die(path, r);
    snprintf(path, sizeof path, "%s/inter.key", dir);
    if ((r = cairn_key_save(s.ik, path))) die(path, r);
  }
  free_set(&s);
  return 0;
}

static struct cairn_cert_list *load(const char *path)
{
  struct cairn_cert_list *l;
  uint8_t *data;
  size_t len;
  int r;

  if ((r = cairn_file_read(path, 1 << 20, &data, &len))) die(path, r);
  if ((r = cairn_cert_list_parse_pem((const char *)data, len, &l)))
    die(path, r);
  free(data);
  return l;
}

static int cmd_verify(int argc, char **argv)
{
  struct cairn_cert_list *roots = load(argv[2]), *chain = load(argv[3]);
  const char *td = argc > 4 && strcmp(argv[4], "-") != 0 ? argv[4] : NULL;
  unsigned flags = argc > 5 && strcmp(argv[5], "ca") == 0
                       ? CAIRN_VERIFY_CA_LEAF
                       : 0;
  time_t now = argc > 6 ? (time_t)strtoll(argv[6], NULL, 10) : 0;
  struct cairn_id id;
  int r = cairn_cert_verify(chain, roots, td, now, flags, &id);

  if (r == CAIRN_OK)
    printf("%s\n", id.str);
  else
    printf("error: %s: %s\n", cairn_strerror(r), cairn_errdetail());
  cairn_cert_list_free(roots);
  cairn_cert_list_free(chain);
  return r == CAIRN_OK ? 0 : 1;
}

static int cmd_corpus(int argc, char **argv)
{
  const char *dir = argv[2];
  time_t now = (time_t)strtoll(argv[3], NULL, 10);
  struct set a, b;
  int r;

  (void)argc;
  if ((r = cairn_mkdir_p(dir, 0755))) die(dir, r);
  /* Ten years so the fixed fuzz clock stays inside every validity. */
  make_set(&a, CAIRN_KEY_EC_P256, now, 10LL * 365 * 86400);
  make_set(&b, CAIRN_KEY_EC_P384, now, 10LL * 365 * 86400);
  {
    /* The fuzz target uses the last certificate of an input as a trust
     * anchor, so these chains end with their root. */
    const struct cairn_cert *v2[] = {a.leaf, a.inter, a.root};
    const struct cairn_cert *v3[] = {b.leaf3, b.region, b.site, b.root};
    const struct cairn_cert *ve[] = {a.evil, a.inter, a.root};
    const struct cairn_cert *vca[] = {a.site, a.region, a.root};
    const struct cairn_cert *vr[] = {a.leaf, a.inter, b.root};
    const struct cairn_cert *v1[] = {a.root};
    write_der(dir, "p256-2level.der", v2, 3);
    write_der(dir, "p384-3level.der", v3, 4);
    write_der(dir, "nc-violation.der", ve, 3);
    write_der(dir, "ca-chain.der", vca, 3);
    write_der(dir, "wrong-root.der", vr, 3);
    write_der(dir, "root-only.der", v1, 1);
    write_pem(dir, "p256-2level.pem", v2, 3);
    write_pem(dir, "p384-3level.pem", v3, 4);
  }
  free_set(&a);
  free_set(&b);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc >= 3 && strcmp(argv[1], "gen") == 0) return cmd_gen(argc, argv);
  if (argc >= 4 && strcmp(argv[1], "verify") == 0)
    return cmd_verify(argc, argv);
  if (argc >= 4 && strcmp(argv[1], "corpus") == 0)
    return cmd_corpus(argc, argv);
  fprintf(stderr,
          "usage: cairn-certtool gen DIR [p256|p384] [NOW]\n"
          "       cairn-certtool verify ROOTS.pem CHAIN.pem [TD|-] [ca|-] "
          "[NOW]\n"
          "       cairn-certtool corpus DIR NOW\n");
  return 2;
}
