/* shared/src/ca_upstream.c - where a new X.509 CA of the CA manager comes
 * from: a self-signed root, an intermediate signed with the files of an
 * UpstreamAuthority "disk", or an intermediate from the upstream callback
 * (cairn-edge). See cairn/ca.h and docs/library/ca.md. */
#include "ca_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/err.h"
#include "cairn/util.h"

#define DETAIL_MAX 512

int64_t cairn__ca_min_life(const struct cairn_ca *ca)
{
  int64_t l = ca->ca_ttl / 6;
  return l < 7 * CA_DAY ? l : 7 * CA_DAY;
}

void cairn__ca_upstream_clear(struct ca_upstream *u)
{
  if (!u) return;
  cairn_cert_free(u->cert);
  cairn_key_free(u->key);
  cairn_cert_list_free(u->intermediates);
  cairn_cert_list_free(u->roots);
  memset(u, 0, sizeof *u);
}

int cairn__ca_cert_self_signed(const struct cairn_cert *c)
{
  const uint8_t *s, *i, *sk, *ak;
  size_t sl, il, skl, akl;

  s = cairn_cert_subject_der(c, &sl);
  i = cairn_cert_issuer_der(c, &il);
  if (sl != il || memcmp(s, i, sl) != 0) return 0;
  ak = cairn_cert_akid(c, &akl);
  if (!ak || akl == 0) return 1;
  sk = cairn_cert_skid(c, &skl);
  return sk && skl == akl && memcmp(sk, ak, akl) == 0;
}

/* Reads a PEM file of certificates (at least one). */
static int read_pem_certs(const char *what, const char *path,
                          struct cairn_cert_list **out)
{
  uint8_t *data = NULL;
  size_t len = 0;
  char detail[DETAIL_MAX];
  int r;

  *out = NULL;
  if ((r = cairn_file_read(path, CA_UPSTREAM_FILE_MAX, &data, &len))) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    return cairn_seterr(r, "%s %s: %s", what, path, detail);
  }
  r = cairn_cert_list_parse_pem((const char *)data, len, out);
  free(data);
  if (r) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    return cairn_seterr(r, "%s %s: %s", what, path, detail);
  }
  return CAIRN_OK;
}

static int is_signing_ca(const struct cairn_cert *c)
{
  return cairn_cert_is_ca(c) &&
         (cairn_cert_key_usage(c) & CAIRN_KU_KEY_CERT_SIGN);
}

int cairn__ca_upstream_load(const struct cairn_ca *ca, struct ca_upstream *u)
{
  struct cairn_cert_list *certs = NULL;
  char detail[DETAIL_MAX];
  int r = CAIRN_ERR_INTERNAL;

  memset(u, 0, sizeof *u);
  if ((r = read_pem_certs("upstream certificate", ca->up_cert_path, &certs)))
    goto out;
  if ((r = cairn_cert_dup(cairn_cert_list_at(certs, 0), &u->cert))) goto out;
  if (!is_signing_ca(u->cert)) {
    r = cairn_seterr(CAIRN_ERR_CONFIG,
                     "upstream certificate %s is not a CA certificate "
                     "(cA and keyCertSign)",
                     ca->up_cert_path);
    goto out;
  }
  /* cairn_key_load refuses a file group or other may access. */
  if ((r = cairn_key_load(ca->up_key_path, &u->key))) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    r = cairn_seterr(r, "upstream key: %s", detail);
    goto out;
  }
  if (cairn_cert_matches_key(u->cert, u->key) != 1) {
    r = cairn_seterr(CAIRN_ERR_CONFIG,
                     "upstream key %s does not match the certificate %s",
                     ca->up_key_path, ca->up_cert_path);
    goto out;
  }
  if ((r = cairn_cert_list_new(&u->intermediates))) goto out;
  for (size_t i = 0; i < cairn_cert_list_count(certs); i++) {
    const struct cairn_cert *c = cairn_cert_list_at(certs, i);
    if (cairn__ca_cert_self_signed(c)) continue;
    if ((r = cairn_cert_list_push_copy(u->intermediates, c))) goto out;
  }
  if (ca->up_bundle_path) {
    if ((r = read_pem_certs("upstream bundle", ca->up_bundle_path,
                            &u->roots)))
      goto out;
    for (size_t i = 0; i < cairn_cert_list_count(u->roots); i++) {
      if (!cairn_cert_is_ca(cairn_cert_list_at(u->roots, i))) {
        r = cairn_seterr(CAIRN_ERR_CONFIG,
                         "upstream bundle %s: certificate %zu is not a CA",
                         ca->up_bundle_path, i + 1);
        goto out;
      }
    }
  } else {
    if (!cairn__ca_cert_self_signed(u->cert)) {
      r = cairn_seterr(CAIRN_ERR_CONFIG,
                       "upstream certificate %s is not self-signed, so "
                       "bundle_file_path (its roots) is required",
                       ca->up_cert_path);
      goto out;
    }
    if ((r = cairn_cert_list_new(&u->roots)) ||
        (r = cairn_cert_list_push_copy(u->roots, u->cert)))
      goto out;
  }
  r = CAIRN_OK;
