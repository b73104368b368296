/* Unit tests for cert.c: issuing, parsing, accessors, lists and chain
 * verification (positive and negative). White-box: uses the policy-free
 * encoder from cert_int.h to craft certificates cairn_cert_issue() must
 * refuse to make. Every verification passes an explicit `now`. */
#include "cert_int.h"

#include "cairn/cert.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/key.h"
#include "cairn/util.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW ((time_t)1800000000) /* 2027-01-15T08:00:00Z */
#define DAY 86400
#define TD "example.org"

static struct cairn_key *gen(enum cairn_key_type t)
{
  struct cairn_key *k = NULL;
  CHECK_OK(cairn_key_generate(t, &k));
  return k;
}

/* Issues with cairn_cert_issue(); NULL (and a failed check) on error. */
static struct cairn_cert *issue(enum cairn_cert_kind kind, const char *id,
                                time_t now, int64_t ttl,
                                const struct cairn_key *subj,
                                const struct cairn_key *ikey,
                                const struct cairn_cert *issuer,
                                const char *permitted_td, int path_len)
{
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;

  memset(&t, 0, sizeof t);
  t.kind = kind;
  t.spiffe_id = id;
  t.now = now;
  t.ttl = ttl;
  t.permitted_td = permitted_td;
  t.path_len = path_len;
  CHECK_OK(cairn_cert_issue(&t, subj, ikey, issuer, &c));
  return c;
}

static int issue_err(enum cairn_cert_kind kind, const char *id, time_t now,
                     int64_t ttl, const struct cairn_key *subj,
                     const struct cairn_key *ikey,
                     const struct cairn_cert *issuer)
{
  struct cairn_cert_template t;
  struct cairn_cert *c = (struct cairn_cert *)1;
  int r;

  memset(&t, 0, sizeof t);
  t.kind = kind;
  t.spiffe_id = id;
  t.now = now;
  t.ttl = ttl;
  t.path_len = -1;
  r = cairn_cert_issue(&t, subj, ikey, issuer, &c);
  CHECK(r == CAIRN_OK || c == NULL);
  cairn_cert_free(c);
  return r;
}

/* A leaf-shaped spec for the raw encoder. */
static void leaf_spec(struct cairn__cert_spec *s, const char *const *uris,
                      size_t n, time_t nb, time_t na)
{
  memset(s, 0, sizeof *s);
  s->path_len = -1;
  s->key_usage = CAIRN_KU_DIGITAL_SIGNATURE;
  s->eku_tls = 1;
  s->uris = uris;
  s->n_uris = n;
  s->not_before = nb;
  s->not_after = na;
}

static void ca_spec(struct cairn__cert_spec *s, const char *const *uris,
                    time_t nb, time_t na)
{
  memset(s, 0, sizeof *s);
  s->is_ca = 1;
  s->path_len = -1;
  s->key_usage = CAIRN_KU_KEY_CERT_SIGN | CAIRN_KU_CRL_SIGN;
  s->uris = uris;
  s->n_uris = 1;
  s->not_before = nb;
  s->not_after = na;
}

static struct cairn_cert *craft(const struct cairn__cert_spec *s,
                                const struct cairn_key *subj,
                                const struct cairn_key *ikey,
                                const struct cairn_cert *issuer)
{
  struct cairn_cert *c = NULL;
  CHECK_OK(cairn__cert_encode(s, subj, ikey, issuer, &c));
  return c;
}

static struct cairn_cert_list *list_of(const struct cairn_cert *const *v,
                                       size_t n)
{
  struct cairn_cert_list *l = NULL;
  CHECK_OK(cairn_cert_list_new(&l));
  for (size_t i = 0; i < n; i++) CHECK_OK(cairn_cert_list_push_copy(l, v[i]));
  return l;
}

/* Verifies chain[0..n) against roots[0..m). */
static int verify(const struct cairn_cert *const *chain, size_t n,
                  const struct cairn_cert *const *roots, size_t m,
                  const char *td, time_t now, unsigned flags,
                  struct cairn_id *id)
{
  struct cairn_cert_list *cl = list_of(chain, n), *rl = list_of(roots, m);
  int r = cairn_cert_verify(cl, rl, td, now, flags, id);
  cairn_cert_list_free(cl);
  cairn_cert_list_free(rl);
  return r;
}

static int der_has(const struct cairn_cert *c, const void *needle, size_t n)
{
  size_t len;
  const uint8_t *d = cairn_cert_der(c, &len);
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(d + i, needle, n) == 0) return 1;
  return 0;
}

/* ---- a standard root -> intermediate -> leaf set ---- */
struct pki {
  struct cairn_key *rk, *ik, *lk;
  struct cairn_cert *root, *inter, *leaf;
};

static void pki_make(struct pki *p, enum cairn_key_type t, time_t now)
{
  struct cairn_cert_template lt;
  const char *dns[] = {"web.example.org", "*.svc.example.org"};

  p->rk = gen(t);
  p->ik = gen(t);
  p->lk = gen(t);
  p->root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, now, 30 * DAY, p->rk,
                  p->rk, NULL, NULL, -1);
  p->inter = issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, now, 2 * DAY,
                   p->ik, p->rk, p->root, TD, 0);
  memset(&lt, 0, sizeof lt);
  lt.kind = CAIRN_CERT_LEAF;
  lt.spiffe_id = "spiffe://" TD "/ns/default/sa/web";
  lt.dns_names = dns;
  lt.n_dns = 2;
  lt.common_name = "web.example.org";
  lt.now = now;
  lt.ttl = 3600;
  lt.path_len = -1;
  p->leaf = NULL;
  CHECK_OK(cairn_cert_issue(&lt, p->lk, p->ik, p->inter, &p->leaf));
}

static void pki_free(struct pki *p)
{
  cairn_cert_free(p->root);
  cairn_cert_free(p->inter);
  cairn_cert_free(p->leaf);
  cairn_key_free(p->rk);
  cairn_key_free(p->ik);
  cairn_key_free(p->lk);
}

/* ------------------------------------------------------------------ */

