/* shared/src/ca.c - the CA manager: X.509 CA and JWT key slots, rotation,
 * CA journal, key manager, trust bundle, signing. See cairn/ca.h and
 * docs/library/ca.md. ca_upstream.c makes the X.509 CA certificates. */
#include "ca_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/err.h"
#include "cairn/jwt.h"
#include "cairn/log.h"
#include "cairn/util.h"

#define DETAIL_MAX 512
#define CA_TTL_MAX ((int64_t)100 * 365 * CA_DAY)
#define CA_KEY_PATH_MAX 4096

/* ---- small helpers ------------------------------------------------- */

static const char *kind_label(enum cairn_ca_kind k)
{
  return k == CAIRN_CA_X509 ? "X509 CA" : "JWT key";
}

static struct ca_slot *slots_of(struct cairn_ca *ca, enum cairn_ca_kind k)
{
  return k == CAIRN_CA_X509 ? ca->x509 : ca->jwt;
}

static void slot_clear(struct ca_slot *s)
{
  cairn_key_free(s->key);
  cairn_cert_list_free(s->chain);
  memset(s, 0, sizeof *s);
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static int slot_live(const struct ca_slot *s, int64_t now)
{
  return s->used && now < s->not_after;
}

/* SPIRE's thresholds, from the slot's own lifetime L. */
static int64_t prepare_at(const struct ca_slot *s)
{
  int64_t l = s->not_after - s->not_before;
  return s->not_after - min64(l / 2, 30 * CA_DAY);
}

static int64_t activate_at(const struct ca_slot *s)
{
  int64_t l = s->not_after - s->not_before;
  return s->not_after - min64(l / 6, 7 * CA_DAY);
}

static const char *tfmt(int64_t t, char *buf, size_t n)
{
  return cairn_time_format((time_t)t, buf, n);
}

/* Saves the current detail, so a later call cannot overwrite it. */
static void keep_err(int r, int *first, char *detail)
{
  /* CAIRN_ERR_AGAIN: an upstream answer is awaited, nothing failed. */
  if (!r || r == CAIRN_ERR_AGAIN || *first) return;
  *first = r;
  snprintf(detail, DETAIL_MAX, "%s", cairn_errdetail());
}

static int key_file(const struct cairn_ca *ca, const char *ref, char *out,
                    size_t n)
{
  int w = snprintf(out, n, "%s/%s.pem", ca->keys_dir, ref);
  if (w < 0 || (size_t)w >= n)
    return cairn_seterr(CAIRN_ERR_INVAL, "key path under %s is too long",
                        ca->keys_dir);
  return CAIRN_OK;
}

/* Hex of the certificate's SKID (of the key when the cert has none). */
static int cert_id_hex(const struct cairn_cert *c, char *out, size_t n)
{
  struct cairn_key *pub = NULL;
  uint8_t kid[20];
  size_t len;
  const uint8_t *sk = cairn_cert_skid(c, &len);
  int r;

  if (sk && len > 0 && len * 2 + 1 <= n) {
    cairn_hex(sk, len, out);
    return CAIRN_OK;
  }
  if ((r = cairn_cert_public_key(c, &pub))) return r;
  r = cairn_key_id_sha1(pub, kid);
  cairn_key_free(pub);
  if (r) return r;
  if (n < 41) return cairn_seterr(CAIRN_ERR_INTERNAL, "id buffer too small");
  cairn_hex(kid, sizeof kid, out);
  return CAIRN_OK;
}

/* Concatenated DER of a list (at most CAIRN_STORE_BLOB_MAX bytes). */
static int list_der(const struct cairn_cert_list *l, uint8_t **out,
                    size_t *outlen)
{
  int r = cairn_cert_list_to_der(l, out, outlen);

  if (r == CAIRN_OK && (*outlen == 0 || *outlen > CAIRN_STORE_BLOB_MAX)) {
    r = cairn_seterr(CAIRN_ERR_TOO_BIG, "CA chain of %zu bytes", *outlen);
    free(*out);
    *out = NULL;
    *outlen = 0;
  }
  return r;
}

static void remove_key_file(const struct cairn_ca *ca, const char *ref)
{
  char path[CA_KEY_PATH_MAX];

  if (!ca->keys_dir || key_file(ca, ref, path, sizeof path)) return;
  if (unlink(path) != 0 && errno != ENOENT)
    CAIRN_LOGW(CA_LOG, "cannot remove key file %s: %s", path,
               strerror(errno));
}

/* ---- trust bundle -------------------------------------------------- */

/* Refreshes the cached bundle from the store (parsing only when the
 * stored sequence differs from the cached one). */
static int bundle_load(struct cairn_ca *ca)
{
  struct cairn_bundle *b = NULL;
  char *json = NULL;
  size_t len = 0;
  uint64_t seq = 0;
  char detail[DETAIL_MAX];
  int r;

  r = cairn_store_bundle_get(ca->st, ca->td, &json, &len, &seq);
  if (r == CAIRN_ERR_NOT_FOUND) {
    /* Keep the cached sequence so a re-created bundle still grows. */
    if (!ca->bundle) {
      if ((r = cairn_bundle_new(ca->td, &ca->bundle))) return r;
    } else if (ca->bundle_stored) {
      uint64_t old = cairn_bundle_sequence(ca->bundle);
      if ((r = cairn_bundle_new(ca->td, &b))) return r;
      cairn_bundle_set_sequence(b, old);
      cairn_bundle_free(ca->bundle);
      ca->bundle = b;
    }
    ca->bundle_stored = 0;
    return CAIRN_OK;
  }
  if (r) return r;
  if (ca->bundle && ca->bundle_stored &&
      cairn_bundle_sequence(ca->bundle) == seq) {
    free(json);
    return CAIRN_OK;
  }
  r = cairn_bundle_parse_json(ca->td, json, len, 0, &b);
  free(json);
  if (r) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    return cairn_seterr(r, "stored trust bundle of %s: %s", ca->td, detail);
  }
  cairn_bundle_set_sequence(b, seq);
  cairn_bundle_free(ca->bundle);
  ca->bundle = b;
  ca->bundle_stored = 1;
  return CAIRN_OK;
}

struct ext_jwt {
  const char *kid;
  const struct cairn_key *pub;
};

/* Adds what must be in the bundle: roots of live self-signed slots, the
 * upstream roots, the JWT keys of live slots and ext. */
static int bundle_ensure(struct cairn_ca *ca, struct cairn_bundle *b,
                         const struct ext_jwt *ext, int64_t now)
{
  int r;

  for (int i = 0; i < 2; i++) {
    const struct ca_slot *s = &ca->x509[i];
    if (!slot_live(s, now) || !s->self_signed) continue;
    if ((r = cairn_bundle_add_x509(b, cairn_cert_list_at(s->chain, 0))))
      return r;
  }
  for (size_t i = 0; i < cairn_cert_list_count(ca->up_roots); i++) {
    const struct cairn_cert *c = cairn_cert_list_at(ca->up_roots, i);
    if ((int64_t)cairn_cert_not_after(c) <= now) continue;
    if ((r = cairn_bundle_add_x509(b, c))) return r;
  }
  for (int i = 0; i < 2; i++) {
    const struct ca_slot *s = &ca->jwt[i];
    if (!slot_live(s, now)) continue;
    if ((r = cairn_bundle_add_jwt_key(b, s->id, s->key))) return r;
  }
  if (ext && (r = cairn_bundle_add_jwt_key(b, ext->kid, ext->pub))) return r;
  for (size_t i = 0; ca->up_bundle && i < cairn_bundle_jwt_count(ca->up_bundle);
       i++) {
    const char *kid = NULL;
    const struct cairn_key *k = cairn_bundle_jwt_at(ca->up_bundle, i, &kid);
    if (!k || !kid) continue;
    r = cairn_bundle_add_jwt_key(b, kid, k);
    if (r == CAIRN_ERR_EXISTS) {
      CAIRN_LOGW(CA_LOG, "bundle: the upstream's JWT key %s clashes with "
                         "another key of that kid; not adopted",
                 kid);
      continue;
    }
    if (r) return r;
  }
  return CAIRN_OK;
}

