/* agent_state.c - the agent's files in data_dir (see agent_state.h). */
#include "agent_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn/bundle.h"
#include "cairn/cert.h"
#include "cairn/msg.h"
#include "cairn/err.h"
#include "cairn/key.h"
#include "cairn/log.h"
#include "cairn/util.h"

#define MOD "agent"

/* ---- SVID objects ------------------------------------------------------- */

int ea_svid_new(struct cairn_cert_list *chain, struct cairn_key *key,
                struct ea_svid **out)
{
  const struct cairn_cert *leaf;
  struct ea_svid *s = NULL;
  int r = CAIRN_ERR_INTERNAL;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "no output");
  *out = NULL;
  if (!chain || cairn_cert_list_count(chain) == 0)
    return cairn_seterr(CAIRN_ERR_INVAL, "empty SVID chain");
  if (!key || !cairn_key_has_private(key))
    return cairn_seterr(CAIRN_ERR_INVAL, "SVID key has no private part");
  if (!(s = calloc(1, sizeof *s))) return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  leaf = cairn_cert_list_at(chain, 0);
  if (cairn_cert_spiffe_id(leaf, &s->id) != CAIRN_OK) {
    r = cairn_seterr(CAIRN_ERR_POLICY, "SVID has no single SPIFFE ID");
    goto out;
  }
  if (!cairn_cert_matches_key(leaf, key)) {
    r = cairn_seterr(CAIRN_ERR_POLICY, "SVID does not match its key");
    goto out;
  }
  if ((r = cairn_cert_serial_hex(leaf, s->serial, sizeof s->serial)))
    goto out;
  s->not_before = cairn_cert_not_before(leaf);
  s->not_after = cairn_cert_not_after(leaf);
  s->chain = chain;
  s->key = key;
  *out = s;
  s = NULL; /* transferred, with chain and key */
  r = CAIRN_OK;
out:
  free(s);
  return r;
}

void ea_svid_free(struct ea_svid *s)
{
  if (!s) return;
  cairn_cert_list_free(s->chain);
  cairn_key_free(s->key);
  free(s);
}

int ea_svid_pem(const struct ea_svid *s, char **chain, size_t *chain_len,
                char **key, size_t *key_len)
{
  char *c = NULL;
  size_t cl = 0;
  int r;

  *chain = *key = NULL;
  *chain_len = *key_len = 0;
  if ((r = cairn_cert_list_to_pem(s->chain, &c, &cl))) return r;
  if ((r = cairn_key_export_private_pem(s->key, key, key_len))) {
    free(c);
    return r;
  }
  *chain = c;
  *chain_len = cl;
  return CAIRN_OK;
}

/* ---- file names ---------------------------------------------------------- */

char *ea_path_join(const char *dir, const char *name)
{
  size_t dl = strlen(dir), nl = strlen(name);
  char *p;

  while (dl > 1 && dir[dl - 1] == '/') dl--;
  if (!(p = malloc(dl + 1 + nl + 1))) return NULL;
  memcpy(p, dir, dl);
  p[dl] = '/';
  memcpy(p + dl + 1, name, nl + 1);
  return p;
}

int ea_files_init(struct ea_files *f, const char *data_dir,
                  const char *keys_dir)
{
  memset(f, 0, sizeof *f);
  if (!data_dir || !data_dir[0])
    return cairn_seterr(CAIRN_ERR_INVAL, "no data_dir");
  if (!(f->svid = ea_path_join(data_dir, EA_STATE_SVID_FILE)) ||
      !(f->bundle = ea_path_join(data_dir, EA_STATE_BUNDLE_FILE)) ||
      (keys_dir &&
       (!(f->key = ea_path_join(keys_dir, EA_STATE_KEY_FILE)) ||
        !(f->key_next = ea_path_join(keys_dir, EA_STATE_KEY_FILE
                                     EA_STATE_KEY_NEXT_SUFFIX))))) {
    ea_files_clear(f);
    return cairn_seterr(CAIRN_ERR_NOMEM, NULL);
  }
  return CAIRN_OK;
}

