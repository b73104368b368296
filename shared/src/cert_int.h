/* shared/src/cert_int.h - the policy-free certificate encoder behind
 * cairn_cert_issue(). Never installed; used by cert.c and by white-box
 * tests and test tools that must craft certificates cairn_cert_issue()
 * refuses to make (two URI SANs, a leaf signing a leaf, a leaf outside
 * NameConstraints...). Production code must call cairn_cert_issue().
 */
#ifndef CAIRN_CERT_INT_H
#define CAIRN_CERT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cairn/cert.h"

/* Exactly what goes into the certificate; nothing is checked against
 * SPIFFE policy (only encodability). */
struct cairn__cert_spec {
  int is_ca;                 /* basicConstraints cA (always critical) */
  int path_len;              /* CA only: >= 0 writes pathLenConstraint */
  unsigned key_usage;        /* CAIRN_KU_* bits (critical); 0 = none */
  int eku_tls;               /* 1: EKU serverAuth + clientAuth */
  const char *const *uris;   /* URI SANs, in order */
  size_t n_uris;
  const char *const *dns;    /* DNS SANs, in order */
  size_t n_dns;
  const char *common_name;   /* subject CN after O=SPIFFE; NULL = none */
  time_t not_before, not_after;
  const char *permitted_td;  /* critical URI NameConstraints; NULL = none */
  /* Test hooks: replace the computed key identifiers, append raw
   * Extension TLVs. Zero/NULL = normal behaviour. */
  const uint8_t *skid, *akid;
  size_t skid_len, akid_len;
  const uint8_t *extra_ext;
  size_t extra_ext_len;
};

/* Encodes and signs. issuer == NULL makes a self-issued certificate
 * (issuer Name = subject Name, AKID = own SKID). Otherwise the issuer
 * Name is copied byte-exact from issuer's subject and AKID from issuer's
 * SKID (or computed from issuer_key when issuer has none). issuer_key must
 * hold a private key. *out: cairn_cert_free(). */
int cairn__cert_encode(const struct cairn__cert_spec *s,
                       const struct cairn_key *subject_pub,
                       const struct cairn_key *issuer_key,
                       const struct cairn_cert *issuer,
                       struct cairn_cert **out);

#endif