out:
  cairn_cert_list_free(certs);
  if (r) cairn__ca_upstream_clear(u);
  return r;
}

/* The new CA's life left must reach the activation threshold. */
static int check_life(const struct cairn_ca *ca, time_t not_after,
                      time_t now, const char *why)
{
  char t1[32], d1[32], d2[32];
  int64_t left = (int64_t)not_after - (int64_t)now;
  int64_t min = cairn__ca_min_life(ca);

  if (left >= min) return CAIRN_OK;
  return cairn_seterr(CAIRN_ERR_POLICY,
                      "new X.509 CA refused: %s %s, leaving %s, less than "
                      "the activation threshold %s (min(ca_ttl/6, 7d))",
                      why, cairn_time_format(not_after, t1, sizeof t1),
                      cairn_duration_format(left > 0 ? left : 0, d1,
                                            sizeof d1),
                      cairn_duration_format(min, d2, sizeof d2));
}

static void ca_template(const struct cairn_ca *ca, enum cairn_cert_kind kind,
                        time_t now, struct cairn_cert_template *t)
{
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->spiffe_id = ca->td_id;
  t->common_name = ca->common_name;
  t->now = now;
  t->ttl = ca->ca_ttl;
  t->path_len = -1;
}

static int mint_self_signed(struct cairn_ca *ca, const struct cairn_key *key,
                            const struct cairn_key *pub, time_t now,
                            struct cairn_cert_list *chain)
{
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;
  int r;

  ca_template(ca, CAIRN_CERT_ROOT, now, &t);
  if ((r = cairn_cert_issue(&t, pub, key, NULL, &c))) return r;
  if ((r = cairn_cert_list_push(chain, c))) cairn_cert_free(c);
  return r;
}

static int mint_disk(struct cairn_ca *ca, const struct cairn_key *pub,
                     time_t now, struct cairn_cert_list *chain,
                     struct cairn_cert_list **roots)
{
  struct ca_upstream u;
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;
  int r;

  if ((r = cairn__ca_upstream_load(ca, &u))) return r;
  if ((r = check_life(ca, cairn_cert_not_after(u.cert), now,
                      "the upstream certificate expires at")))
    goto out;
  ca_template(ca, CAIRN_CERT_INTERMEDIATE, now, &t);
  if ((r = cairn_cert_issue(&t, pub, u.key, u.cert, &c))) goto out;
  if ((r = cairn_cert_list_push(chain, c))) goto out;
  c = NULL; /* owned by chain */
  for (size_t i = 0; i < cairn_cert_list_count(u.intermediates); i++)
    if ((r = cairn_cert_list_push_copy(chain,
                                       cairn_cert_list_at(u.intermediates, i))))
      goto out;
  *roots = u.roots;
  u.roots = NULL; /* transferred */
  r = CAIRN_OK;
out:
  cairn_cert_free(c);
  cairn__ca_upstream_clear(&u);
  return r;
}

int cairn__ca_in_list(const struct cairn_cert_list *l,
                      const struct cairn_cert *c)
{
  for (size_t i = 0; i < cairn_cert_list_count(l); i++)
    if (cairn_cert_equal(cairn_cert_list_at(l, i), c)) return 1;
  return 0;
}

static int mint_callback(struct cairn_ca *ca, const struct cairn_key *key,
                         struct cairn_cert_list *chain,
                         struct cairn_cert_list **roots)
{
  struct cairn_cert_list *got = NULL, *rts = NULL;
  char detail[DETAIL_MAX];
  int r;