static void check_full_chain(enum cairn_key_type type)
{
  static const uint8_t sha256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                       0xce, 0x3d, 0x04, 0x03, 0x02};
  static const uint8_t sha384_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                       0xce, 0x3d, 0x04, 0x03, 0x03};
  static const uint8_t bc_crit_ca[] = {0x06, 0x03, 0x55, 0x1d, 0x13, 0x01,
                                       0x01, 0xff, 0x04, 0x05, 0x30, 0x03,
                                       0x01, 0x01, 0xff};
  static const uint8_t bc_crit_leaf[] = {0x06, 0x03, 0x55, 0x1d, 0x13,
                                         0x01, 0x01, 0xff, 0x04, 0x02,
                                         0x30, 0x00};
  struct pki p;
  struct cairn_id id;
  struct cairn_key *pub = NULL;
  uint8_t kid[20];
  const uint8_t *a, *b;
  size_t al, bl;
  char hex[41];

  pki_make(&p, type, NOW);
  if (!p.root || !p.inter || !p.leaf) goto out;

  /* Kinds, flags and usages. */
  CHECK_INT_EQ(cairn_cert_is_ca(p.root), 1);
  CHECK_INT_EQ(cairn_cert_is_ca(p.inter), 1);
  CHECK_INT_EQ(cairn_cert_is_ca(p.leaf), 0);
  CHECK_INT_EQ(cairn_cert_key_usage(p.root),
               CAIRN_KU_KEY_CERT_SIGN | CAIRN_KU_CRL_SIGN);
  CHECK_INT_EQ(cairn_cert_key_usage(p.inter),
               CAIRN_KU_KEY_CERT_SIGN | CAIRN_KU_CRL_SIGN);
  CHECK_INT_EQ(cairn_cert_key_usage(p.leaf), CAIRN_KU_DIGITAL_SIGNATURE);
  CHECK_INT_EQ(cairn_cert_ext_key_usage(p.leaf),
               CAIRN_EKU_SERVER_AUTH | CAIRN_EKU_CLIENT_AUTH);
  CHECK_INT_EQ(cairn_cert_ext_key_usage(p.root), 0);
  CHECK_INT_EQ(cairn_cert_path_len(p.root), -1);
  CHECK_INT_EQ(cairn_cert_path_len(p.inter), 0);
  CHECK_INT_EQ(cairn_cert_path_len(p.leaf), -1);
  CHECK(der_has(p.root, bc_crit_ca, sizeof bc_crit_ca));
  CHECK(der_has(p.leaf, bc_crit_leaf, sizeof bc_crit_leaf));
  /* Signature algorithm follows the issuer's curve. */
  if (type == CAIRN_KEY_EC_P256) {
    CHECK(der_has(p.leaf, sha256_oid, sizeof sha256_oid));
    CHECK(!der_has(p.leaf, sha384_oid, sizeof sha384_oid));
  } else {
    CHECK(der_has(p.leaf, sha384_oid, sizeof sha384_oid));
    CHECK(!der_has(p.leaf, sha256_oid, sizeof sha256_oid));
  }

  /* Validity: backdated, capped by the issuer. */
  CHECK_INT_EQ(cairn_cert_not_before(p.root), NOW - CAIRN_CERT_BACKDATE);
  CHECK_INT_EQ(cairn_cert_not_after(p.root), NOW + 30 * DAY);
  CHECK_INT_EQ(cairn_cert_not_before(p.leaf), NOW - CAIRN_CERT_BACKDATE);
  CHECK_INT_EQ(cairn_cert_not_after(p.leaf), NOW + 3600);

  /* IDs and SANs. */
  CHECK_OK(cairn_cert_spiffe_id(p.leaf, &id));
  CHECK_STR_EQ(id.str, "spiffe://" TD "/ns/default/sa/web");
  CHECK_OK(cairn_cert_spiffe_id(p.inter, &id));
  CHECK_STR_EQ(id.str, "spiffe://" TD);
  CHECK_INT_EQ(cairn_cert_uri_count(p.leaf), 1);
  CHECK_INT_EQ(cairn_cert_dns_count(p.leaf), 2);
  CHECK_STR_EQ(cairn_cert_dns_at(p.leaf, 0), "web.example.org");
  CHECK_STR_EQ(cairn_cert_dns_at(p.leaf, 1), "*.svc.example.org");
  CHECK(cairn_cert_dns_at(p.leaf, 2) == NULL);
  CHECK_INT_EQ(cairn_cert_dns_count(p.root), 0);
  CHECK_STR_EQ(cairn_cert_permitted_td(p.inter), TD);
  CHECK(cairn_cert_permitted_td(p.root) == NULL);
  CHECK(cairn_cert_permitted_td(p.leaf) == NULL);

  /* Keys and key identifiers. */
  CHECK_OK(cairn_cert_public_key(p.leaf, &pub));
  CHECK_INT_EQ(cairn_key_public_equal(pub, p.lk), 1);
  CHECK_INT_EQ(cairn_key_has_private(pub), 0);
  CHECK_INT_EQ(cairn_cert_matches_key(p.leaf, p.lk), 1);
  CHECK_INT_EQ(cairn_cert_matches_key(p.leaf, p.ik), 0);
  CHECK_INT_EQ(cairn_cert_matches_key(p.root, p.rk), 1);
  CHECK_OK(cairn_key_id_sha1(p.lk, kid));
  a = cairn_cert_skid(p.leaf, &al);
  CHECK(a && al == 20 && memcmp(a, kid, 20) == 0);
  a = cairn_cert_akid(p.leaf, &al);
  b = cairn_cert_skid(p.inter, &bl);
  CHECK(a && b && al == bl && memcmp(a, b, al) == 0);
  a = cairn_cert_akid(p.root, &al);
  b = cairn_cert_skid(p.root, &bl);
  CHECK(a && b && al == bl && memcmp(a, b, al) == 0);

  /* Names: issuer DN byte-exact = issuer's subject DN. */
  a = cairn_cert_issuer_der(p.leaf, &al);
  b = cairn_cert_subject_der(p.inter, &bl);
  CHECK(al == bl && memcmp(a, b, al) == 0);
  a = cairn_cert_issuer_der(p.root, &al);
  b = cairn_cert_subject_der(p.root, &bl);
  CHECK(al == bl && memcmp(a, b, al) == 0);
  CHECK(der_has(p.leaf, "SPIFFE", 6));
  CHECK(der_has(p.leaf, "web.example.org", 15));

  /* Serial: 16 octets, positive, top bit clear. */
  CHECK_OK(cairn_cert_serial_hex(p.leaf, hex, sizeof hex));
  CHECK_INT_EQ(strlen(hex), 32);
  CHECK(strchr("01234567", hex[0]) != NULL);
  CHECK(hex[0] != '0' || hex[1] != '0');
  CHECK_ERR(cairn_cert_serial_hex(p.leaf, hex, 32), CAIRN_ERR_INVAL);

  /* The chain verifies, with and without td, both td spellings. */
  {
    const struct cairn_cert *ch[] = {p.leaf, p.inter}, *rt[] = {p.root};
    memset(&id, 0, sizeof id);
    CHECK_OK(verify(ch, 2, rt, 1, NULL, NOW, 0, &id));
    CHECK_STR_EQ(id.str, "spiffe://" TD "/ns/default/sa/web");
    CHECK_OK(verify(ch, 2, rt, 1, TD, NOW, 0, NULL));
    CHECK_OK(verify(ch, 2, rt, 1, "spiffe://" TD, NOW, 0, NULL));
    /* The intermediate as a CA "leaf". */
    CHECK_OK(verify(ch + 1, 1, rt, 1, TD, NOW, CAIRN_VERIFY_CA_LEAF, &id));
    CHECK_STR_EQ(id.str, "spiffe://" TD);
    /* A root verifies against itself in CA mode. */
    CHECK_OK(verify(rt, 1, rt, 1, TD, NOW, CAIRN_VERIFY_CA_LEAF, NULL));
    /* The root in the presented chain is harmless. */
    {
      const struct cairn_cert *ch3[] = {p.leaf, p.root, p.inter};
      CHECK_OK(verify(ch3, 3, rt, 1, TD, NOW, 0, NULL));
    }
    /* Missing intermediate. */
    CHECK_ERR(verify(ch, 1, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_UNTRUSTED);
    /* Wrong trust domain. */
    CHECK_ERR(verify(ch, 2, rt, 1, "other.org", NOW, 0, NULL),
              CAIRN_ERR_UNTRUSTED);
    CHECK_ERR(verify(ch, 2, rt, 1, "Bad TD", NOW, 0, NULL), CAIRN_ERR_INVAL);
    /* Leaf in CA mode, intermediate in leaf mode. */
    CHECK_ERR(verify(ch, 2, rt, 1, TD, NOW, CAIRN_VERIFY_CA_LEAF, NULL),
              CAIRN_ERR_POLICY);
    CHECK_ERR(verify(ch + 1, 1, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_POLICY);
    /* Unknown flags. */
    CHECK_ERR(verify(ch, 2, rt, 1, TD, NOW, 0x80, NULL), CAIRN_ERR_INVAL);
  }
out:
  cairn_key_free(pub);
  pki_free(&p);
}

static void test_chain_p256(void) { check_full_chain(CAIRN_KEY_EC_P256); }
static void test_chain_p384(void) { check_full_chain(CAIRN_KEY_EC_P384); }

/* A P-384 root signing a P-256 intermediate uses ECDSA-SHA384, and the
 * P-256 intermediate then signs with ECDSA-SHA256. */
static void test_mixed_curves(void)
{
  struct cairn_key *rk = gen(CAIRN_KEY_EC_P384), *ik = gen(CAIRN_KEY_EC_P256),
                   *lk = gen(CAIRN_KEY_EC_P384);
  struct cairn_cert *root, *inter, *leaf;
  const struct cairn_cert *ch[2], *rt[1];

  root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, NOW, DAY, rk, rk, NULL, NULL,
               -1);
  inter = issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, NOW, DAY, ik, rk,
                root, NULL, -1);
  leaf = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/a", NOW, 60, lk, ik, inter,
               NULL, -1);
  ch[0] = leaf;
  ch[1] = inter;
  rt[0] = root;
  if (leaf) CHECK_OK(verify(ch, 2, rt, 1, TD, NOW, 0, NULL));
  cairn_cert_free(root);
  cairn_cert_free(inter);
  cairn_cert_free(leaf);
  cairn_key_free(rk);
  cairn_key_free(ik);
  cairn_key_free(lk);
}