/* 1 when the journal holds an unexpired published key kid. */
static int published_live(const struct cairn_journal_slot *rows, size_t n,
                          const char *kid, int64_t now)
{
  for (size_t i = 0; i < n; i++)
    if (rows[i].kind == CAIRN_CA_JWT &&
        strcmp(rows[i].slot_id, CA_SLOT_PUBLISHED) == 0 &&
        strcmp(rows[i].kid, kid) == 0 && rows[i].not_after > now)
      return 1;
  return 0;
}

/* Callback mode after cairn_ca_set_upstream_bundle(): drops the roots and
 * JWT keys that are neither the upstream's (its bundle, or the roots of
 * the last signing), nor the manager's own live JWT slots, nor keys
 * published here by downstream servers. */
static int bundle_follow(struct cairn_ca *ca, struct cairn_bundle *b,
                         const struct cairn_journal_slot *rows, size_t n,
                         int64_t now)
{
  const struct cairn_cert_list *l = cairn_bundle_x509(b);
  const struct cairn_cert_list *up = cairn_bundle_x509(ca->up_bundle);
  char id[129];
  int r;

  for (size_t i = cairn_cert_list_count(l); i-- > 0;) {
    const struct cairn_cert *c = cairn_cert_list_at(l, i);
    if (cairn__ca_in_list(up, c) || cairn__ca_in_list(ca->up_roots, c))
      continue;
    if (cert_id_hex(c, id, sizeof id)) snprintf(id, sizeof id, "?");
    if ((r = cairn_bundle_remove_x509(b, c))) return r;
    l = cairn_bundle_x509(b); /* the list was rebuilt */
    CAIRN_LOGI(CA_LOG, "bundle: X.509 authority skid=%s left the upstream's "
                       "bundle",
               id);
  }
  for (size_t i = cairn_bundle_jwt_count(b); i-- > 0;) {
    const char *k = NULL;
    char kid[CAIRN_JWT_KID_MAX + 1];
    int own = 0;
    cairn_bundle_jwt_at(b, i, &k);
    snprintf(kid, sizeof kid, "%s", k ? k : "");
    for (int s = 0; s < 2; s++)
      if (slot_live(&ca->jwt[s], now) && strcmp(ca->jwt[s].id, kid) == 0)
        own = 1;
    if (own || cairn_bundle_jwt_find(ca->up_bundle, kid) ||
        published_live(rows, n, kid, now))
      continue;
    if ((r = cairn_bundle_remove_jwt_key(b, kid))) return r;
    CAIRN_LOGI(CA_LOG, "bundle: JWT key kid=%s left the upstream's bundle",
               kid);
  }
  return CAIRN_OK;
}

/* Latest not_after the journal knows for kid, 0 when none. */
static int64_t jwt_not_after(const struct cairn_journal_slot *rows, size_t n,
                             const char *kid)
{
  int64_t best = 0;
  for (size_t i = 0; i < n; i++)
    if (rows[i].kind == CAIRN_CA_JWT && strcmp(rows[i].kid, kid) == 0 &&
        rows[i].not_after > best)
      best = rows[i].not_after;
  return best;
}

/* Removes expired roots and the JWT keys the journal says expired. */
static int bundle_prune(struct cairn_bundle *b,
                        const struct cairn_journal_slot *rows, size_t n,
                        int64_t now)
{
  const struct cairn_cert_list *l;
  char id[129], tb[32];
  int r;

  l = cairn_bundle_x509(b);
  for (size_t i = cairn_cert_list_count(l); i-- > 0;) {
    const struct cairn_cert *c = cairn_cert_list_at(l, i);
    int64_t na = (int64_t)cairn_cert_not_after(c);
    if (na > now) continue;
    if (cert_id_hex(c, id, sizeof id)) snprintf(id, sizeof id, "?");
    if ((r = cairn_bundle_remove_x509(b, c))) return r;
    l = cairn_bundle_x509(b); /* the list was rebuilt */
    CAIRN_LOGI(CA_LOG, "bundle: pruned expired X.509 authority skid=%s "
                       "not_after=%s",
               id, tfmt(na, tb, sizeof tb));
  }
  for (size_t i = cairn_bundle_jwt_count(b); i-- > 0;) {
    const char *k = NULL;
    char kid[CAIRN_JWT_KID_MAX + 1];
    int64_t na;
    cairn_bundle_jwt_at(b, i, &k);
    snprintf(kid, sizeof kid, "%s", k ? k : "");
    na = jwt_not_after(rows, n, kid);
    if (na == 0 || na > now) continue;
    if ((r = cairn_bundle_remove_jwt_key(b, kid))) return r;
    CAIRN_LOGI(CA_LOG, "bundle: pruned expired JWT key kid=%s not_after=%s",
               kid, tfmt(na, tb, sizeof tb));
  }
  return CAIRN_OK;
}

static int bundle_is_empty(const struct cairn_bundle *b)
{
  return cairn_cert_list_count(cairn_bundle_x509(b)) == 0 &&
         cairn_bundle_jwt_count(b) == 0;
}

/* Brings the stored bundle in line with the slots (adding), the clock
 * (pruning) and ext, writing it once with sequence + 1 when it changed.
 * A concurrent writer is handled by re-reading and re-applying. */
static int bundle_sync(struct cairn_ca *ca, const struct ext_jwt *ext,
                       int *changed)
{
  struct cairn_journal_slot *rows = NULL;
  struct cairn_bundle *work = NULL;
  size_t nrows = 0, len = 0;
  char *json = NULL;
  int64_t now = (int64_t)cairn_now();
  int r = CAIRN_ERR_INTERNAL;

  if ((r = cairn_store_journal_list(ca->st, CAIRN_CA_JWT, &rows, &nrows)))
    return r;
  for (int attempt = 0; attempt < 4; attempt++) {
    uint64_t seq, expected;
    cairn_bundle_free(work);
    work = NULL;
    if ((r = bundle_load(ca)) || (r = cairn_bundle_dup(ca->bundle, &work)) ||
        (r = bundle_ensure(ca, work, ext, now)) ||
        (r = bundle_prune(work, rows, nrows, now)) ||
        (ca->up_bundle &&
         (r = bundle_follow(ca, work, rows, nrows, now))))
      goto out;
    if (ca->bundle_stored ? cairn_bundle_content_equal(work, ca->bundle)
                          : bundle_is_empty(work)) {
      r = CAIRN_OK;
      goto out;
    }
    seq = cairn_bundle_sequence(ca->bundle);
    expected = ca->bundle_stored ? seq : CAIRN_STORE_SEQ_NONE;
    cairn_bundle_set_sequence(work, seq + 1);
    if ((r = cairn_bundle_write_json(work, 0, &json, &len))) goto out;
    r = cairn_store_bundle_put(ca->st, ca->td, json, len, expected, seq + 1);
    free(json);
    json = NULL;
    if (r == CAIRN_ERR_EXISTS || r == CAIRN_ERR_NOT_FOUND) {
      CAIRN_LOGD(CA_LOG, "bundle changed concurrently, retrying: %s",
                 cairn_errdetail());
      continue;
    }
    if (r) goto out;
    cairn_bundle_free(ca->bundle);
    ca->bundle = work;
    work = NULL; /* now the cache */
    ca->bundle_stored = 1;
    if (changed) *changed = 1;
    CAIRN_LOGI(CA_LOG, "bundle: trust bundle of %s updated: sequence=%llu "
                       "x509_authorities=%zu jwt_keys=%zu",
               ca->td, (unsigned long long)(seq + 1),
               cairn_cert_list_count(cairn_bundle_x509(ca->bundle)),
               cairn_bundle_jwt_count(ca->bundle));
    r = CAIRN_OK;
    goto out;
  }
  /* r is the last conflict. */
out:
  cairn_bundle_free(work);
  cairn_journal_slot_array_free(rows, nrows);
  return r;
}