void ea_files_clear(struct ea_files *f)
{
  if (!f) return;
  free(f->svid);
  free(f->key);
  free(f->key_next);
  free(f->bundle);
  memset(f, 0, sizeof *f);
}

/* ---- SVID files ---------------------------------------------------------- */

/* Loads the key at path when it matches leaf: CAIRN_OK with *out,
 * CAIRN_ERR_POLICY when it is another key, or the load error. */
static int load_matching_key(const char *path, const struct cairn_cert *leaf,
                             struct cairn_key **out)
{
  struct cairn_key *k = NULL;
  int r;

  *out = NULL;
  if ((r = cairn_key_load(path, &k))) return r;
  if (!cairn_cert_matches_key(leaf, k)) {
    cairn_key_free(k);
    return cairn_seterr(CAIRN_ERR_POLICY, "%s is not the key of the SVID",
                        path);
  }
  *out = k;
  return CAIRN_OK;
}

int ea_state_load_svid(const struct ea_files *f, struct ea_svid **out)
{
  struct cairn_cert_list *chain = NULL;
  struct cairn_key *key = NULL;
  uint8_t *pem = NULL;
  size_t len = 0;
  int r = CAIRN_ERR_INTERNAL, rk;

  if (!out) return cairn_seterr(CAIRN_ERR_INVAL, "no output");
  *out = NULL;
  if (!f->key)
    return cairn_seterr(CAIRN_ERR_NOT_FOUND, "KeyManager \"memory\" keeps no "
                        "SVID on disk");
  if ((r = cairn_file_read(f->svid, EA_STATE_CHAIN_PEM_MAX, &pem, &len)))
    goto out;
  if ((r = cairn_cert_list_parse_pem((const char *)pem, len, &chain))) {
    r = cairn_seterr(r, "%s: %s", f->svid, cairn_errdetail());
    goto out;
  }
  if (cairn_cert_list_count(chain) == 0 ||
      cairn_cert_list_count(chain) > CAIRN_CERT_CHAIN_MAX) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "%s: expected 1 to %d certificates",
                     f->svid, CAIRN_CERT_CHAIN_MAX);
    goto out;
  }

  rk = load_matching_key(f->key, cairn_cert_list_at(chain, 0), &key);
  if (rk == CAIRN_OK) {
    /* A .next left by a save interrupted before the chain was written. */
    if (unlink(f->key_next) == 0)
      CAIRN_LOGI(MOD, "removed %s left by an interrupted renewal",
                 f->key_next);
  } else if (rk == CAIRN_ERR_PERM) {
    r = rk;
    goto out;
  } else {
    char why[300];
    int rn;
    snprintf(why, sizeof why, "%s", cairn_errdetail());
    rn = load_matching_key(f->key_next, cairn_cert_list_at(chain, 0), &key);
    if (rn == CAIRN_ERR_PERM) {
      r = rn;
      goto out;
    }
    if (rn != CAIRN_OK) {
      r = cairn_seterr(CAIRN_ERR_POLICY, "%s has no usable key: %s",
                       f->svid, why);
      goto out;
    }
    /* The save was interrupted after the chain was written: finish it. */
    if (rename(f->key_next, f->key) != 0) {
      r = cairn_seterr(CAIRN_ERR_IO, "rename %s: %s", f->key_next,
                       strerror(errno));
      goto out;
    }
    CAIRN_LOGI(MOD, "completed an interrupted save of %s", f->key);
  }
  if ((r = ea_svid_new(chain, key, out))) {
    r = cairn_seterr(r, "%s: %s", f->svid, cairn_errdetail());
    goto out;
  }
  chain = NULL; /* transferred */
  key = NULL;
  r = CAIRN_OK;
out:
  cairn_cert_list_free(chain);
  cairn_key_free(key);
  free(pem);
  return r;
}