/* root -> region -> site -> leaf, intermediates in any order. */
static void test_three_deep(void)
{
  struct cairn_key *rk = gen(CAIRN_KEY_EC_P256), *gk = gen(CAIRN_KEY_EC_P256),
                   *sk = gen(CAIRN_KEY_EC_P384), *lk = gen(CAIRN_KEY_EC_P256);
  struct cairn_cert *root, *region, *site, *leaf;

  root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, NOW, 10 * DAY, rk, rk, NULL,
               NULL, 2);
  region = issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, NOW, 5 * DAY, gk,
                 rk, root, TD, 1);
  site = issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, NOW, 2 * DAY, sk, gk,
               region, NULL, -1);
  leaf = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/site/a/w", NOW, 3600, lk, sk,
               site, NULL, -1);
  if (!leaf) goto out;
  {
    const struct cairn_cert *a[] = {leaf, region, site};
    const struct cairn_cert *b[] = {leaf, site, region};
    const struct cairn_cert *c[] = {leaf, site};
    const struct cairn_cert *d[] = {site, region};
    const struct cairn_cert *rt[] = {root};
    struct cairn_id id;
    CHECK_OK(verify(a, 3, rt, 1, TD, NOW, 0, &id));
    CHECK_STR_EQ(id.str, "spiffe://" TD "/site/a/w");
    CHECK_OK(verify(b, 3, rt, 1, TD, NOW, 0, NULL));
    CHECK_ERR(verify(c, 2, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_UNTRUSTED);
    CHECK_OK(verify(d, 2, rt, 1, TD, NOW, CAIRN_VERIFY_CA_LEAF, NULL));
    /* The region CA can serve as the trust anchor too. */
    {
      const struct cairn_cert *rt2[] = {region};
      CHECK_OK(verify(c, 2, rt2, 1, TD, NOW, 0, NULL));
    }
    /* A second, unrelated root in the bundle does not disturb. */
    {
      struct cairn_key *ok = gen(CAIRN_KEY_EC_P256);
      struct cairn_cert *other = issue(CAIRN_CERT_ROOT, "spiffe://" TD, NOW,
                                       DAY, ok, ok, NULL, NULL, -1);
      const struct cairn_cert *rt3[] = {other, root};
      CHECK_OK(verify(a, 3, rt3, 2, TD, NOW, 0, NULL));
      CHECK_ERR(verify(a, 3, rt3, 1, TD, NOW, 0, NULL), CAIRN_ERR_UNTRUSTED);
      cairn_cert_free(other);
      cairn_key_free(ok);
    }
  }
  /* pathLenConstraint: the root allows 2 intermediates, so a third CA
   * below site cannot be issued by policy, and a crafted one fails. */
  {
    struct cairn_key *xk = gen(CAIRN_KEY_EC_P256), *yk = gen(CAIRN_KEY_EC_P256);
    struct cairn_cert *extra, *leaf2;
    struct cairn__cert_spec s;
    const char *td_uri[] = {"spiffe://" TD};
    const char *leaf_uri[] = {"spiffe://" TD "/deep"};
    ca_spec(&s, td_uri, NOW - 10, NOW + DAY);
    extra = craft(&s, xk, sk, site);
    leaf_spec(&s, leaf_uri, 1, NOW - 10, NOW + 60);
    leaf2 = craft(&s, yk, xk, extra);
    if (leaf2) {
      const struct cairn_cert *ch[] = {leaf2, extra, site, region};
      const struct cairn_cert *rt[] = {root};
      CHECK_ERR(verify(ch, 4, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_POLICY);
      /* Without the root's constraint (region as anchor, pathLen 1): the
       * path region -> site -> extra -> leaf has 2 below region. */
      {
        const struct cairn_cert *rt2[] = {region};
        CHECK_ERR(verify(ch, 3, rt2, 1, TD, NOW, 0, NULL), CAIRN_ERR_POLICY);
        /* site has no constraint: as an anchor it accepts the path. */
        const struct cairn_cert *rt3[] = {site};
        CHECK_OK(verify(ch, 2, rt3, 1, TD, NOW, 0, NULL));
      }
    }
    cairn_cert_free(extra);
    cairn_cert_free(leaf2);
    cairn_key_free(xk);
    cairn_key_free(yk);
  }
out:
  cairn_cert_free(root);
  cairn_cert_free(region);
  cairn_cert_free(site);
  cairn_cert_free(leaf);
  cairn_key_free(rk);
  cairn_key_free(gk);
  cairn_key_free(sk);
  cairn_key_free(lk);
}

/* An intermediate signed by another root with the very same DN (all our
 * CAs are O=SPIFFE) must not chain to the trusted root. */
static void test_rogue_intermediate(void)
{
  struct pki good, evil;
  struct cairn_cert *forged = NULL, *forged_leaf = NULL;
  struct cairn_key *fk = gen(CAIRN_KEY_EC_P256), *flk = gen(CAIRN_KEY_EC_P256);
  const uint8_t *a, *b;
  size_t al, bl;

  pki_make(&good, CAIRN_KEY_EC_P256, NOW);
  pki_make(&evil, CAIRN_KEY_EC_P256, NOW);
  if (!good.leaf || !evil.leaf) goto out;
  a = cairn_cert_subject_der(good.root, &al);
  b = cairn_cert_subject_der(evil.root, &bl);
  CHECK(al == bl && memcmp(a, b, al) == 0); /* same DN */
  {
    const struct cairn_cert *ch[] = {evil.leaf, evil.inter};
    const struct cairn_cert *rt[] = {good.root};
    CHECK_ERR(verify(ch, 2, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_UNTRUSTED);
  }
  /* Forged AKID pointing at the good root: only the signature check can
   * tell, and it does. */
  {
    struct cairn__cert_spec s;
    const char *td_uri[] = {"spiffe://" TD};
    const char *leaf_uri[] = {"spiffe://" TD "/admin"};
    a = cairn_cert_skid(good.root, &al);
    ca_spec(&s, td_uri, NOW - 10, NOW + DAY);
    s.akid = a;
    s.akid_len = al;
    forged = craft(&s, fk, evil.rk, evil.root);
    leaf_spec(&s, leaf_uri, 1, NOW - 10, NOW + 60);
    forged_leaf = craft(&s, flk, fk, forged);
    if (forged_leaf) {
      const struct cairn_cert *ch[] = {forged_leaf, forged};
      const struct cairn_cert *rt[] = {good.root};
      CHECK_ERR(verify(ch, 2, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_VERIFY);
      /* Even if the evil root is in the presented chain. */
      const struct cairn_cert *ch2[] = {forged_leaf, forged, evil.root};
      CHECK(verify(ch2, 3, rt, 1, TD, NOW, 0, NULL) != CAIRN_OK);
    }
  }
  /* A rogue twin of the good intermediate (same DN, same SKID, other key)
   * listed first does not prevent finding the real one. */
  {
    struct cairn__cert_spec s;
    const char *td_uri[] = {"spiffe://" TD};
    struct cairn_cert *twin;
    struct cairn_key *tk = gen(CAIRN_KEY_EC_P256);
    a = cairn_cert_skid(good.inter, &al);
    ca_spec(&s, td_uri, NOW - 10, NOW + DAY);
    s.skid = a;
    s.skid_len = al;
    twin = craft(&s, tk, evil.rk, evil.root);
    if (twin) {
      const struct cairn_cert *ch[] = {good.leaf, twin, good.inter};
      const struct cairn_cert *ch2[] = {good.leaf, twin};
      const struct cairn_cert *rt[] = {good.root};
      CHECK_OK(verify(ch, 3, rt, 1, TD, NOW, 0, NULL));
      CHECK_ERR(verify(ch2, 2, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_VERIFY);
    }
    cairn_cert_free(twin);
    cairn_key_free(tk);
  }
out:
  cairn_cert_free(forged);
  cairn_cert_free(forged_leaf);
  cairn_key_free(fk);
  cairn_key_free(flk);
  pki_free(&good);
  pki_free(&evil);
}

/* A leaf used as an issuer: refused at issuance, rejected at verify. */
static void test_signed_by_non_ca(void)
{
  struct pki p;
  struct cairn_key *k2 = gen(CAIRN_KEY_EC_P256);
  struct cairn_cert *bad = NULL;

  pki_make(&p, CAIRN_KEY_EC_P256, NOW);
  if (!p.leaf) goto out;
  CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://" TD "/b", NOW, 60, k2, p.lk,
                      p.leaf),
            CAIRN_ERR_POLICY);
  {
    struct cairn__cert_spec s;
    const char *uri[] = {"spiffe://" TD "/b"};
    leaf_spec(&s, uri, 1, NOW - 10, NOW + 60);
    bad = craft(&s, k2, p.lk, p.leaf);
  }
  if (bad) {
    const struct cairn_cert *ch[] = {bad, p.leaf, p.inter};
    const struct cairn_cert *rt[] = {p.root};
    CHECK_ERR(verify(ch, 3, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_POLICY);
    CHECK(strstr(cairn_errdetail(), "not a CA") != NULL);
  }
  /* A CA:TRUE issuer without keyCertSign. */
  {
    struct cairn__cert_spec s;
    const char *td_uri[] = {"spiffe://" TD};
    const char *uri[] = {"spiffe://" TD "/c"};
    struct cairn_key *ck = gen(CAIRN_KEY_EC_P256);
    struct cairn_cert *ca, *leaf;
    ca_spec(&s, td_uri, NOW - 10, NOW + DAY);
    s.key_usage = CAIRN_KU_CRL_SIGN;
    ca = craft(&s, ck, p.ik, p.inter);
    leaf_spec(&s, uri, 1, NOW - 10, NOW + 60);
    leaf = craft(&s, k2, ck, ca);
    if (leaf) {
      const struct cairn_cert *ch[] = {leaf, ca, p.inter};
      const struct cairn_cert *rt[] = {p.root};
      CHECK_ERR(verify(ch, 3, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_POLICY);
      CHECK(strstr(cairn_errdetail(), "keyCertSign") != NULL);
      CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://" TD "/d", NOW, 60, k2,
                          ck, ca),
                CAIRN_ERR_POLICY);
    }
    cairn_cert_free(ca);
    cairn_cert_free(leaf);
    cairn_key_free(ck);
  }
out:
  cairn_cert_free(bad);
  cairn_key_free(k2);
  pki_free(&p);
}

static void test_validity(void)
{
  struct pki p;
  struct cairn_key *k = gen(CAIRN_KEY_EC_P256), *k2 = gen(CAIRN_KEY_EC_P256);
  const char *uri[] = {"spiffe://" TD "/v"};
  const char *td_uri[] = {"spiffe://" TD};
  struct cairn__cert_spec s;
  struct cairn_cert *c = NULL, *ca = NULL, *leaf2 = NULL;

  pki_make(&p, CAIRN_KEY_EC_P256, NOW);
  if (!p.leaf) goto out;
  {
    const struct cairn_cert *ch[] = {p.leaf, p.inter}, *rt[] = {p.root};
    time_t nb = cairn_cert_not_before(p.leaf), na = cairn_cert_not_after(p.leaf);
    /* No skew tolerance beyond what the caller passes. */
    CHECK_OK(verify(ch, 2, rt, 1, TD, nb, 0, NULL));
    CHECK_ERR(verify(ch, 2, rt, 1, TD, nb - 1, 0, NULL),
              CAIRN_ERR_NOT_YET_VALID);
    CHECK_OK(verify(ch, 2, rt, 1, TD, na, 0, NULL));
    CHECK_ERR(verify(ch, 2, rt, 1, TD, na + 1, 0, NULL), CAIRN_ERR_EXPIRED);
  }
  /* Expired leaf under valid CAs. */
  leaf_spec(&s, uri, 1, NOW - 7200, NOW - 3600);
  c = craft(&s, k, p.ik, p.inter);
  if (c) {
    const struct cairn_cert *ch[] = {c, p.inter}, *rt[] = {p.root};
    CHECK_ERR(verify(ch, 2, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_EXPIRED);
  }
  cairn_cert_free(c);
  /* Not-yet-valid leaf. */
  leaf_spec(&s, uri, 1, NOW + 60, NOW + 3600);
  c = craft(&s, k, p.ik, p.inter);
  if (c) {
    const struct cairn_cert *ch[] = {c, p.inter}, *rt[] = {p.root};
    CHECK_ERR(verify(ch, 2, rt, 1, TD, NOW, 0, NULL),
              CAIRN_ERR_NOT_YET_VALID);
  }
  /* Expired and not-yet-valid intermediates with a valid leaf. */
  for (int i = 0; i < 2; i++) {
    ca_spec(&s, td_uri, i ? NOW + 100 : NOW - 2 * DAY,
            i ? NOW + DAY : NOW - DAY);
    ca = craft(&s, k2, p.rk, p.root);
    leaf_spec(&s, uri, 1, NOW - 10, NOW + 60);
    leaf2 = craft(&s, k, k2, ca);
    if (leaf2) {
      const struct cairn_cert *ch[] = {leaf2, ca}, *rt[] = {p.root};
      CHECK_ERR(verify(ch, 2, rt, 1, TD, NOW, 0, NULL),
                i ? CAIRN_ERR_NOT_YET_VALID : CAIRN_ERR_EXPIRED);
      CHECK(strstr(cairn_errdetail(), "intermediate") != NULL);
    }
    cairn_cert_free(ca);
    cairn_cert_free(leaf2);
    ca = leaf2 = NULL;
  }
  /* An expired root is rejected too. */
  {
    const struct cairn_cert *ch[] = {p.leaf, p.inter}, *rt[] = {p.root};
    struct cairn_cert *old;
    ca_spec(&s, td_uri, NOW - 30 * DAY, NOW - DAY);
    s.skid = cairn_cert_skid(p.root, &s.skid_len);
    old = craft(&s, p.rk, p.rk, NULL);
    rt[0] = old;
    if (old)
      CHECK_ERR(verify(ch, 2, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_EXPIRED);
    /* An expired and a valid root with the same key: the valid one wins. */
    {
      const struct cairn_cert *rt2[] = {old, p.root};
      if (old) CHECK_OK(verify(ch, 2, rt2, 2, TD, NOW, 0, NULL));
    }
    cairn_cert_free(old);
  }
out:
  cairn_cert_free(c);
  cairn_key_free(k);
  cairn_key_free(k2);
  pki_free(&p);
}

/* notAfter capped at the issuer's; notBefore backdated. */
static void test_validity_capping(void)
{
  struct cairn_key *rk = gen(CAIRN_KEY_EC_P256), *ik = gen(CAIRN_KEY_EC_P256),
                   *lk = gen(CAIRN_KEY_EC_P256);
  struct cairn_cert *root, *inter, *leaf, *leaf2;

  root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, NOW, DAY, rk, rk, NULL, NULL,
               -1);
  inter = issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, NOW + 100, 10 * DAY,
                ik, rk, root, NULL, -1);
  leaf = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/x", NOW + 200, 30 * DAY, lk,
               ik, inter, NULL, -1);
  if (leaf) {
    CHECK_INT_EQ(cairn_cert_not_after(inter), NOW + DAY);
    CHECK_INT_EQ(cairn_cert_not_after(leaf), NOW + DAY);
    CHECK_INT_EQ(cairn_cert_not_before(inter), NOW + 100 - 10);
    CHECK_INT_EQ(cairn_cert_not_before(leaf), NOW + 200 - 10);
  }
  /* notBefore is never earlier than the issuer's. */
  leaf2 = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/y", NOW + 95, 60, lk, ik,
                inter, NULL, -1);
  if (leaf2) CHECK_INT_EQ(cairn_cert_not_before(leaf2), NOW + 90);
  /* now == 0 uses cairn_now(). */
  cairn_time_set_fake(NOW + 300);
  {
    struct cairn_cert *l3 = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/z", 0, 60,
                                  lk, ik, inter, NULL, -1);
    if (l3) CHECK_INT_EQ(cairn_cert_not_before(l3), NOW + 290);
    cairn_cert_free(l3);
  }
  cairn_time_set_fake(0);
  cairn_cert_free(root);
  cairn_cert_free(inter);
  cairn_cert_free(leaf);
  cairn_cert_free(leaf2);
  cairn_key_free(rk);
  cairn_key_free(ik);
  cairn_key_free(lk);
}