/* ---- preparing and activating ---------------------------------------- */

static int prepare_slot(struct cairn_ca *ca, enum cairn_ca_kind kind)
{
  struct ca_slot *sl = slots_of(ca, kind);
  struct ca_slot s;
  struct cairn_key *key = NULL, *pub = NULL;
  struct cairn_cert_list *roots = NULL;
  struct cairn_journal_slot j;
  uint8_t *spki = NULL, *chain_der = NULL;
  size_t spki_len = 0, chain_len = 0;
  char path[CA_KEY_PATH_MAX], tb[32], detail[DETAIL_MAX];
  int64_t now = (int64_t)cairn_now();
  int saved = 0, r = CAIRN_ERR_INTERNAL;

  if (sl[1].used)
    return cairn_seterr(CAIRN_ERR_EXISTS, "a %s is prepared already",
                        kind_label(kind));
  memset(&s, 0, sizeof s);
  memset(&j, 0, sizeof j);
  /* A key whose upstream answer is awaited is offered again. */
  if (kind == CAIRN_CA_X509 && ca->pend_x509) {
    key = ca->pend_x509;
    ca->pend_x509 = NULL; /* back in pend_x509 on CAIRN_ERR_AGAIN */
  } else if (kind == CAIRN_CA_JWT && ca->pend_jwt) {
    if (ca->pend_jwt_not_after - now >= cairn__ca_min_life(ca)) {
      key = ca->pend_jwt;
      snprintf(s.id, sizeof s.id, "%s", ca->pend_jwt_kid);
      s.not_before = ca->pend_jwt_not_before;
      s.not_after = ca->pend_jwt_not_after;
    } else {
      CAIRN_LOGW(CA_LOG, "JWT key %s: the upstream did not confirm it in "
                         "time; publishing a new one",
                 ca->pend_jwt_kid);
      cairn_key_free(ca->pend_jwt);
    }
    ca->pend_jwt = NULL;
  }
  if (!key && (r = cairn_key_generate(ca->key_type, &key))) goto out;
  if (kind == CAIRN_CA_X509) {
    const struct cairn_cert *c;
    if ((r = cairn__ca_mint_x509(ca, key, &s.chain, &roots))) goto out;
    c = cairn_cert_list_at(s.chain, 0);
    s.not_before = (int64_t)cairn_cert_not_before(c);
    s.not_after = (int64_t)cairn_cert_not_after(c);
    s.self_signed = ca->upstream == 0;
    if ((r = cert_id_hex(c, s.id, sizeof s.id))) goto out;
    {
      uint8_t kid[20];
      char hex[41];
      if ((r = cairn_key_id_sha1(key, kid))) goto out;
      cairn_hex(kid, sizeof kid, hex);
      snprintf(s.key_ref, sizeof s.key_ref, "x509-%s", hex);
    }
    if ((r = list_der(s.chain, &chain_der, &chain_len))) goto out;
  } else {
    if (!s.id[0]) {
      if ((r = cairn_jwt_new_kid(s.id, sizeof s.id))) goto out;
      s.not_before = now;
      s.not_after = now + ca->ca_ttl;
    }
    snprintf(s.key_ref, sizeof s.key_ref, "jwt-%s", s.id);
    if (ca->publish_fn) {
      if ((r = cairn_key_public(key, &pub))) goto out;
      cairn_clearerr();
      if ((r = ca->publish_fn(ca->up_arg, s.id, pub, s.not_after))) {
        if (r == CAIRN_ERR_AGAIN) {
          cairn_seterr(r, "waiting for the upstream to accept JWT key %s",
                       s.id);
          goto out;
        }
        snprintf(detail, sizeof detail, "%s", cairn_errdetail());
        r = cairn_seterr(r, "publishing the JWT key upstream failed: %s",
                         detail[0] ? detail : cairn_strerror(r));
        goto out;
      }
    }
  }
  if ((r = cairn_key_export_public_der(key, &spki, &spki_len))) goto out;
  snprintf(s.slot_id, sizeof s.slot_id, "%s",
           sl[0].used && strcmp(sl[0].slot_id, "A") == 0 ? "B" : "A");

  /* The key file exists before the journal row that names it. */
  if (ca->km == CAIRN_CA_KM_DISK) {
    if ((r = key_file(ca, s.key_ref, path, sizeof path)) ||
        (r = cairn_key_save(key, path)))
      goto out;
    saved = 1;
  }
  j.slot_id = s.slot_id;
  j.kind = kind;
  j.status = CAIRN_CA_PREPARED;
  j.not_before = s.not_before;
  j.not_after = s.not_after;
  j.chain = chain_der;
  j.chain_len = chain_len;
  j.public_key = spki;
  j.public_key_len = spki_len;
  j.key_ref = s.key_ref;
  j.kid = kind == CAIRN_CA_JWT ? s.id : NULL;
  if ((r = cairn_store_journal_insert(ca->st, &j, &s.row))) goto out;

  s.used = 1;
  s.status = CAIRN_CA_PREPARED;
  s.key = key;
  key = NULL; /* owned by the slot */
  sl[1] = s;
  memset(&s, 0, sizeof s); /* owned by sl[1] */
  if (roots) {
    cairn_cert_list_free(ca->up_roots);
    ca->up_roots = roots;
    roots = NULL; /* transferred */
  }
  if (kind == CAIRN_CA_X509)
    CAIRN_LOGI(CA_LOG, "X509 CA prepared: slot=%s not_after=%s skid=%s "
                       "authority=%s",
               sl[1].slot_id, tfmt(sl[1].not_after, tb, sizeof tb),
               sl[1].id,
               ca->upstream == 0 ? "self-signed"
                                 : ca->upstream == 1 ? "upstream disk"
                                                     : "upstream");
  else
    CAIRN_LOGI(CA_LOG, "JWT key prepared: slot=%s not_after=%s kid=%s",
               sl[1].slot_id, tfmt(sl[1].not_after, tb, sizeof tb),
               sl[1].id);
  r = CAIRN_OK;
out:
  if (r == CAIRN_ERR_AGAIN && key) {
    /* The upstream answers later: keep the key for the next attempt. */
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    if (kind == CAIRN_CA_X509) {
      ca->pend_x509 = key;
    } else {
      ca->pend_jwt = key;
      snprintf(ca->pend_jwt_kid, sizeof ca->pend_jwt_kid, "%s", s.id);
      ca->pend_jwt_not_before = s.not_before;
      ca->pend_jwt_not_after = s.not_after;
    }
    key = NULL; /* pending */
    CAIRN_LOGD(CA_LOG, "%s preparation waits for the upstream: %s",
               kind_label(kind), detail);
    r = cairn_seterr(CAIRN_ERR_AGAIN, "%s", detail);
  } else if (r) {
    int keep = r;
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    if (saved) remove_key_file(ca, s.key_ref);
    CAIRN_LOGE(CA_LOG, "%s preparation failed: %s", kind_label(kind),
               detail);
    r = cairn_seterr(keep, "%s", detail);
  }
  slot_clear(&s);
  cairn_key_free(key);
  cairn_key_free(pub);
  cairn_cert_list_free(roots);
  free(spki);
  free(chain_der);
  return r;
}

