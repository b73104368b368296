/* cairn/ca.h - the CA manager of a Cairn server (cloud or edge).
 *
 * A CA manager owns the signing authorities of one trust domain: an X.509
 * CA (the certificate that signs X509-SVIDs) and a JWT signing key, each
 * kept in two slots (current and next) as SPIRE's server does. Every
 * change is written to the store's CA journal (cairn_store_journal_*) and
 * the trust bundle of the trust domain (cairn_store_bundle_*), so a
 * restarted server finds the same authorities again.
 *
 * Rotation (SPIRE's math; the program calls cairn_ca_tick() every
 * CAIRN_CA_TICK seconds). For each kind (X.509 and JWT) with lifetime
 * L = notAfter - notBefore of the current authority:
 *   - no usable current authority: prepare one and activate it at once;
 *   - no next authority and now > notAfter - min(L/2, 30 days): prepare
 *     the next one (new key; new CA certificate or JWT key) and add its
 *     root / JWT public key to the bundle right away;
 *   - now > notAfter - min(L/6, 7 days): activate next (current -> old).
 * With ca_ttl 24h: prepare at 12h, activate at 20h, so a new root is in
 * the bundle 8h before it signs anything. Authorities (roots, JWT keys)
 * whose certificate or key has expired are removed from the bundle. Every
 * bundle change increments its spiffe_sequence.
 *
 * Where the X.509 CA comes from:
 *   - self-signed (no upstream): each X.509 slot is a new self-signed root
 *     (trust domain ID as URI SAN, ca_ttl long); roots go in the bundle.
 *   - UpstreamAuthority "disk": an existing CA certificate + key (and an
 *     optional bundle of roots) signs each slot's intermediate; the bundle
 *     holds the upstream roots (the upstream certificate itself when it is
 *     self-signed). The intermediate's notAfter is capped at the upstream
 *     certificate's. SVID chains are leaf + intermediate + the
 *     certificates of upstream_cert_path that are not self-signed (the
 *     upstream certificate itself when it is an intermediate, then any
 *     further intermediates). The files are read again at every prepare,
 *     so replaced upstream files take effect without a restart.
 *   - an upstream callback (cairn-edge): the callback gets the new key
 *     and returns the signed intermediate chain and the roots. The
 *     callback may answer later (asynchronously, see "Asynchronous
 *     upstream" below); the trust bundle then follows the upstream's
 *     bundle (cairn_ca_set_upstream_bundle()).
 * A new authority with less than its activation threshold of life left
 * (min(ca_ttl/6, 7 days) of the configured ca_ttl) is refused
 * (CAIRN_ERR_POLICY) and not activated (SPIRE #7199); the manager keeps
 * using the current one and retries on the next tick. A prepared one whose
 * life drops below that threshold is discarded. Failed preparations are
 * logged (ERROR) by the manager itself.
 *
 * Key manager: "disk" writes each slot's private key to
 * <keys_dir>/<key_ref>.pem (0600, directory 0700) before the journal
 * row that names it; "memory" keeps keys in memory only, so after a
 * restart the journal's slots are unusable and new authorities are
 * prepared (the old roots stay in the bundle until they expire).
 *
 * Asynchronous upstream (cairn-edge). The callbacks below run on the
 * loop thread inside cairn_ca_tick() and must not block; a callback that
 * has to ask a remote upstream starts the request and returns
 * CAIRN_ERR_AGAIN. The manager then keeps the new key (and, for JWT, the
 * kid and not_after) in memory as "pending" and calls the callback again
 * with the same key at the next preparation attempt (the next tick, or
 * an earlier cairn_ca_tick() the program makes when the answer arrived);
 * the callback answers from the result it received by then, or returns
 * CAIRN_ERR_AGAIN again. Any other error drops the pending key, so the
 * attempt after it starts with a new one. CAIRN_ERR_AGAIN is not logged
 * as a failure. cairn_ca_new() with an upstream callback returns a
 * manager even when the first tick could only start such requests (no
 * active X.509 CA or JWT key yet: check cairn_ca_get_status()); any other
 * failure of the first tick without an active authority is an error, as
 * for the other modes. Pending keys are not persisted: after a restart a
 * new key is asked for.
 *
 * Threads: one thread at a time (the server's loop thread). The manager
 * uses the store it was given (not owned) from that thread only.
 */
#ifndef CAIRN_CA_H
#define CAIRN_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cairn/key.h"

struct cairn_store;
struct cairn_bundle;
struct cairn_cert_list;

#define CAIRN_CA_TICK 10                 /* seconds between ticks */
#define CAIRN_CA_TTL_DEFAULT (24 * 3600) /* ca_ttl */
#define CAIRN_CA_X509_SVID_TTL_DEFAULT 3600
#define CAIRN_CA_JWT_SVID_TTL_DEFAULT 300
#define CAIRN_CA_TTL_MIN 60              /* smallest ca_ttl accepted */