/* UTCTime before 2050, GeneralizedTime from 2050. */
static void test_generalized_time(void)
{
  struct cairn_key *rk = gen(CAIRN_KEY_EC_P256);
  time_t t2049 = 2524607990; /* 2049-12-31T23:59:50Z */
  struct cairn_cert *a = issue(CAIRN_CERT_ROOT, "spiffe://" TD, t2049, 5, rk,
                               rk, NULL, NULL, -1);
  struct cairn_cert *b = issue(CAIRN_CERT_ROOT, "spiffe://" TD, t2049, 20, rk,
                               rk, NULL, NULL, -1);
  struct cairn_cert *c = issue(CAIRN_CERT_ROOT, "spiffe://" TD, 1000000000,
                               40LL * 365 * DAY, rk, rk, NULL, NULL, -1);
  if (a && b && c) {
    CHECK(der_has(a, "\x17\x0d" "491231235940Z", 15));
    CHECK(der_has(a, "\x17\x0d" "491231235955Z", 15));
    CHECK(der_has(b, "\x18\x0f" "20500101000010Z", 17));
    CHECK_INT_EQ(cairn_cert_not_after(b), t2049 + 20);
    CHECK_INT_EQ(cairn_cert_not_before(c), 1000000000 - 10);
    CHECK_INT_EQ(cairn_cert_not_after(c), 1000000000 + 40LL * 365 * DAY);
    CHECK(der_has(c, "\x17\x0d" "010909014630Z", 15));
  }
  cairn_cert_free(a);
  cairn_cert_free(b);
  cairn_cert_free(c);
  cairn_key_free(rk);
}