/* Drops the next slot (journal status old); its authority stays in the
 * bundle until it expires. */
static void discard_next(struct cairn_ca *ca, enum cairn_ca_kind kind,
                         const char *why)
{
  struct ca_slot *n = &slots_of(ca, kind)[1];
  CAIRN_LOGW(CA_LOG, "%s in slot %s (id %s) discarded: %s", kind_label(kind),
             n->slot_id, n->id, why);
  if (cairn_store_journal_set_status(ca->st, n->row, CAIRN_CA_OLD))
    CAIRN_LOGW(CA_LOG, "journal: %s", cairn_errdetail());
  slot_clear(n);
}

static int activate_slot(struct cairn_ca *ca, enum cairn_ca_kind kind)
{
  struct ca_slot *sl = slots_of(ca, kind);
  int64_t now = (int64_t)cairn_now(), min = cairn__ca_min_life(ca);
  char tb[32], d1[32], d2[32], why[160];
  int r;

  if (!sl[1].used)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no prepared %s to activate",
                        kind_label(kind));
  if (sl[1].not_after - now < min) {
    int64_t left = sl[1].not_after - now;
    snprintf(why, sizeof why, "%s left, less than the activation threshold "
                              "%s",
             cairn_duration_format(left > 0 ? left : 0, d1, sizeof d1),
             cairn_duration_format(min, d2, sizeof d2));
    CAIRN_LOGE(CA_LOG, "%s not activated: %s", kind_label(kind), why);
    discard_next(ca, kind, why);
    return cairn_seterr(CAIRN_ERR_POLICY, "%s not activated: %s",
                        kind_label(kind), why);
  }
  if ((r = cairn_store_begin(ca->st))) return r;
  if ((r = cairn_store_journal_set_status(ca->st, sl[1].row,
                                          CAIRN_CA_ACTIVE)) ||
      (sl[0].used &&
       (r = cairn_store_journal_set_status(ca->st, sl[0].row,
                                           CAIRN_CA_OLD)))) {
    char detail[DETAIL_MAX];
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    cairn_store_rollback(ca->st);
    return cairn_seterr(r, "%s", detail);
  }
  if ((r = cairn_store_commit(ca->st))) {
    cairn_store_rollback(ca->st);
    return r;
  }
  CAIRN_LOGI(CA_LOG, "%s activated: slot=%s not_after=%s %s=%s%s%s",
             kind_label(kind), sl[1].slot_id,
             tfmt(sl[1].not_after, tb, sizeof tb),
             kind == CAIRN_CA_X509 ? "skid" : "kid", sl[1].id,
             sl[0].used ? " previous=" : "", sl[0].used ? sl[0].id : "");
  slot_clear(&sl[0]);
  sl[0] = sl[1];
  sl[0].status = CAIRN_CA_ACTIVE;
  memset(&sl[1], 0, sizeof sl[1]); /* moved to sl[0] */
  return CAIRN_OK;
}

/* Phase 1 of a tick for one kind: prepare when due. */
static int tick_prepare(struct cairn_ca *ca, enum cairn_ca_kind kind,
                        int64_t now)
{
  struct ca_slot *sl = slots_of(ca, kind);
  int64_t min = cairn__ca_min_life(ca);

  if (sl[1].used && sl[1].not_after - now < min)
    discard_next(ca, kind, "too little life left to be activated");
  if (sl[1].used) return CAIRN_OK;
  if (!slot_live(&sl[0], now) || now > prepare_at(&sl[0]))
    return prepare_slot(ca, kind);
  return CAIRN_OK;
}

/* Phase 2 (after the bundle holds the new authorities): activate. */
static int tick_activate(struct cairn_ca *ca, enum cairn_ca_kind kind,
                         int64_t now)
{
  struct ca_slot *sl = slots_of(ca, kind);

  if (!sl[1].used) return CAIRN_OK;
  if (!slot_live(&sl[0], now) || now > activate_at(&sl[0]))
    return activate_slot(ca, kind);
  return CAIRN_OK;
}

/* Deletes journal rows that are old and expired, and their key files. A
 * JWT row waits until its key has left the bundle. */
static int journal_cleanup(struct cairn_ca *ca, int64_t now)
{
  struct cairn_journal_slot *rows = NULL;
  size_t n = 0;
  int r, first = 0;
  char detail[DETAIL_MAX];

  if ((r = cairn_store_journal_list(ca->st, 0, &rows, &n))) return r;
  for (size_t i = 0; i < n; i++) {
    const struct cairn_journal_slot *j = &rows[i];
    int published = strcmp(j->slot_id, CA_SLOT_PUBLISHED) == 0;
    if (j->status != CAIRN_CA_OLD || j->not_after > now) continue;
    if (j->kind == CAIRN_CA_JWT && cairn_bundle_jwt_find(ca->bundle, j->kid))
      continue;
    if ((r = cairn_store_journal_delete(ca->st, j->id))) {
      keep_err(r, &first, detail);
      continue;
    }
    if (!published) remove_key_file(ca, j->key_ref);
    CAIRN_LOGI(CA_LOG, "journal: removed expired %s slot %lld (%s)",
               j->kind == CAIRN_CA_X509 ? "X509 CA" : "JWT key",
               (long long)j->id, j->kind == CAIRN_CA_JWT ? j->kid : j->key_ref);
  }
  cairn_journal_slot_array_free(rows, n);
  if (first) return cairn_seterr(first, "%s", detail);
  return CAIRN_OK;
}

int cairn_ca_tick(struct cairn_ca *ca, int *bundle_changed)
{
  static const enum cairn_ca_kind kinds[2] = {CAIRN_CA_X509, CAIRN_CA_JWT};
  char detail[DETAIL_MAX];
  int64_t now;
  int first = 0, r;

  if (bundle_changed) *bundle_changed = 0;
  if (!ca) return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL manager");
  now = (int64_t)cairn_now();
  for (int k = 0; k < 2; k++)
    keep_err(tick_prepare(ca, kinds[k], now), &first, detail);
  r = bundle_sync(ca, NULL, bundle_changed);
  keep_err(r, &first, detail);
  /* New authorities sign only once the stored bundle holds them. */
  if (r == CAIRN_OK) {
    for (int k = 0; k < 2; k++)
      keep_err(tick_activate(ca, kinds[k], now), &first, detail);
    keep_err(journal_cleanup(ca, now), &first, detail);
  }
  if (first) return cairn_seterr(first, "%s", detail);
  return CAIRN_OK;
}