enum cairn_ca_key_manager {
  CAIRN_CA_KM_DISK = 0,   /* default */
  CAIRN_CA_KM_MEMORY = 1
};

/* Upstream signing for cairn-edge. Gets the key pair of a new X.509
 * authority (the callback may sign a CSR with it and must not keep it or
 * any copy of its private part) and the wanted ttl; must return (on
 * CAIRN_OK) the signed intermediate first, followed by any intermediates
 * between it and a root (*chain), and the upstream's current roots
 * (*roots; both owned by the caller of the callback, i.e. the CA manager,
 * which frees them). It may return a shorter lifetime than asked; an
 * unreachable upstream returns CAIRN_ERR_NET, a request still under way
 * CAIRN_ERR_AGAIN (see "Asynchronous upstream"). */
typedef int (*cairn_ca_upstream_fn)(void *arg, const struct cairn_key *key,
                                    int64_t ttl,
                                    struct cairn_cert_list **chain,
                                    struct cairn_cert_list **roots);
/* Publishes a new JWT public key upstream (cairn-edge); CAIRN_OK, or
 * CAIRN_ERR_AGAIN while a request is under way, or an error (the JWT key
 * is then not prepared and the tick retries). */
typedef int (*cairn_ca_publish_jwt_fn)(void *arg, const char *kid,
                                       const struct cairn_key *pub,
                                       int64_t not_after);

struct cairn_ca_opts {
  const char *trust_domain;          /* bare name, required */
  const char *keys_dir;              /* required for KM_DISK; created 0700
                                      * when missing, refused when group or
                                      * other may access it */
  enum cairn_key_type key_type;      /* X.509 CA and JWT keys; 0 = P-256 */
  int64_t ca_ttl;                    /* seconds; 0 = default */
  enum cairn_ca_key_manager key_manager;
  /* UpstreamAuthority "disk" (all NULL = self-signed unless upstream_fn).
   * The key file must be 0600. bundle_path may be NULL (the upstream
   * certificate must then be self-signed). */
  const char *upstream_cert_path;
  const char *upstream_key_path;
  const char *upstream_bundle_path;
  /* Upstream callback (edge). Mutually exclusive with the disk paths. */
  cairn_ca_upstream_fn upstream_fn;
  cairn_ca_publish_jwt_fn publish_jwt_fn;  /* may be NULL */
  void *upstream_arg;
  /* Subject CN for new CA certificates, NULL = none (O=SPIFFE always). */
  const char *ca_common_name;
  /* "iss" claim of minted JWT-SVIDs (SPIRE's jwt_issuer), NULL/"" = none. */
  const char *jwt_issuer;
};

struct cairn_ca;

/* Checks opts (CAIRN_ERR_CONFIG / CAIRN_ERR_INVAL with a detail naming the
 * option), loads the upstream material, reads the journal and the stored
 * bundle, loads the keys of usable slots, and runs a first tick (so a
 * fresh server has an active X.509 CA and JWT key on return). store is not
 * owned and must outlive the manager. *out: cairn_ca_free(). */
int cairn_ca_new(const struct cairn_ca_opts *opts, struct cairn_store *store,
                 struct cairn_ca **out);
/* Zeroises and frees the keys. NULL-safe. */
void cairn_ca_free(struct cairn_ca *ca);

/* One rotation step at cairn_now(). *bundle_changed (may be NULL) is set
 * to 1 when the trust bundle changed (callers push it to subscribers).
 * Errors are returned (and the detail set) but leave the manager usable
 * with its current authorities. */
int cairn_ca_tick(struct cairn_ca *ca, int *bundle_changed);

/* Forced rotation (like spire-server localauthority): prepare a next
 * authority now (CAIRN_ERR_EXISTS when one is prepared already), or
 * activate the prepared one now (CAIRN_ERR_NOT_FOUND when none). */
int cairn_ca_prepare_x509(struct cairn_ca *ca);
int cairn_ca_activate_x509(struct cairn_ca *ca);
int cairn_ca_prepare_jwt(struct cairn_ca *ca);
int cairn_ca_activate_jwt(struct cairn_ca *ca);

/* A copy of the current trust bundle of the own trust domain (X.509 roots
 * and JWT keys, with its sequence). *out: cairn_bundle_free(). */
int cairn_ca_bundle(const struct cairn_ca *ca, struct cairn_bundle **out);
/* The bundle's current sequence number. */
uint64_t cairn_ca_bundle_sequence(const struct cairn_ca *ca);
const char *cairn_ca_trust_domain(const struct cairn_ca *ca);

/* Signs an X509-SVID for pub (a public key, e.g. from a verified CSR) with
 * the active X.509 CA. spiffe_id must be a valid ID with a path in the
 * trust domain; dns may be NULL/0 (the first name is also the CN). ttl
 * (> 0, seconds; callers apply their configured default) is capped at the
 * CA's notAfter. *chain receives the leaf followed by the intermediates up
 * to, not including, the root: cairn_cert_list_free(). CAIRN_ERR_POLICY
 * for an ID outside the trust domain or without a path, the ID parser's
 * CAIRN_ERR_PARSE for a malformed one, CAIRN_ERR_NOT_FOUND when no X.509
 * CA is active (CAIRN_ERR_EXPIRED when it has expired). */