static void test_name_constraints(void)
{
  struct pki p;
  struct cairn_key *k = gen(CAIRN_KEY_EC_P256);
  struct cairn_cert *c = NULL;
  struct cairn__cert_spec s;
  const char *evil[] = {"spiffe://evil.org/x"};

  pki_make(&p, CAIRN_KEY_EC_P256, NOW);
  if (!p.leaf) goto out;
  /* Policy refuses to issue outside the issuer's trust domain. */
  CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://evil.org/x", NOW, 60, k,
                      p.ik, p.inter),
            CAIRN_ERR_POLICY);
  /* A crafted leaf outside the NameConstraints of the intermediate. */
  leaf_spec(&s, evil, 1, NOW - 10, NOW + 60);
  c = craft(&s, k, p.ik, p.inter);
  if (c) {
    const struct cairn_cert *ch[] = {c, p.inter}, *rt[] = {p.root};
    CHECK_ERR(verify(ch, 2, rt, 1, NULL, NOW, 0, NULL), CAIRN_ERR_POLICY);
    CHECK(strstr(cairn_errdetail(), "NameConstraints") != NULL);
  }
  cairn_cert_free(c);
  c = NULL;
  /* NameConstraints on a root apply as well, and a CA outside of them
   * cannot be issued. */
  {
    struct cairn_key *rk = gen(CAIRN_KEY_EC_P256), *ik = gen(CAIRN_KEY_EC_P256);
    struct cairn_cert *root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, NOW, DAY,
                                    rk, rk, NULL, TD, -1);
    const char *other_td[] = {"spiffe://evil.org"};
    struct cairn_cert *inter = NULL, *leaf = NULL;
    CHECK_ERR(issue_err(CAIRN_CERT_INTERMEDIATE, "spiffe://evil.org", NOW, 60,
                        ik, rk, root),
              CAIRN_ERR_POLICY);
    ca_spec(&s, other_td, NOW - 10, NOW + DAY);
    inter = craft(&s, ik, rk, root);
    leaf_spec(&s, evil, 1, NOW - 10, NOW + 60);
    leaf = craft(&s, k, ik, inter);
    if (leaf) {
      const struct cairn_cert *ch[] = {leaf, inter}, *rt[] = {root};
      CHECK_ERR(verify(ch, 2, rt, 1, NULL, NOW, 0, NULL), CAIRN_ERR_POLICY);
    }
    cairn_cert_free(root);
    cairn_cert_free(inter);
    cairn_cert_free(leaf);
    cairn_key_free(rk);
    cairn_key_free(ik);
  }
  /* Excluded subtrees, DNS subtrees and unsupported forms, spliced in as
   * raw extensions on a crafted intermediate. */
  {
    /* NC { excluded [1] { { uri "example.org" } } } */
    static const uint8_t nc_excl[] = {
        0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x1e, 0x01, 0x01, 0xff,
        0x04, 0x13, 0x30, 0x11, 0xa1, 0x0f, 0x30, 0x0d, 0x86, 0x0b,
        'e',  'x',  'a',  'm',  'p',  'l',  'e',  '.',  'o',  'r',  'g'};
    /* NC { permitted [0] { { dns ".example.org" } } } */
    static const uint8_t nc_dns[] = {
        0x30, 0x1e, 0x06, 0x03, 0x55, 0x1d, 0x1e, 0x01, 0x01, 0xff, 0x04,
        0x14, 0x30, 0x12, 0xa0, 0x10, 0x30, 0x0e, 0x82, 0x0c, '.',  'e',
        'x',  'a',  'm',  'p',  'l',  'e',  '.',  'o',  'r',  'g'};
    /* NC { permitted [0] { { iPAddress 10.0.0.0/8 } } } */
    static const uint8_t nc_ip[] = {0x30, 0x1a, 0x06, 0x03, 0x55, 0x1d,
                                    0x1e, 0x01, 0x01, 0xff, 0x04, 0x10,
                                    0x30, 0x0e, 0xa0, 0x0c, 0x30, 0x0a,
                                    0x87, 0x08, 10,   0,    0,    0,
                                    255,  0,    0,    0};
    /* An unknown critical extension (1.2.3.4). */
    static const uint8_t crit_unknown[] = {0x30, 0x0c, 0x06, 0x03, 0x2a,
                                           0x03, 0x04, 0x01, 0x01, 0xff,
                                           0x04, 0x02, 0x05, 0x00};
    static const struct {
      const uint8_t *ext;
      size_t len;
      int want_plain, want_dns;
    } cases[] = {
        {nc_excl, sizeof nc_excl, CAIRN_ERR_POLICY, CAIRN_ERR_POLICY},
        {nc_dns, sizeof nc_dns, CAIRN_OK, CAIRN_ERR_POLICY},
        {nc_ip, sizeof nc_ip, CAIRN_ERR_POLICY, CAIRN_ERR_POLICY},
        {crit_unknown, sizeof crit_unknown, CAIRN_ERR_POLICY,
         CAIRN_ERR_POLICY},
    };
    const char *td_uri[] = {"spiffe://" TD};
    const char *ok[] = {"spiffe://" TD "/ok"};
    const char *dns_in[] = {"a.example.org"}, *dns_out[] = {"a.example.com"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      struct cairn_key *ik = gen(CAIRN_KEY_EC_P256);
      struct cairn_cert *inter, *l1, *l2, *l3;
      ca_spec(&s, td_uri, NOW - 10, NOW + DAY);
      s.extra_ext = cases[i].ext;
      s.extra_ext_len = cases[i].len;
      inter = craft(&s, ik, p.rk, p.root);
      leaf_spec(&s, ok, 1, NOW - 10, NOW + 60);
      l1 = craft(&s, k, ik, inter);
      s.dns = dns_out;
      s.n_dns = 1;
      l2 = craft(&s, k, ik, inter);
      s.dns = dns_in;
      l3 = craft(&s, k, ik, inter);
      if (l1 && l2 && l3) {
        const struct cairn_cert *rt[] = {p.root};
        const struct cairn_cert *c1[] = {l1, inter}, *c2[] = {l2, inter},
                                *c3[] = {l3, inter};
        CHECK_ERR(verify(c1, 2, rt, 1, TD, NOW, 0, NULL), cases[i].want_plain);
        CHECK_ERR(verify(c2, 2, rt, 1, TD, NOW, 0, NULL), cases[i].want_dns);
        CHECK_ERR(verify(c3, 2, rt, 1, TD, NOW, 0, NULL), cases[i].want_plain);
      }
      cairn_cert_free(inter);
      cairn_cert_free(l1);
      cairn_cert_free(l2);
      cairn_cert_free(l3);
      cairn_key_free(ik);
    }
  }