int cairn_ca_prepare_x509(struct cairn_ca *ca)
{
  int r;
  if (!ca) return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL manager");
  if ((r = prepare_slot(ca, CAIRN_CA_X509))) return r;
  return bundle_sync(ca, NULL, NULL);
}

int cairn_ca_prepare_jwt(struct cairn_ca *ca)
{
  int r;
  if (!ca) return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL manager");
  if ((r = prepare_slot(ca, CAIRN_CA_JWT))) return r;
  return bundle_sync(ca, NULL, NULL);
}

static int forced_activate(struct cairn_ca *ca, enum cairn_ca_kind kind)
{
  int r;
  if (!ca) return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL manager");
  if (!slots_of(ca, kind)[1].used)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no prepared %s to activate",
                        kind_label(kind));
  if ((r = bundle_sync(ca, NULL, NULL))) return r;
  return activate_slot(ca, kind);
}

int cairn_ca_activate_x509(struct cairn_ca *ca)
{
  return forced_activate(ca, CAIRN_CA_X509);
}

int cairn_ca_activate_jwt(struct cairn_ca *ca)
{
  return forced_activate(ca, CAIRN_CA_JWT);
}

/* ---- loading the journal ----------------------------------------------- */

/* Loads one active/prepared row into *s; an error says why it is not
 * usable. */
static int load_row(struct cairn_ca *ca, const struct cairn_journal_slot *j,
                    struct ca_slot *s, int64_t now)
{
  struct cairn_key *pub = NULL;
  char path[CA_KEY_PATH_MAX], tb[32];
  int r = CAIRN_ERR_INTERNAL;

  memset(s, 0, sizeof *s);
  if (now >= j->not_after) {
    r = cairn_seterr(CAIRN_ERR_EXPIRED, "expired at %s",
                     tfmt(j->not_after, tb, sizeof tb));
    goto out;
  }
  if (ca->km == CAIRN_CA_KM_MEMORY) {
    r = cairn_seterr(CAIRN_ERR_NOT_FOUND,
                     "the memory key manager keeps no keys across restarts");
    goto out;
  }
  if (strlen(j->slot_id) >= sizeof s->slot_id ||
      strlen(j->key_ref) >= sizeof s->key_ref) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "slot or key name too long");
    goto out;
  }
  if ((r = cairn_key_import_der(j->public_key, j->public_key_len, &pub)) ||
      (r = key_file(ca, j->key_ref, path, sizeof path)) ||
      (r = cairn_key_load(path, &s->key)))
    goto out;
  if (cairn_key_public_equal(pub, s->key) != 1) {
    r = cairn_seterr(CAIRN_ERR_POLICY, "key file %s does not hold the "
                                       "journal's public key",
                     path);
    goto out;
  }
  if (j->kind == CAIRN_CA_X509) {
    const struct cairn_cert *c;
    if ((r = cairn_cert_list_parse_der(j->chain, j->chain_len, &s->chain)))
      goto out;
    c = cairn_cert_list_at(s->chain, 0);
    if (cairn_cert_matches_key(c, s->key) != 1 || !cairn_cert_is_ca(c)) {
      r = cairn_seterr(CAIRN_ERR_POLICY, "CA certificate does not match "
                                         "key file %s",
                       path);
      goto out;
    }
    s->not_before = (int64_t)cairn_cert_not_before(c);
    s->not_after = (int64_t)cairn_cert_not_after(c);
    if (now >= s->not_after) {
      r = cairn_seterr(CAIRN_ERR_EXPIRED, "certificate expired");
      goto out;
    }
    s->self_signed =
        cairn_cert_list_count(s->chain) == 1 && cairn__ca_cert_self_signed(c);
    if ((r = cert_id_hex(c, s->id, sizeof s->id))) goto out;
  } else {
    if (!j->kid[0] || strlen(j->kid) >= sizeof s->id) {
      r = cairn_seterr(CAIRN_ERR_PARSE, "bad kid");
      goto out;
    }
    snprintf(s->id, sizeof s->id, "%s", j->kid);
    s->not_before = j->not_before;
    s->not_after = j->not_after;
  }
  snprintf(s->slot_id, sizeof s->slot_id, "%s", j->slot_id);
  snprintf(s->key_ref, sizeof s->key_ref, "%s", j->key_ref);
  s->row = j->id;
  s->status = j->status;
  s->used = 1;
  r = CAIRN_OK;
out:
  cairn_key_free(pub);
  if (r) slot_clear(s);
  return r;
}

static void mark_old(struct cairn_ca *ca, int64_t row)
{
  if (cairn_store_journal_set_status(ca->st, row, CAIRN_CA_OLD))
    CAIRN_LOGW(CA_LOG, "journal: cannot retire slot %lld: %s",
               (long long)row, cairn_errdetail());
}

static int journal_load(struct cairn_ca *ca)
{
  struct cairn_journal_slot *rows = NULL;
  size_t n = 0;
  int64_t now = (int64_t)cairn_now();
  int r;

  if ((r = cairn_store_journal_list(ca->st, 0, &rows, &n))) return r;
  for (size_t i = 0; i < n; i++) {
    const struct cairn_journal_slot *j = &rows[i];
    struct ca_slot s, *dst;
    if (j->status != CAIRN_CA_ACTIVE && j->status != CAIRN_CA_PREPARED)
      continue;
    if (load_row(ca, j, &s, now)) {
      CAIRN_LOGW(CA_LOG, "journal: skipping %s slot %lld (%s, %s): %s",
                 kind_label(j->kind), (long long)j->id, j->slot_id,
                 j->status == CAIRN_CA_ACTIVE ? "active" : "prepared",
                 cairn_errdetail());
      mark_old(ca, j->id);
      continue;
    }
    dst = &slots_of(ca, j->kind)[j->status == CAIRN_CA_ACTIVE ? 0 : 1];
    if (dst->used) { /* rows are oldest first: the newer one wins */
      CAIRN_LOGW(CA_LOG, "journal: %s slot %lld superseded by %lld",
                 kind_label(j->kind), (long long)dst->row, (long long)j->id);
      mark_old(ca, dst->row);
      slot_clear(dst);
    }
    *dst = s;
  }
  cairn_journal_slot_array_free(rows, n);
  for (int k = 0; k < 2; k++) {
    struct ca_slot *sl = k == 0 ? ca->x509 : ca->jwt;
    if (sl[0].used && sl[1].used && sl[1].row < sl[0].row) {
      CAIRN_LOGW(CA_LOG, "journal: prepared slot %lld is older than the "
                         "active one",
                 (long long)sl[1].row);
      mark_old(ca, sl[1].row);
      slot_clear(&sl[1]);
    }
  }
  return CAIRN_OK;
}

/* ---- construction -------------------------------------------------- */