int ea_state_save_svid(const struct ea_files *f, const struct ea_svid *s)
{
  char *pem = NULL;
  size_t len = 0;
  int r;

  if (!f->key) return CAIRN_OK;
  if ((r = cairn_key_save(s->key, f->key_next))) return r;
  if ((r = cairn_cert_list_to_pem(s->chain, &pem, &len))) return r;
  r = cairn_file_write_atomic(f->svid, pem, len, 0644);
  free(pem);
  if (r) return r;
  if (rename(f->key_next, f->key) != 0)
    return cairn_seterr(CAIRN_ERR_IO, "rename %s: %s", f->key_next,
                        strerror(errno));
  return CAIRN_OK;
}

/* ---- bundles --------------------------------------------------------------- */

int ea_state_load_bundle(const struct ea_files *f, const char *td,
                         struct cairn_bundle **out)
{
  uint8_t *json = NULL;
  size_t len = 0;
  int r;

  *out = NULL;
  if ((r = cairn_file_read(f->bundle, CAIRN_BUNDLE_JSON_MAX, &json, &len)))
    return r;
  r = cairn_bundle_parse_json(td, (const char *)json, len, 0, out);
  if (r) r = cairn_seterr(r, "%s: %s", f->bundle, cairn_errdetail());
  free(json);
  return r;
}

int ea_state_save_bundle(const struct ea_files *f,
                         const struct cairn_bundle *b)
{
  char *json = NULL;
  size_t len = 0;
  int r;

  if ((r = cairn_bundle_write_json(b, 0, &json, &len))) return r;
  r = cairn_file_write_atomic(f->bundle, json, len, 0644);
  free(json);
  return r;
}

int ea_bundle_read_file(const char *path, enum ea_bundle_format fmt,
                        const char *td, struct cairn_bundle **out)
{
  struct cairn_bundle *b = NULL;
  uint8_t *data = NULL;
  size_t len = 0;
  int r;

  *out = NULL;
  if ((r = cairn_file_read(path, CAIRN_BUNDLE_JSON_MAX, &data, &len)))
    return r;
  if (fmt == EA_BUNDLE_AUTO)
    fmt = strstr((const char *)data, "-----BEGIN") ? EA_BUNDLE_PEM
                                                   : EA_BUNDLE_SPIFFE;
  if (fmt == EA_BUNDLE_PEM)
    r = cairn_bundle_parse_pem(td, (const char *)data, len, &b);
  else
    r = cairn_bundle_parse_json(td, (const char *)data, len, 0, &b);
  if (r) {
    r = cairn_seterr(r, "%s: not a %s trust bundle: %s", path,
                     fmt == EA_BUNDLE_PEM ? "PEM" : "SPIFFE JSON",
                     cairn_errdetail());
    goto out;
  }
  if (cairn_cert_list_count(cairn_bundle_x509(b)) == 0) {
    r = cairn_seterr(CAIRN_ERR_PARSE, "%s: the bundle holds no X.509 "
                     "authority", path);
    goto out;
  }
  *out = b;
  b = NULL; /* transferred */
  r = CAIRN_OK;
out:
  cairn_bundle_free(b);
  free(data);
  return r;
}

int ea_chain_from_msg(const struct cairn_msg_chain *m,
                      struct cairn_cert_list **out)
{
  return ea_chain_from_msg_named(m, "svid", out);
}

/* Builds a chain from DER certificates of a message. */
int ea_chain_from_msg_named(const struct cairn_msg_chain *m, const char *what,
                            struct cairn_cert_list **out)
{
  struct cairn_cert_list *l = NULL;
  int r;

  *out = NULL;
  if ((r = cairn_cert_list_new(&l))) return r;
  for (size_t i = 0; i < m->n; i++) {
    struct cairn_cert *c = NULL;
    if ((r = cairn_cert_parse_der(m->certs[i].data, m->certs[i].len, &c))) {
      r = cairn_seterr(r, "%s[%zu]: %s", what, i, cairn_errdetail());
      cairn_cert_list_free(l);
      return r;
    }
    if ((r = cairn_cert_list_push(l, c))) {
      cairn_cert_free(c);
      cairn_cert_list_free(l);
      return r;
    }
  }
  *out = l;
  return CAIRN_OK;
}