out:
  cairn_key_free(k);
  pki_free(&p);
}

/* X509-SVID leaf rules on crafted leaves. */
static void test_leaf_rules(void)
{
  struct pki p;
  struct cairn_key *k = gen(CAIRN_KEY_EC_P256);
  struct cairn__cert_spec s;
  struct cairn_id id;

  pki_make(&p, CAIRN_KEY_EC_P256, NOW);
  if (!p.leaf) goto out;
  {
    const char *two[] = {"spiffe://" TD "/a", "spiffe://" TD "/b"};
    const char *nopath[] = {"spiffe://" TD};
    const char *notid[] = {"https://" TD "/a"};
    static const struct {
      int n_uri, uri_set, is_ca;
      unsigned ku;
      int spiffe_err;
      const char *detail;
    } cases[] = {
        {2, 0, 0, CAIRN_KU_DIGITAL_SIGNATURE, CAIRN_ERR_POLICY, "URI SANs"},
        {1, 1, 0, CAIRN_KU_DIGITAL_SIGNATURE, CAIRN_OK, "no path"},
        {1, 2, 0, CAIRN_KU_DIGITAL_SIGNATURE, CAIRN_ERR_POLICY, "SPIFFE ID"},
        {0, 0, 0, CAIRN_KU_DIGITAL_SIGNATURE, CAIRN_ERR_NOT_FOUND, "no URI"},
        {1, 0, 1, CAIRN_KU_DIGITAL_SIGNATURE, CAIRN_OK, "is a CA"},
        {1, 0, 0, CAIRN_KU_KEY_ENCIPHERMENT, CAIRN_OK, "digitalSignature"},
        {1, 0, 0, CAIRN_KU_DIGITAL_SIGNATURE | CAIRN_KU_CRL_SIGN, CAIRN_OK,
         "cRLSign"},
        {1, 0, 0, 0, CAIRN_OK, "digitalSignature"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      const char *const *uris =
          cases[i].uri_set == 1 ? nopath : cases[i].uri_set == 2 ? notid : two;
      struct cairn_cert *c;
      leaf_spec(&s, uris, (size_t)cases[i].n_uri, NOW - 10, NOW + 60);
      s.is_ca = cases[i].is_ca;
      s.key_usage = cases[i].ku;
      c = craft(&s, k, p.ik, p.inter);
      if (!c) continue;
      CHECK_ERR(cairn_cert_spiffe_id(c, &id), cases[i].spiffe_err);
      CHECK_INT_EQ(cairn_cert_uri_count(c), cases[i].n_uri);
      {
        const struct cairn_cert *ch[] = {c, p.inter}, *rt[] = {p.root};
        CHECK_ERR(verify(ch, 2, rt, 1, TD, NOW, 0, NULL), CAIRN_ERR_POLICY);
        if (!strstr(cairn_errdetail(), cases[i].detail))
          test_fail(__FILE__, __LINE__, "case %zu: detail '%s' lacks '%s'", i,
                    cairn_errdetail(), cases[i].detail);
      }
      cairn_cert_free(c);
    }
  }
  /* Issuance refuses a leaf without a path and a CA with one. */
  CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://" TD, NOW, 60, k, p.ik,
                      p.inter),
            CAIRN_ERR_POLICY);
  CHECK_ERR(issue_err(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD "/ca", NOW, 60,
                      k, p.ik, p.inter),
            CAIRN_ERR_POLICY);
  CHECK_ERR(issue_err(CAIRN_CERT_ROOT, "spiffe://" TD "/ca", NOW, 60, k, k,
                      NULL),
            CAIRN_ERR_POLICY);
out:
  cairn_key_free(k);
  pki_free(&p);
}

static void test_issue_policy(void)
{
  struct pki p;
  struct cairn_key *k = gen(CAIRN_KEY_EC_P256), *pub = NULL;
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;

  pki_make(&p, CAIRN_KEY_EC_P256, NOW);
  if (!p.leaf) goto out;
  /* ttl <= 0. */
  CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://" TD "/a", NOW, 0, k, p.ik,
                      p.inter),
            CAIRN_ERR_POLICY);
  CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://" TD "/a", NOW, -5, k, p.ik,
                      p.inter),
            CAIRN_ERR_POLICY);
  /* Expired / not yet valid issuer. */
  CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://" TD "/a", NOW + 3 * DAY, 60,
                      k, p.ik, p.inter),
            CAIRN_ERR_POLICY);
  CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://" TD "/a", NOW - 100, 60, k,
                      p.ik, p.inter),
            CAIRN_ERR_POLICY);
  /* Root whose key is not the subject's. */
  CHECK_ERR(issue_err(CAIRN_CERT_ROOT, "spiffe://" TD, NOW, 60, k, p.rk,
                      NULL),
            CAIRN_ERR_POLICY);
  /* Root with a public-only signing key, or with an issuer cert. */
  CHECK_OK(cairn_key_public(k, &pub));
  CHECK_ERR(issue_err(CAIRN_CERT_ROOT, "spiffe://" TD, NOW, 60, k, pub, NULL),
            CAIRN_ERR_INVAL);
  CHECK_ERR(issue_err(CAIRN_CERT_ROOT, "spiffe://" TD, NOW, 60, k, k, p.root),
            CAIRN_ERR_INVAL);
  CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://" TD "/a", NOW, 60, k, p.ik,
                      NULL),
            CAIRN_ERR_INVAL);
  /* Issuer key not matching the issuer certificate. */
  CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://" TD "/a", NOW, 60, k, p.rk,
                      p.inter),
            CAIRN_ERR_POLICY);
  /* pathLenConstraint 0 issuer cannot issue a CA. */
  CHECK_ERR(issue_err(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, NOW, 60, k,
                      p.ik, p.inter),
            CAIRN_ERR_POLICY);
  /* Bad IDs, kinds and names. */
  CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://" TD "/a/", NOW, 60, k,
                      p.ik, p.inter),
            CAIRN_ERR_INVAL);
  CHECK_ERR(issue_err((enum cairn_cert_kind)9, "spiffe://" TD "/a", NOW, 60,
                      k, p.ik, p.inter),
            CAIRN_ERR_INVAL);
  /* Trust domain mismatch between issuer and leaf. */
  CHECK_ERR(issue_err(CAIRN_CERT_LEAF, "spiffe://other.org/a", NOW, 60, k,
                      p.ik, p.inter),
            CAIRN_ERR_POLICY);
  memset(&t, 0, sizeof t);
  t.kind = CAIRN_CERT_LEAF;
  t.spiffe_id = "spiffe://" TD "/a";
  t.now = NOW;
  t.ttl = 60;
  {
    const char *bad_dns[] = {"bad..name"};
    t.dns_names = bad_dns;
    t.n_dns = 1;
    CHECK_ERR(cairn_cert_issue(&t, k, p.ik, p.inter, &c), CAIRN_ERR_INVAL);
    CHECK(c == NULL);
  }
  t.dns_names = NULL;
  t.n_dns = 0;
  t.common_name = "0123456789012345678901234567890123456789012345678901234567"
                  "89012345";
  CHECK_ERR(cairn_cert_issue(&t, k, p.ik, p.inter, &c), CAIRN_ERR_INVAL);
  t.common_name = NULL;
  t.permitted_td = TD;
  CHECK_ERR(cairn_cert_issue(&t, k, p.ik, p.inter, &c), CAIRN_ERR_INVAL);
  /* A CA whose NameConstraints exclude its own trust domain. */
  t.kind = CAIRN_CERT_ROOT;
  t.spiffe_id = "spiffe://" TD;
  t.permitted_td = "other.org";
  CHECK_ERR(cairn_cert_issue(&t, k, k, NULL, &c), CAIRN_ERR_POLICY);
  t.permitted_td = "Not Valid";
  CHECK_ERR(cairn_cert_issue(&t, k, k, NULL, &c), CAIRN_ERR_INVAL);
  t.permitted_td = NULL;
  t.ttl = (int64_t)1 << 60;
  CHECK_ERR(cairn_cert_issue(&t, k, k, NULL, &c), CAIRN_ERR_INVAL);
  CHECK(c == NULL);
  CHECK_ERR(cairn_cert_issue(NULL, k, k, NULL, &c), CAIRN_ERR_INVAL);