static int keys_dir_init(const char *dir)
{
  struct stat st;
  int r;

  if ((r = cairn_mkdir_p(dir, 0700))) return r;
  if (stat(dir, &st) != 0)
    return cairn_seterr(CAIRN_ERR_IO, "keys directory %s: %s", dir,
                        strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return cairn_seterr(CAIRN_ERR_CONFIG, "keys directory %s is not a "
                                          "directory",
                        dir);
  if (st.st_mode & 077)
    return cairn_seterr(CAIRN_ERR_PERM,
                        "keys directory %s has mode %03o: group or other may "
                        "access it (use 0700)",
                        dir, (unsigned)(st.st_mode & 0777));
  return CAIRN_OK;
}

static int check_opts(const struct cairn_ca_opts *o)
{
  int disk = o->upstream_cert_path || o->upstream_key_path ||
             o->upstream_bundle_path;

  if (!o->trust_domain || cairn_td_validate(o->trust_domain) != CAIRN_OK) {
    char detail[DETAIL_MAX];
    snprintf(detail, sizeof detail, "%s",
             o->trust_domain ? cairn_errdetail() : "missing");
    return cairn_seterr(CAIRN_ERR_CONFIG, "trust_domain: %s", detail);
  }
  if (o->key_type != 0 && o->key_type != CAIRN_KEY_EC_P256 &&
      o->key_type != CAIRN_KEY_EC_P384)
    return cairn_seterr(CAIRN_ERR_CONFIG, "ca_key_type: unsupported key type "
                                          "%d",
                        (int)o->key_type);
  if (o->ca_ttl < 0 || (o->ca_ttl > 0 && o->ca_ttl < CAIRN_CA_TTL_MIN))
    return cairn_seterr(CAIRN_ERR_CONFIG, "ca_ttl: %lld s is below the "
                                          "minimum of %d s",
                        (long long)o->ca_ttl, CAIRN_CA_TTL_MIN);
  if (o->ca_ttl > CA_TTL_MAX)
    return cairn_seterr(CAIRN_ERR_CONFIG, "ca_ttl: %lld s is more than 100 "
                                          "years",
                        (long long)o->ca_ttl);
  if (o->key_manager != CAIRN_CA_KM_DISK &&
      o->key_manager != CAIRN_CA_KM_MEMORY)
    return cairn_seterr(CAIRN_ERR_CONFIG, "key manager: unknown kind %d",
                        (int)o->key_manager);
  if (o->key_manager == CAIRN_CA_KM_DISK && (!o->keys_dir || !o->keys_dir[0]))
    return cairn_seterr(CAIRN_ERR_CONFIG,
                        "keys_path: required for the disk key manager");
  if (disk && o->upstream_fn)
    return cairn_seterr(CAIRN_ERR_CONFIG,
                        "UpstreamAuthority: the disk files and an upstream "
                        "callback exclude each other");
  if (disk && (!o->upstream_cert_path || !o->upstream_cert_path[0] ||
               !o->upstream_key_path || !o->upstream_key_path[0]))
    return cairn_seterr(CAIRN_ERR_CONFIG,
                        "UpstreamAuthority \"disk\": cert_file_path and "
                        "key_file_path are both required");
  if (o->upstream_bundle_path && !o->upstream_bundle_path[0])
    return cairn_seterr(CAIRN_ERR_CONFIG,
                        "UpstreamAuthority \"disk\": bundle_file_path is "
                        "empty");
  return CAIRN_OK;
}

static int dup_opt(const char *s, char **out)
{
  *out = NULL;
  if (!s) return CAIRN_OK;
  if (!(*out = cairn_strdup(s))) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  return CAIRN_OK;
}

int cairn_ca_new(const struct cairn_ca_opts *opts, struct cairn_store *store,
                 struct cairn_ca **out)
{
  struct cairn_ca *ca = NULL;
  char detail[DETAIL_MAX];
  int r = CAIRN_ERR_INTERNAL, t;
  int64_t now;

  if (out) *out = NULL;
  if (!opts || !store || !out)
    return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL argument");
  if ((r = check_opts(opts))) return r;
  if (!(ca = calloc(1, sizeof *ca))) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  snprintf(ca->td, sizeof ca->td, "%s", opts->trust_domain);
  snprintf(ca->td_id, sizeof ca->td_id, "spiffe://%s", ca->td);
  ca->key_type = opts->key_type ? opts->key_type : CAIRN_KEY_EC_P256;
  ca->ca_ttl = opts->ca_ttl ? opts->ca_ttl : CAIRN_CA_TTL_DEFAULT;
  ca->km = opts->key_manager;
  ca->st = store;
  ca->up_fn = opts->upstream_fn;
  ca->publish_fn = opts->publish_jwt_fn;
  ca->up_arg = opts->upstream_arg;
  ca->upstream = opts->upstream_cert_path ? 1 : opts->upstream_fn ? 2 : 0;
  if ((r = dup_opt(ca->km == CAIRN_CA_KM_DISK ? opts->keys_dir : NULL,
                   &ca->keys_dir)) ||
      (r = dup_opt(opts->upstream_cert_path, &ca->up_cert_path)) ||
      (r = dup_opt(opts->upstream_key_path, &ca->up_key_path)) ||
      (r = dup_opt(opts->upstream_bundle_path, &ca->up_bundle_path)) ||
      (r = dup_opt(opts->ca_common_name, &ca->common_name)) ||
      (r = dup_opt(opts->jwt_issuer, &ca->jwt_issuer)))
    goto out;
  if (ca->km == CAIRN_CA_KM_DISK && (r = keys_dir_init(ca->keys_dir)))
    goto out;
  /* Fail early on bad upstream files. Their roots enter the bundle only
   * with the first intermediate they verify (at prepare). */
  if (ca->upstream == 1) {
    struct ca_upstream u;
    if ((r = cairn__ca_upstream_load(ca, &u))) goto out;
    cairn__ca_upstream_clear(&u);
  }
  if ((r = bundle_load(ca)) || (r = journal_load(ca))) goto out;

  t = cairn_ca_tick(ca, NULL);
  now = (int64_t)cairn_now();
  if (!slot_live(&ca->x509[0], now) || !slot_live(&ca->jwt[0], now)) {
    if (t) {
      r = t; /* keeps the tick's detail */
    } else if (ca->pend_x509 || ca->pend_jwt) {
      /* Only upstream answers are missing (cairn/ca.h). */
      CAIRN_LOGI(CA_LOG, "waiting for the upstream to sign the first %s",
                 slot_live(&ca->x509[0], now) ? "JWT key"
                 : slot_live(&ca->jwt[0], now) ? "X.509 CA"
                                                : "X.509 CA and JWT key");
      *out = ca;
      ca = NULL; /* transferred */
      r = CAIRN_OK;
    } else {
      r = cairn_seterr(CAIRN_ERR_INTERNAL, "no active X.509 CA or JWT key "
                                           "after the first rotation step");
    }
    goto out;
  }
  if (t) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    CAIRN_LOGW(CA_LOG, "first rotation step: %s", detail);
  }
  *out = ca;
  ca = NULL; /* transferred */
  r = CAIRN_OK;
out:
  cairn_ca_free(ca);
  return r;
}

void cairn_ca_free(struct cairn_ca *ca)
{
  if (!ca) return;
  for (int i = 0; i < 2; i++) {
    slot_clear(&ca->x509[i]);
    slot_clear(&ca->jwt[i]);
  }
  cairn_cert_list_free(ca->up_roots);
  cairn_bundle_free(ca->up_bundle);
  cairn_key_free(ca->pend_x509);
  cairn_key_free(ca->pend_jwt);
  cairn_bundle_free(ca->bundle);
  free(ca->keys_dir);
  free(ca->up_cert_path);
  free(ca->up_key_path);
  free(ca->up_bundle_path);
  free(ca->common_name);
  free(ca->jwt_issuer);
  free(ca);
}