int cairn_ca_sign_x509_svid(struct cairn_ca *ca, const struct cairn_key *pub,
                            const char *spiffe_id, const char *const *dns,
                            size_t n_dns, int64_t ttl,
                            struct cairn_cert_list **chain);

/* Signs an intermediate CA for a downstream server (cairn-edge): CA
 * certificate for pub with the trust domain ID, notAfter capped at the
 * active CA's, and a URI NameConstraints permitting only the trust domain
 * when constrain is non-zero. *chain: the new intermediate followed by the
 * signing chain up to, not including, the root. */
int cairn_ca_sign_downstream_ca(struct cairn_ca *ca,
                                const struct cairn_key *pub, int64_t ttl,
                                int constrain,
                                struct cairn_cert_list **chain);

/* Mints a JWT-SVID for spiffe_id (in the trust domain, with a path; the
 * same errors as above) with the active JWT key: aud 1..CAIRN_JWT_AUD_MAX
 * audiences, ttl seconds (capped at the key's notAfter). *token: free();
 * *exp (may be NULL) its expiry. */
int cairn_ca_sign_jwt_svid(struct cairn_ca *ca, const char *spiffe_id,
                           const char *const *aud, size_t naud, int64_t ttl,
                           char **token, int64_t *exp);

/* Adds a downstream server's JWT public key to the bundle (edge publish).
 * Same kid and key: no-op; same kid, other key: CAIRN_ERR_EXISTS; a
 * not_after already past: CAIRN_ERR_EXPIRED. not_after is kept in a
 * journal row (slot_id "published", status old, no key file), and the key
 * is dropped from the bundle after it. */
int cairn_ca_add_jwt_key(struct cairn_ca *ca, const char *kid,
                         const struct cairn_key *pub, int64_t not_after);

/* State of the authorities for health output ("offline budget"). */
enum cairn_ca_slot_state {
  CAIRN_CA_SLOT_EMPTY = 0,
  CAIRN_CA_SLOT_PREPARED = 1,
  CAIRN_CA_SLOT_ACTIVE = 2
};
struct cairn_ca_slot_info {
  enum cairn_ca_slot_state state;
  int64_t not_before;
  int64_t not_after;
  /* ACTIVE: when the manager starts preparing the next one,
   * not_after - min(L/2, 30 days) for the lifetime L; 0 otherwise. */
  int64_t prepare_at;
  char id[129];        /* X.509: SKID hex; JWT: kid */
};
/* (Named _state, not _status: C struct and enum tags share one namespace
 * and store.h has enum cairn_ca_status.) */
struct cairn_ca_state {
  struct cairn_ca_slot_info x509_current, x509_next;
  struct cairn_ca_slot_info jwt_current, jwt_next;
  uint64_t bundle_sequence;
  size_t bundle_x509_count;
  size_t bundle_jwt_count;
  int upstream;        /* 0 self-signed, 1 disk, 2 callback */
  /* Upstream callback: a preparation waits for the upstream's answer
   * (the callback returned CAIRN_ERR_AGAIN and the key is pending). */
  int x509_pending, jwt_pending;
};
void cairn_ca_get_status(const struct cairn_ca *ca,
                         struct cairn_ca_state *out);

/* ---- cairn-edge: following the upstream's bundle ------------------------- */

/* Gives the manager the upstream's current trust bundle b (same trust
 * domain; copied). From then on the own bundle holds exactly: b's X.509
 * authorities and b's JWT keys, plus the JWT keys of the manager's own
 * live slots and the keys downstream servers published here
 * (cairn_ca_add_jwt_key) while they are unexpired. Roots and keys that
 * leave b leave the own bundle. Writes the bundle when that changed
 * (*changed, may be NULL, set to 1). Only for a manager with an upstream
 * callback (CAIRN_ERR_INVAL otherwise); a bundle of another trust domain
 * or without X.509 authorities is CAIRN_ERR_POLICY. Without a call (e.g.
 * after a restart while the upstream is down) the stored bundle is kept
 * and only pruned as it expires. */
int cairn_ca_set_upstream_bundle(struct cairn_ca *ca,
                                 const struct cairn_bundle *b, int *changed);

/* A JWT key another server published here (cairn_ca_add_jwt_key), for an
 * edge to forward it to its own upstream. */
struct cairn_ca_published_key {
  char kid[129];
  struct cairn_key *pub;   /* public key */
  int64_t not_after;
};
/* The unexpired published keys that are still in the bundle. *out:
 * cairn_ca_published_keys_free(*out, *n) (NULL and 0 when none). */
int cairn_ca_published_keys(struct cairn_ca *ca,
                            struct cairn_ca_published_key **out, size_t *n);
void cairn_ca_published_keys_free(struct cairn_ca_published_key *k,
                                  size_t n);

#endif