out:
  cairn_key_free(k);
  cairn_key_free(pub);
  pki_free(&p);
}

static void test_serials(void)
{
  struct cairn_key *rk = gen(CAIRN_KEY_EC_P256);
  char seen[40][41];

  for (int i = 0; i < 40; i++) {
    struct cairn_cert *c = issue(CAIRN_CERT_ROOT, "spiffe://" TD, NOW, 60, rk,
                                 rk, NULL, NULL, -1);
    if (!c) break;
    CHECK_OK(cairn_cert_serial_hex(c, seen[i], sizeof seen[i]));
    CHECK_INT_EQ(strlen(seen[i]), 32);
    CHECK(seen[i][0] >= '0' && seen[i][0] <= '7'); /* top bit clear */
    CHECK(strncmp(seen[i], "00", 2) != 0);        /* non-zero first octet */
    for (int j = 0; j < i; j++) CHECK(strcmp(seen[i], seen[j]) != 0);
    cairn_cert_free(c);
  }
  cairn_key_free(rk);
}

static void test_parse_errors(void)
{
  struct pki p;
  struct cairn_cert *c = (struct cairn_cert *)1;
  struct cairn_cert_list *l = (struct cairn_cert_list *)1;
  const uint8_t *der;
  size_t len;
  uint8_t *buf = NULL;
  static const uint8_t garbage[] = "this is not a certificate at all";

  pki_make(&p, CAIRN_KEY_EC_P256, NOW);
  if (!p.leaf) goto out;
  der = cairn_cert_der(p.leaf, &len);
  CHECK_ERR(cairn_cert_parse_der(garbage, sizeof garbage, &c),
            CAIRN_ERR_PARSE);
  CHECK(c == NULL);
  CHECK_ERR(cairn_cert_parse_der(der, 0, &c), CAIRN_ERR_PARSE);
  /* Every truncation fails cleanly. */
  for (size_t n = 1; n < len; n++) {
    c = NULL;
    if (cairn_cert_parse_der(der, n, &c) != CAIRN_ERR_PARSE) {
      test_fail(__FILE__, __LINE__, "truncated to %zu parsed", n);
      break;
    }
  }
  /* Trailing data. */
  buf = malloc(len + 1);
  memcpy(buf, der, len);
  buf[len] = 0;
  CHECK_ERR(cairn_cert_parse_der(buf, len + 1, &c), CAIRN_ERR_PARSE);
  /* Every single-byte flip either fails to parse or parses into a
   * certificate whose chain no longer verifies (the signature covers
   * everything that matters). */
  for (size_t i = 0; i < len; i += 7) {
    struct cairn_cert *m = NULL;
    memcpy(buf, der, len);
    buf[i] ^= 0x01;
    if (cairn_cert_parse_der(buf, len, &m) == CAIRN_OK) {
      const struct cairn_cert *ch[] = {m, p.inter}, *rt[] = {p.root};
      if (verify(ch, 2, rt, 1, TD, NOW, 0, NULL) == CAIRN_OK)
        test_fail(__FILE__, __LINE__, "flip at %zu still verifies", i);
      cairn_cert_free(m);
    }
  }
  {
    uint8_t *big = calloc(1, CAIRN_CERT_MAX + 1);
    CHECK_ERR(cairn_cert_parse_der(big, CAIRN_CERT_MAX + 1, &c),
              CAIRN_ERR_TOO_BIG);
    free(big);
  }
  /* Lists. */
  CHECK_ERR(cairn_cert_list_parse_der(garbage, sizeof garbage, &l),
            CAIRN_ERR_PARSE);
  CHECK(l == NULL);
  CHECK_ERR(cairn_cert_list_parse_der(der, 0, &l), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_cert_list_parse_der(der, len - 1, &l), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_cert_list_parse_pem("nothing here", 12, &l),
            CAIRN_ERR_PARSE);
  {
    static const char key[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n"
                              "-----END PUBLIC KEY-----\n";
    CHECK_ERR(cairn_cert_list_parse_pem(key, strlen(key), &l),
              CAIRN_ERR_PARSE);
    static const char badb64[] = "-----BEGIN CERTIFICATE-----\nA!A\n"
                                 "-----END CERTIFICATE-----\n";
    CHECK_ERR(cairn_cert_list_parse_pem(badb64, strlen(badb64), &l),
              CAIRN_ERR_PARSE);
  }
  /* Empty chain and missing roots. */
  {
    struct cairn_cert_list *empty = NULL, *roots = NULL;
    const struct cairn_cert *rt[] = {p.root};
    CHECK_OK(cairn_cert_list_new(&empty));
    roots = list_of(rt, 1);
    CHECK_ERR(cairn_cert_verify(empty, roots, TD, NOW, 0, NULL),
              CAIRN_ERR_INVAL);
    CHECK_ERR(cairn_cert_verify(NULL, roots, TD, NOW, 0, NULL),
              CAIRN_ERR_INVAL);
    CHECK_ERR(cairn_cert_verify(roots, empty, TD, NOW, 0, NULL),
              CAIRN_ERR_UNTRUSTED);
    cairn_cert_list_free(empty);
    cairn_cert_list_free(roots);
  }
out:
  free(buf);
  pki_free(&p);
}

static void test_lists(void)
{
  struct pki p;
  struct cairn_cert_list *l = NULL, *l2 = NULL, *l3 = NULL;
  struct cairn_cert *d = NULL;
  char *pem = NULL, *pem1 = NULL;
  size_t pemlen = 0, n;
  uint8_t *cat = NULL;

  pki_make(&p, CAIRN_KEY_EC_P384, NOW);
  if (!p.leaf) goto out;
  {
    const struct cairn_cert *v[] = {p.leaf, p.inter, p.root};
    l = list_of(v, 3);
  }
  CHECK_INT_EQ(cairn_cert_list_count(l), 3);
  CHECK(cairn_cert_equal(cairn_cert_list_at(l, 0), p.leaf));
  CHECK(!cairn_cert_equal(cairn_cert_list_at(l, 1), p.leaf));
  CHECK(cairn_cert_list_at(l, 3) == NULL);
  CHECK_OK(cairn_cert_list_to_pem(l, &pem, &pemlen));
  CHECK_INT_EQ(strlen(pem), pemlen);
  /* Text around and between blocks is ignored. */
  {
    size_t tl = pemlen + 64;
    char *txt = malloc(tl);
    int k = snprintf(txt, tl, "subject=whatever\n%s", pem);
    CHECK_OK(cairn_cert_list_parse_pem(txt, (size_t)k, &l2));
    free(txt);
  }
  CHECK_INT_EQ(cairn_cert_list_count(l2), 3);
  for (size_t i = 0; i < 3 && l2; i++)
    CHECK(cairn_cert_equal(cairn_cert_list_at(l, i),
                           cairn_cert_list_at(l2, i)));
  /* Concatenated DER. */
  {
    size_t off = 0;
    cat = malloc(3 * CAIRN_CERT_MAX);
    for (size_t i = 0; i < 3; i++) {
      const uint8_t *der = cairn_cert_der(cairn_cert_list_at(l, i), &n);
      memcpy(cat + off, der, n);
      off += n;
    }
    CHECK_OK(cairn_cert_list_parse_der(cat, off, &l3));
    CHECK_INT_EQ(cairn_cert_list_count(l3), 3);
    CHECK(cairn_cert_equal(cairn_cert_list_at(l3, 2), p.root));
    /* ... and back: the same bytes; nothing gives an empty buffer. */
    {
      uint8_t *back = NULL;
      size_t blen = 0;
      CHECK_OK(cairn_cert_list_to_der(l3, &back, &blen));
      CHECK_INT_EQ(blen, off);
      CHECK(back && memcmp(back, cat, off) == 0);
      free(back);
      back = NULL;
      CHECK_OK(cairn_cert_list_to_der(NULL, &back, &blen));
      CHECK(back != NULL);
      CHECK_INT_EQ(blen, 0);
      free(back);
      CHECK_ERR(cairn_cert_list_to_der(l3, NULL, &blen), CAIRN_ERR_INVAL);
    }
  }
  /* Single PEM, dup. */
  CHECK_OK(cairn_cert_to_pem(p.inter, &pem1, &n));
  CHECK(strncmp(pem1, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
  CHECK_OK(cairn_cert_dup(p.inter, &d));
  CHECK(cairn_cert_equal(d, p.inter));
  CHECK_STR_EQ(cairn_cert_permitted_td(d), TD);
  CHECK_OK(cairn_cert_list_push(l, d));
  d = NULL; /* owned by l */
  CHECK_INT_EQ(cairn_cert_list_count(l), 4);
  CHECK_ERR(cairn_cert_list_push(l, NULL), CAIRN_ERR_INVAL);
  /* Too many certificates in one PEM text. */
  {
    size_t max = CAIRN_CERT_CHAIN_MAX * 4 + 1, tl = max * (n + 1) + 1, off = 0;
    char *txt = malloc(tl);
    struct cairn_cert_list *big = NULL;
    for (size_t i = 0; i < max; i++) {
      memcpy(txt + off, pem1, n);
      off += n;
    }
    CHECK_ERR(cairn_cert_list_parse_pem(txt, off, &big), CAIRN_ERR_TOO_BIG);
    free(txt);
  }
  cairn_cert_list_free(NULL);
  cairn_cert_free(NULL);
out:
  free(pem);
  free(pem1);
  free(cat);
  cairn_cert_free(d);
  cairn_cert_list_free(l);
  cairn_cert_list_free(l2);
  cairn_cert_list_free(l3);
  pki_free(&p);
}

/* A 16-certificate chain (root + 15 CAs + leaf in the presented chain of
 * 16) verifies; one more certificate in the chain is refused. */
static void test_chain_cap(void)
{
  struct cairn_key *keys[CAIRN_CERT_CHAIN_MAX + 1];
  struct cairn_cert *certs[CAIRN_CERT_CHAIN_MAX + 1];
  const struct cairn_cert *chain[CAIRN_CERT_CHAIN_MAX + 1];
  const struct cairn_cert *rt[1];
  int ncas = CAIRN_CERT_CHAIN_MAX - 1; /* intermediates */
  int ok = 1;

  memset(certs, 0, sizeof certs);
  for (int i = 0; i <= ncas + 1; i++) keys[i] = gen(CAIRN_KEY_EC_P256);
  certs[0] = issue(CAIRN_CERT_ROOT, "spiffe://" TD, NOW, DAY, keys[0],
                   keys[0], NULL, NULL, -1);
  for (int i = 1; i <= ncas && certs[i - 1]; i++)
    certs[i] = issue(CAIRN_CERT_INTERMEDIATE, "spiffe://" TD, NOW, DAY,
                     keys[i], keys[i - 1], certs[i - 1], NULL, -1);
  if (certs[ncas])
    certs[ncas + 1] = issue(CAIRN_CERT_LEAF, "spiffe://" TD "/deep", NOW, 60,
                            keys[ncas + 1], keys[ncas], certs[ncas], NULL, -1);
  for (int i = 0; i <= ncas + 1; i++) ok &= certs[i] != NULL;
  if (ok) {
    /* Leaf first, then intermediates shuffled (reverse order). */
    chain[0] = certs[ncas + 1];
    for (int i = 1; i <= ncas; i++) chain[i] = certs[i];
    rt[0] = certs[0];
    CHECK_OK(verify(chain, (size_t)ncas + 1, rt, 1, TD, NOW, 0, NULL));
    chain[ncas + 1] = certs[0];
    CHECK_ERR(verify(chain, (size_t)ncas + 2, rt, 1, TD, NOW, 0, NULL),
              CAIRN_ERR_TOO_BIG);
  }
  for (int i = 0; i <= ncas + 1; i++) {
    cairn_cert_free(certs[i]);
    cairn_key_free(keys[i]);
  }
}

/* Many intermediates with one key, same DN and no way to reach the root:
 * the search is bounded and fails (quickly) instead of exploring every
 * permutation. */
static void test_search_bounded(void)
{
  struct cairn_key *rk = gen(CAIRN_KEY_EC_P256), *ek = gen(CAIRN_KEY_EC_P256),
                   *lk = gen(CAIRN_KEY_EC_P256);
  struct cairn_cert *root, *evil[CAIRN_CERT_CHAIN_MAX], *leaf = NULL;
  const struct cairn_cert *chain[CAIRN_CERT_CHAIN_MAX], *rt[1];
  struct cairn__cert_spec s;
  const char *td_uri[] = {"spiffe://" TD};
  const char *uri[] = {"spiffe://" TD "/l"};
  uint8_t kid[20] = {1, 2, 3};
  int n = CAIRN_CERT_CHAIN_MAX - 1, ok = 1;

  root = issue(CAIRN_CERT_ROOT, "spiffe://" TD, NOW, DAY, rk, rk, NULL, NULL,
               -1);
  /* Self-issued CAs signed by ek, all with the same SKID/AKID and DN. */
  for (int i = 0; i < n; i++) {
    ca_spec(&s, td_uri, NOW - 10, NOW + DAY);
    s.skid = kid;
    s.skid_len = sizeof kid;
    s.akid = kid;
    s.akid_len = sizeof kid;
    evil[i] = craft(&s, ek, ek, NULL);
    ok &= evil[i] != NULL;
  }
  leaf_spec(&s, uri, 1, NOW - 10, NOW + 60);
  s.akid = kid;
  s.akid_len = sizeof kid;
  if (ok) leaf = craft(&s, lk, ek, evil[0]);
  if (ok && leaf && root) {
    chain[0] = leaf;
    for (int i = 0; i < n; i++) chain[i + 1] = evil[i];
    rt[0] = root;
    CHECK_ERR(verify(chain, (size_t)n + 1, rt, 1, TD, NOW, 0, NULL),
              CAIRN_ERR_UNTRUSTED);
  }
  for (int i = 0; i < n; i++) cairn_cert_free(evil[i]);
  cairn_cert_free(leaf);
  cairn_cert_free(root);
  cairn_key_free(rk);
  cairn_key_free(ek);
  cairn_key_free(lk);
}

int main(void)
{
  RUN(test_chain_p256);
  RUN(test_chain_p384);
  RUN(test_mixed_curves);
  RUN(test_three_deep);
  RUN(test_rogue_intermediate);
  RUN(test_signed_by_non_ca);
  RUN(test_validity);
  RUN(test_validity_capping);
  RUN(test_generalized_time);
  RUN(test_name_constraints);
  RUN(test_leaf_rules);
  RUN(test_issue_policy);
  RUN(test_serials);
  RUN(test_parse_errors);
  RUN(test_lists);
  RUN(test_chain_cap);
  RUN(test_search_bounded);
  return test_done();
}