/* ---- queries ------------------------------------------------------- */

int cairn_ca_bundle(const struct cairn_ca *ca, struct cairn_bundle **out)
{
  if (out) *out = NULL;
  if (!ca || !out) return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL argument");
  return cairn_bundle_dup(ca->bundle, out);
}

uint64_t cairn_ca_bundle_sequence(const struct cairn_ca *ca)
{
  return ca && ca->bundle ? cairn_bundle_sequence(ca->bundle) : 0;
}

const char *cairn_ca_trust_domain(const struct cairn_ca *ca)
{
  return ca ? ca->td : NULL;
}

static void slot_info(const struct ca_slot *s, struct cairn_ca_slot_info *o)
{
  memset(o, 0, sizeof *o);
  if (!s->used) return;
  o->state = s->status == CAIRN_CA_ACTIVE ? CAIRN_CA_SLOT_ACTIVE
                                          : CAIRN_CA_SLOT_PREPARED;
  o->not_before = s->not_before;
  o->not_after = s->not_after;
  if (o->state == CAIRN_CA_SLOT_ACTIVE) o->prepare_at = prepare_at(s);
  snprintf(o->id, sizeof o->id, "%s", s->id);
}

void cairn_ca_get_status(const struct cairn_ca *ca,
                         struct cairn_ca_state *out)
{
  if (!out) return;
  memset(out, 0, sizeof *out);
  if (!ca) return;
  slot_info(&ca->x509[0], &out->x509_current);
  slot_info(&ca->x509[1], &out->x509_next);
  slot_info(&ca->jwt[0], &out->jwt_current);
  slot_info(&ca->jwt[1], &out->jwt_next);
  out->bundle_sequence = cairn_bundle_sequence(ca->bundle);
  out->bundle_x509_count = cairn_cert_list_count(cairn_bundle_x509(ca->bundle));
  out->bundle_jwt_count = cairn_bundle_jwt_count(ca->bundle);
  out->upstream = ca->upstream;
  out->x509_pending = ca->pend_x509 != NULL;
  out->jwt_pending = ca->pend_jwt != NULL;
}

/* ---- cairn-edge: the upstream's bundle ------------------------------ */

int cairn_ca_set_upstream_bundle(struct cairn_ca *ca,
                                 const struct cairn_bundle *b, int *changed)
{
  struct cairn_bundle *nb = NULL;
  struct cairn_cert_list *roots = NULL;
  const struct cairn_cert_list *l;
  int r;

  if (changed) *changed = 0;
  if (!ca || !b) return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL argument");
  if (ca->upstream != 2)
    return cairn_seterr(CAIRN_ERR_INVAL, "only a CA with an upstream "
                                         "callback follows an upstream bundle");
  if (strcmp(cairn_bundle_td(b), ca->td) != 0)
    return cairn_seterr(CAIRN_ERR_POLICY, "the upstream's bundle is for "
                                          "trust domain %s, not %s",
                        cairn_bundle_td(b), ca->td);
  l = cairn_bundle_x509(b);
  if (cairn_cert_list_count(l) == 0)
    return cairn_seterr(CAIRN_ERR_POLICY, "the upstream's bundle holds no "
                                          "X.509 authority");
  if ((r = cairn_bundle_dup(b, &nb)) || (r = cairn_cert_list_new(&roots)))
    goto out;
  for (size_t i = 0; i < cairn_cert_list_count(l); i++)
    if ((r = cairn_cert_list_push_copy(roots, cairn_cert_list_at(l, i))))
      goto out;
  cairn_bundle_free(ca->up_bundle);
  ca->up_bundle = nb;
  nb = NULL;
  cairn_cert_list_free(ca->up_roots);
  ca->up_roots = roots;
  roots = NULL; /* both transferred */
  r = bundle_sync(ca, NULL, changed);
out:
  cairn_bundle_free(nb);
  cairn_cert_list_free(roots);
  return r;
}

int cairn_ca_published_keys(struct cairn_ca *ca,
                            struct cairn_ca_published_key **out, size_t *n)
{
  struct cairn_journal_slot *rows = NULL;
  struct cairn_ca_published_key *k = NULL;
  size_t nrows = 0, cnt = 0;
  int64_t now = (int64_t)cairn_now();
  int r;

  if (out) *out = NULL;
  if (n) *n = 0;
  if (!ca || !out || !n)
    return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL argument");
  if ((r = cairn_store_journal_list(ca->st, CAIRN_CA_JWT, &rows, &nrows)))
    return r;
  if (nrows && !(k = calloc(nrows, sizeof *k))) {
    r = cairn_seterr(CAIRN_ERR_NOMEM, NULL);
    goto out;
  }
  for (size_t i = 0; i < nrows; i++) {
    const struct cairn_journal_slot *j = &rows[i];
    if (strcmp(j->slot_id, CA_SLOT_PUBLISHED) != 0 || j->not_after <= now ||
        !j->kid[0] || strlen(j->kid) >= sizeof k[cnt].kid ||
        !cairn_bundle_jwt_find(ca->bundle, j->kid))
      continue;
    if ((r = cairn_key_import_der(j->public_key, j->public_key_len,
                                  &k[cnt].pub)))
      goto out;
    snprintf(k[cnt].kid, sizeof k[cnt].kid, "%s", j->kid);
    k[cnt].not_after = j->not_after;
    cnt++;
  }
  if (cnt) {
    *out = k;
    *n = cnt;
    k = NULL; /* transferred */
  }
  r = CAIRN_OK;
out:
  cairn_ca_published_keys_free(k, cnt);
  cairn_journal_slot_array_free(rows, nrows);
  return r;
}

void cairn_ca_published_keys_free(struct cairn_ca_published_key *k, size_t n)
{
  if (!k) return;
  for (size_t i = 0; i < n; i++) cairn_key_free(k[i].pub);
  free(k);
}

/* ---- signing ------------------------------------------------------- */

/* spiffe_id must be a workload ID (with a path) in the trust domain. */
static int check_member(const struct cairn_ca *ca, const char *spiffe_id)
{
  struct cairn_id id;
  char detail[DETAIL_MAX];
  int r;

  if (!spiffe_id) return cairn_seterr(CAIRN_ERR_INVAL, "spiffe_id is NULL");
  if ((r = cairn_id_parse_str(spiffe_id, &id))) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    return cairn_seterr(r, "spiffe_id: %s", detail);
  }
  if (!cairn_id_member_of(&id, ca->td))
    return cairn_seterr(CAIRN_ERR_POLICY, "%s is not in trust domain %s",
                        id.str, ca->td);
  if (cairn_id_is_td(&id))
    return cairn_seterr(CAIRN_ERR_POLICY, "%s has no path", id.str);
  return CAIRN_OK;
}

/* The active slot of kind, when it can sign at now. */
static int active_slot(struct cairn_ca *ca, enum cairn_ca_kind kind,
                       int64_t now, struct ca_slot **out)
{
  struct ca_slot *s = &slots_of(ca, kind)[0];
  char tb[32];

  *out = NULL;
  if (!s->used)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "no active %s",
                        kind_label(kind));
  if (now >= s->not_after)
    return cairn_seterr(CAIRN_ERR_EXPIRED, "the active %s expired at %s",
                        kind_label(kind), tfmt(s->not_after, tb, sizeof tb));
  *out = s;
  return CAIRN_OK;
}

