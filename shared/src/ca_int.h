/* shared/src/ca_int.h - internals of the CA manager (ca.c, ca_upstream.c).
 * Never installed. */
#ifndef CAIRN_CA_INT_H
#define CAIRN_CA_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/bundle.h"
#include "cairn/ca.h"
#include "cairn/cert.h"
#include "cairn/id.h"
#include "cairn/key.h"
#include "cairn/store.h"

#define CA_LOG "ca"
#define CA_DAY ((int64_t)86400)
/* Largest upstream certificate or bundle file read. */
#define CA_UPSTREAM_FILE_MAX (1024 * 1024)
/* slot_id of journal rows that record JWT keys published by downstream
 * servers (cairn_ca_add_jwt_key); such rows have no key file. */
#define CA_SLOT_PUBLISHED "published"

/* One authority (X.509 CA or JWT key) in the current or next slot. */
struct ca_slot {
  int used;
  enum cairn_ca_status status;        /* CAIRN_CA_PREPARED / _ACTIVE */
  int64_t row;                        /* journal row ID */
  char slot_id[2];                    /* "A" or "B" */
  char key_ref[CAIRN_STORE_NAME_MAX + 1];
  int64_t not_before, not_after;
  struct cairn_key *key;              /* key pair */
  /* X.509: the CA certificate first, then the certificates between it and
   * a root (none for a self-signed root). */
  struct cairn_cert_list *chain;
  int self_signed;
  char id[129];                       /* X.509: SKID hex; JWT: kid */
};

/* Upstream material: the signing chain (cert + intermediates that are no
 * roots), its key (disk only) and the roots for the bundle. */
struct ca_upstream {
  struct cairn_cert *cert;            /* signs new intermediates */
  struct cairn_key *key;
  struct cairn_cert_list *intermediates;  /* non-root certs of the cert
                                           * file, the signing cert first
                                           * when it is no root */
  struct cairn_cert_list *roots;
};

struct cairn_ca {
  char td[CAIRN_TD_MAX + 1];
  char td_id[CAIRN_TD_MAX + 16];      /* "spiffe://<td>" */
  char *keys_dir;                     /* NULL for KM_MEMORY */
  enum cairn_key_type key_type;
  int64_t ca_ttl;
  enum cairn_ca_key_manager km;
  int upstream;                       /* 0 self-signed, 1 disk, 2 callback */
  char *up_cert_path, *up_key_path, *up_bundle_path;
  cairn_ca_upstream_fn up_fn;
  cairn_ca_publish_jwt_fn publish_fn;
  void *up_arg;
  char *common_name;
  char *jwt_issuer;     /* "iss" of minted JWT-SVIDs, NULL = none */
  struct cairn_store *st;

  /* The latest upstream roots (disk: from the last load; callback: from
   * the last signing or cairn_ca_set_upstream_bundle()), kept in the
   * bundle while unexpired. May be NULL. */
  struct cairn_cert_list *up_roots;
  /* Callback mode: the upstream's bundle the own one follows
   * (cairn_ca_set_upstream_bundle), NULL before the first. */
  struct cairn_bundle *up_bundle;
  /* Callback mode, asynchronous answers (see cairn/ca.h): the key of the
   * X.509 CA the upstream is asked to sign, and the JWT key being
   * published (with its kid and validity), offered again at the next
   * attempt. NULL when nothing is pending. */
  struct cairn_key *pend_x509;
  struct cairn_key *pend_jwt;
  char pend_jwt_kid[129];
  int64_t pend_jwt_not_before, pend_jwt_not_after;

  struct ca_slot x509[2];             /* [0] current, [1] next */
  struct ca_slot jwt[2];

  /* Cached copy of the stored bundle; its sequence is the stored one. */
  struct cairn_bundle *bundle;
  int bundle_stored;                  /* 0: no row in the store yet */
};

void cairn__ca_upstream_clear(struct ca_upstream *u);
/* 1 when c is self-issued and self-signed by key identifier (issuer Name
 * == subject Name, AKID absent or equal to the SKID). */
int cairn__ca_cert_self_signed(const struct cairn_cert *c);
/* Reads and checks the UpstreamAuthority "disk" files of ca into *u. */
int cairn__ca_upstream_load(const struct cairn_ca *ca, struct ca_upstream *u);
/* Issues the next X.509 CA: a self-signed root, an intermediate signed by
 * the disk upstream, or one from the upstream callback. On success *chain
 * holds the CA certificate then the intermediates up to (not including) a
 * root, and *roots (upstream modes; NULL when self-signed) the roots. */
int cairn__ca_mint_x509(struct cairn_ca *ca, const struct cairn_key *key,
                        struct cairn_cert_list **chain,
                        struct cairn_cert_list **roots);
/* 1 when l holds a certificate equal to c. */
int cairn__ca_in_list(const struct cairn_cert_list *l,
                      const struct cairn_cert *c);
/* min(ca_ttl / 6, 7 days): the least life a new authority must have. */
int64_t cairn__ca_min_life(const struct cairn_ca *ca);

#endif