  cairn_clearerr();
  r = ca->up_fn(ca->up_arg, key, ca->ca_ttl, &got, &rts);
  if (r == CAIRN_ERR_AGAIN) {
    /* Under way; the manager keeps the key pending (cairn/ca.h). */
    r = cairn_seterr(r, "waiting for the upstream to sign the X.509 CA");
    goto out;
  }
  if (r) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    r = cairn_seterr(r, "upstream signing failed: %s",
                     detail[0] ? detail : cairn_strerror(r));
    goto out;
  }
  if (!got || cairn_cert_list_count(got) == 0 || !rts ||
      cairn_cert_list_count(rts) == 0) {
    r = cairn_seterr(CAIRN_ERR_NET,
                     "upstream signing returned no chain or no roots");
    goto out;
  }
  if (cairn_cert_list_count(got) > CAIRN_CERT_CHAIN_MAX ||
      cairn_cert_list_count(rts) > CAIRN_BUNDLE_KEYS_MAX) {
    r = cairn_seterr(CAIRN_ERR_TOO_BIG,
                     "upstream signing returned too many certificates");
    goto out;
  }
  for (size_t i = 0; i < cairn_cert_list_count(got); i++) {
    const struct cairn_cert *c = cairn_cert_list_at(got, i);
    if (i > 0 && cairn__ca_in_list(rts, c)) continue; /* a root is not sent */
    if ((r = cairn_cert_list_push_copy(chain, c))) goto out;
  }
  *roots = rts;
  rts = NULL; /* transferred */
  r = CAIRN_OK;
out:
  cairn_cert_list_free(got);
  cairn_cert_list_free(rts);
  return r;
}

/* Checks an intermediate from an upstream: it is a CA for our trust
 * domain, holds our key and chains to the roots. */
static int check_upstream_chain(const struct cairn_ca *ca,
                                const struct cairn_key *key,
                                const struct cairn_cert_list *chain,
                                const struct cairn_cert_list *roots,
                                time_t now)
{
  const struct cairn_cert *c = cairn_cert_list_at(chain, 0);
  struct cairn_id id;
  char detail[DETAIL_MAX];
  int r;

  if (!is_signing_ca(c))
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "upstream returned a certificate that is not a CA");
  if (cairn_cert_matches_key(c, key) != 1)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "upstream returned a CA certificate for another key");
  if (cairn_cert_spiffe_id(c, &id) != CAIRN_OK ||
      strcmp(id.str, ca->td_id) != 0)
    return cairn_seterr(CAIRN_ERR_POLICY,
                        "upstream CA certificate does not name %s",
                        ca->td_id);
  r = cairn_cert_verify(chain, roots, ca->td, now, CAIRN_VERIFY_CA_LEAF, NULL);
  if (r) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    return cairn_seterr(r, "new X.509 CA does not verify against the "
                           "upstream roots: %s",
                        detail);
  }
  return CAIRN_OK;
}

int cairn__ca_mint_x509(struct cairn_ca *ca, const struct cairn_key *key,
                        struct cairn_cert_list **chain,
                        struct cairn_cert_list **roots)
{
  struct cairn_cert_list *ch = NULL, *rts = NULL;
  struct cairn_key *pub = NULL;
  time_t now = cairn_now();
  int r = CAIRN_ERR_INTERNAL;

  *chain = NULL;
  *roots = NULL;
  if ((r = cairn_key_public(key, &pub)) || (r = cairn_cert_list_new(&ch)))
    goto out;
  switch (ca->upstream) {
  case 0: r = mint_self_signed(ca, key, pub, now, ch); break;
  case 1: r = mint_disk(ca, pub, now, ch, &rts); break;
  default: r = mint_callback(ca, key, ch, &rts); break;
  }
  if (r) goto out;
  if (ca->upstream &&
      (r = check_upstream_chain(ca, key, ch, rts, now)))
    goto out;
  if ((r = check_life(ca, cairn_cert_not_after(cairn_cert_list_at(ch, 0)),
                      now, "it would expire at")))
    goto out;
  *chain = ch;
  ch = NULL;
  *roots = rts;
  rts = NULL; /* transferred */
  r = CAIRN_OK;
out:
  cairn_key_free(pub);
  cairn_cert_list_free(ch);
  cairn_cert_list_free(rts);
  return r;
}