/* *chain = c + the slot's chain up to, not including, the root. */
static int chain_with(const struct ca_slot *s, struct cairn_cert *c,
                      struct cairn_cert_list **chain)
{
  struct cairn_cert_list *l = NULL;
  int r;

  if ((r = cairn_cert_list_new(&l))) goto fail;
  if ((r = cairn_cert_list_push(l, c))) goto fail;
  c = NULL; /* owned by l */
  if (!s->self_signed)
    for (size_t i = 0; i < cairn_cert_list_count(s->chain); i++)
      if ((r = cairn_cert_list_push_copy(l, cairn_cert_list_at(s->chain, i))))
        goto fail;
  *chain = l;
  return CAIRN_OK;
fail:
  cairn_cert_free(c);
  cairn_cert_list_free(l);
  return r;
}

int cairn_ca_sign_x509_svid(struct cairn_ca *ca, const struct cairn_key *pub,
                            const char *spiffe_id, const char *const *dns,
                            size_t n_dns, int64_t ttl,
                            struct cairn_cert_list **chain)
{
  struct cairn_cert_template t;
  struct cairn_cert *leaf = NULL;
  struct ca_slot *s;
  int64_t now = (int64_t)cairn_now();
  int r;

  if (chain) *chain = NULL;
  if (!ca || !pub || !chain || (n_dns && !dns))
    return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL argument");
  if ((r = check_member(ca, spiffe_id))) return r;
  if (ttl <= 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "X509-SVID ttl must be > 0");
  if ((r = active_slot(ca, CAIRN_CA_X509, now, &s))) return r;
  memset(&t, 0, sizeof t);
  t.kind = CAIRN_CERT_LEAF;
  t.spiffe_id = spiffe_id;
  t.dns_names = dns;
  t.n_dns = n_dns;
  t.common_name = n_dns ? dns[0] : NULL;
  t.now = (time_t)now;
  t.ttl = ttl;
  t.path_len = -1;
  if ((r = cairn_cert_issue(&t, pub, s->key, cairn_cert_list_at(s->chain, 0),
                            &leaf)))
    return r;
  return chain_with(s, leaf, chain);
}

int cairn_ca_sign_downstream_ca(struct cairn_ca *ca,
                                const struct cairn_key *pub, int64_t ttl,
                                int constrain,
                                struct cairn_cert_list **chain)
{
  struct cairn_cert_template t;
  struct cairn_cert *c = NULL;
  struct ca_slot *s;
  int64_t now = (int64_t)cairn_now();
  int r;

  if (chain) *chain = NULL;
  if (!ca || !pub || !chain)
    return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL argument");
  if (ttl <= 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "downstream CA ttl must be > 0");
  if ((r = active_slot(ca, CAIRN_CA_X509, now, &s))) return r;
  memset(&t, 0, sizeof t);
  t.kind = CAIRN_CERT_INTERMEDIATE;
  t.spiffe_id = ca->td_id;
  t.now = (time_t)now;
  t.ttl = ttl;
  t.permitted_td = constrain ? ca->td : NULL;
  t.path_len = -1;
  if ((r = cairn_cert_issue(&t, pub, s->key, cairn_cert_list_at(s->chain, 0),
                            &c)))
    return r;
  return chain_with(s, c, chain);
}

int cairn_ca_sign_jwt_svid(struct cairn_ca *ca, const char *spiffe_id,
                           const char *const *aud, size_t naud, int64_t ttl,
                           char **token, int64_t *exp)
{
  struct ca_slot *s;
  int64_t now = (int64_t)cairn_now(), e;
  int r;

  if (token) *token = NULL;
  if (exp) *exp = 0;
  if (!ca || !token) return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL argument");
  if ((r = check_member(ca, spiffe_id))) return r;
  if (ttl <= 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "JWT-SVID ttl must be > 0");
  if ((r = active_slot(ca, CAIRN_CA_JWT, now, &s))) return r;
  e = ttl > s->not_after - now ? s->not_after : now + ttl;
  if ((r = cairn_jwt_sign_iss(s->key, s->id, ca->jwt_issuer, spiffe_id, aud,
                              naud, (time_t)now, (time_t)e, token)))
    return r;
  if (exp) *exp = e;
  return CAIRN_OK;
}

int cairn_ca_add_jwt_key(struct cairn_ca *ca, const char *kid,
                         const struct cairn_key *pub, int64_t not_after)
{
  struct cairn_journal_slot j;
  struct cairn_key *p = NULL;
  const struct cairn_key *have;
  struct ext_jwt ext;
  uint8_t *spki = NULL;
  size_t spki_len = 0;
  int64_t row = 0, now = (int64_t)cairn_now();
  char tb[32], detail[DETAIL_MAX];
  int r = CAIRN_ERR_INTERNAL;

  if (!ca || !kid || !pub)
    return cairn_seterr(CAIRN_ERR_INVAL, "ca: NULL argument");
  if (!kid[0] || strlen(kid) > CAIRN_JWT_KID_MAX)
    return cairn_seterr(CAIRN_ERR_INVAL, "kid must be 1..%d bytes",
                        CAIRN_JWT_KID_MAX);
  for (const char *c = kid; *c; c++)
    if (*c <= 0x20 || *c >= 0x7f)
      return cairn_seterr(CAIRN_ERR_INVAL, "kid must be printable ASCII");
  if (not_after <= now)
    return cairn_seterr(CAIRN_ERR_EXPIRED, "JWT key %s expired at %s", kid,
                        tfmt(not_after, tb, sizeof tb));
  if ((r = bundle_load(ca))) return r;
  if ((have = cairn_bundle_jwt_find(ca->bundle, kid))) {
    if (cairn_key_public_equal(have, pub) == 1) return CAIRN_OK;
    return cairn_seterr(CAIRN_ERR_EXISTS,
                        "the bundle holds another key with kid %s", kid);
  }
  if ((r = cairn_key_public(pub, &p)) ||
      (r = cairn_key_export_public_der(p, &spki, &spki_len)))
    goto out;
  memset(&j, 0, sizeof j);
  j.slot_id = CA_SLOT_PUBLISHED;
  j.kind = CAIRN_CA_JWT;
  j.status = CAIRN_CA_OLD; /* never a slot of this server */
  j.not_before = now;
  j.not_after = not_after;
  j.public_key = spki;
  j.public_key_len = spki_len;
  j.key_ref = CA_SLOT_PUBLISHED;
  j.kid = (char *)kid; /* only read by the store */
  if ((r = cairn_store_journal_insert(ca->st, &j, &row))) goto out;
  ext.kid = kid;
  ext.pub = p;
  if ((r = bundle_sync(ca, &ext, NULL))) {
    snprintf(detail, sizeof detail, "%s", cairn_errdetail());
    if (cairn_store_journal_delete(ca->st, row))
      CAIRN_LOGW(CA_LOG, "journal: %s", cairn_errdetail());
    r = cairn_seterr(r, "%s", detail);
    goto out;
  }
  CAIRN_LOGI(CA_LOG, "JWT key of a downstream server added: kid=%s "
                     "not_after=%s",
             kid, tfmt(not_after, tb, sizeof tb));
  r = CAIRN_OK;
out:
  cairn_key_free(p);
  free(spki);
  return r;
}
