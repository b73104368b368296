/* svid.c - `cairn x509 mint` and `cairn jwt mint`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#include "cairn/cert.h"
#include "cairn/csr.h"
#include "cairn/err.h"
#include "cairn/id.h"
#include "cairn/key.h"
#include "cairn/pem.h"
#include "cairn/util.h"

#define F_STR(n, m, h) {n, CLI_STR, m, h, 0, NULL, 0, NULL, 0}
#define F_LIST(n, m, h) {n, CLI_LIST, m, h, 0, NULL, 0, NULL, 0}
#define F_END {NULL, 0, NULL, NULL, 0, NULL, 0, NULL, 0}

#define PATH_MAX_LEN 4096

/* Warns (like spire-server) when the server gave a shorter life than asked;
 * a few seconds of slack cover the time the call took. */
static void warn_capped(const char *what, int32_t ttl, int64_t expires_at)
{
  char buf[32];
  if (ttl > 0 && expires_at + 5 < (int64_t)cairn_now() + ttl)
    fprintf(stderr, "%s lifetime was capped shorter than specified ttl; "
            "expires \"%s\"\n", what, cli_time(expires_at, buf));
}

static int parse_list(const ProtobufCBinaryData *d, size_t n,
                      struct cairn_cert_list **out)
{
  struct cairn_cert_list *l = NULL;
  size_t i;
  int rc;

  *out = NULL;
  if ((rc = cairn_cert_list_new(&l)) != CAIRN_OK) return rc;
  for (i = 0; i < n; i++) {
    struct cairn_cert *cert;
    if ((rc = cairn_cert_parse_der(d[i].data, d[i].len, &cert)) != CAIRN_OK)
      goto fail;
    if ((rc = cairn_cert_list_push(l, cert)) != CAIRN_OK) {
      cairn_cert_free(cert);
      goto fail;
    }
  }
  *out = l;
  return CAIRN_OK;
fail:
  cairn_cert_list_free(l);
  return rc;
}

static json_t *js_list(const ProtobufCBinaryData *d, size_t n)
{
  json_t *a = json_array();
  size_t i;
  for (i = 0; a && i < n; i++)
    if (json_array_append_new(a, cli_js_b64(d[i].data, d[i].len)) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

/* Writes one output file of x509 mint -write. */
static int write_file(const char *dir, const char *name, const char *data,
                      size_t len, mode_t mode, const char *what, char *path)
{
  snprintf(path, PATH_MAX_LEN, "%s/%s", dir, name);
  if (cairn_file_write_atomic(path, data, len, mode) != CAIRN_OK)
    return cli_fail("unable to write %s: %s", what, cairn_errdetail());
  return 0;
}

static int run_x509(struct cli *c)
{
  Cairn__Admin__V1__MintX509SVIDRequest req;
  Cairn__Admin__V1__MintX509SVIDResponse *resp;
  Cairn__Admin__V1__Bundle *b = NULL;
  struct cairn_key *key = NULL;
  struct cairn_cert_list *chain = NULL, *roots = NULL;
  struct cairn_id *id = NULL;
  const ProtobufCBinaryData *rdata;
  struct cli_flag *dns = cli_flag(c, "dns");
  const char *dir = cli_str(c, "write");
  uint8_t *csr = NULL, *kder = NULL;
  char *svid_pem = NULL, *key_pem = NULL, *roots_pem = NULL, label[64];
  char p1[PATH_MAX_LEN], p2[PATH_MAX_LEN], p3[PATH_MAX_LEN];
  size_t csr_len = 0, svid_len = 0, key_len = 0, roots_len = 0, kder_len = 0,
         n_roots, i, off = 0;
  int ret = 1;

  cairn__admin__v1__mint_x509_svidrequest__init(&req);
  if (!cli_isset(c, "spiffeID")) return cli_fail("-spiffeID is required");
  if (cli_check_id("-spiffeID", cli_str(c, "spiffeID"), 1)) return 1;
  for (i = 0; i < dns->n; i++)
    if (cli_check_dns("-dns", dns->list[i])) return 1;
  if (cli_isset(c, "ttl") &&
      cli_parse_ttl("-ttl", cli_str(c, "ttl"), 1, &req.ttl))
    return 1;
  if (dir && !*dir) return cli_fail("-write needs a directory");
  if (dir && strlen(dir) > PATH_MAX_LEN - 16)
    return cli_fail("-write: path too long");

  if (cairn_key_generate(CAIRN_KEY_EC_P256, &key) != CAIRN_OK ||
      cairn_csr_create(key, &csr, &csr_len) != CAIRN_OK) {
    cli_fail("unable to generate a key and CSR: %s", cairn_errdetail());
    goto out;
  }
  req.csr.data = csr;
  req.csr.len = csr_len;
  req.spiffe_id = (char *)cli_str(c, "spiffeID");
  req.n_dns_names = dns->n;
  req.dns_names = (char **)dns->list;
  if (cli_call(c, "SVIDs/MintX509SVID", &req.base,
               &cairn__admin__v1__mint_x509_svidresponse__descriptor,
               (ProtobufCMessage **)&resp, NULL, 0))
    goto out;
  if (resp->n_svid == 0) {
    cli_fail("server response missing SVID chain");
    goto out;
  }
  rdata = resp->root_cas;
  n_roots = resp->n_root_cas;
  if (n_roots == 0) { /* older servers: take the roots from the bundle */
    Cairn__Admin__V1__GetBundleRequest breq;
    cairn__admin__v1__get_bundle_request__init(&breq);
    if (cli_call(c, "Bundles/GetBundle", &breq.base,
                 &cairn__admin__v1__bundle__descriptor,
                 (ProtobufCMessage **)&b, NULL, 0))
      goto out;
    rdata = b->x509_authorities;
    n_roots = b->n_x509_authorities;
  }
  if (n_roots == 0) {
    cli_fail("server response missing X509 authorities");
    goto out;
  }

  /* Check what came back: the chain must verify against the roots, name
   * the requested ID and certify the key generated here. */
  id = malloc(sizeof(*id));
  if (!id) {
    cli_fail("out of memory");
    goto out;
  }
  if (parse_list(resp->svid, resp->n_svid, &chain) != CAIRN_OK ||
      parse_list(rdata, n_roots, &roots) != CAIRN_OK) {
    cli_fail("malformed certificate from the server: %s", cairn_errdetail());
    goto out;
  }
  if (cairn_cert_verify(chain, roots, NULL, 0, 0, id) != CAIRN_OK) {
    cli_fail("the minted X509-SVID does not verify against the roots: %s",
             cairn_errdetail());
    goto out;
  }
  if (strcmp(id->str, req.spiffe_id) != 0 ||
      !cairn_cert_matches_key(cairn_cert_list_at(chain, 0), key)) {
    cli_fail("the server returned an X509-SVID for another ID or key");
    goto out;
  }
  warn_capped("X509-SVID", req.ttl, resp->expires_at);

  if (cairn_cert_list_to_pem(chain, &svid_pem, &svid_len) != CAIRN_OK ||
      cairn_cert_list_to_pem(roots, &roots_pem, &roots_len) != CAIRN_OK ||
      cairn_key_export_pkcs8_pem(key, &key_pem, &key_len) != CAIRN_OK) {
    cli_fail("unable to encode the output: %s", cairn_errdetail());
    goto out;
  }

  if (dir) {
    if (cairn_mkdir_p(dir, 0700) != CAIRN_OK) {
      cli_fail("-write %s: %s", dir, cairn_errdetail());
      goto out;
    }
    if (write_file(dir, "svid.pem", svid_pem, svid_len, 0644, "SVID", p1) ||
        write_file(dir, "key.pem", key_pem, key_len, 0600, "key", p2) ||
        write_file(dir, "bundle.pem", roots_pem, roots_len, 0644, "bundle",
                   p3))
      goto out;
    if (c->json) {
      json_t *o = json_object();
      cli_js_set(o, "svid_path", cli_js_str(p1));
      cli_js_set(o, "key_path", cli_js_str(p2));
      cli_js_set(o, "bundle_path", cli_js_str(p3));
      cli_js_set(o, "expires_at", json_integer(resp->expires_at));
      ret = cli_print_json(o);
      goto out;
    }
    printf("X509-SVID written to ");
    cli_put(p1);
    printf("\nPrivate key written to ");
    cli_put(p2);
    printf("\nRoot CAs written to ");
    cli_put(p3);
    putchar('\n');
    ret = 0;
    goto out;
  }
  if (c->json) {
    json_t *o = json_object();
    if (cairn_pem_next(key_pem, key_len, &off, label, &kder, &kder_len,
                       CAIRN_KEY_DER_MAX) != CAIRN_OK) {
      json_decref(o);
      cli_fail("unable to encode the key: %s", cairn_errdetail());
      goto out;
    }
    cli_js_set(o, "x509_svid", js_list(resp->svid, resp->n_svid));
    cli_js_set(o, "private_key", cli_js_b64(kder, kder_len));
    cli_js_set(o, "root_cas", js_list(rdata, n_roots));
    cli_js_set(o, "expires_at", json_integer(resp->expires_at));
    ret = cli_print_json(o);
    goto out;
  }
  printf("X509-SVID:\n%s\nPrivate key:\n%s\nRoot CAs:\n%s\n", svid_pem,
         key_pem, roots_pem);
  ret = 0;
out:
  cairn_key_free(key);
  cairn_cert_list_free(chain);
  cairn_cert_list_free(roots);
  free(id);
  free(csr);
  free(svid_pem);
  free(roots_pem);
  cairn_freezero(key_pem, key_len);
  cairn_freezero(kder, kder_len);
  return ret;
}

static int run_jwt(struct cli *c)
{
  Cairn__Admin__V1__MintJWTSVIDRequest req;
  Cairn__Admin__V1__MintJWTSVIDResponse *resp;
  struct cli_flag *aud = cli_flag(c, "audience");
  const char *file = cli_str(c, "write");
  size_t i;

  cairn__admin__v1__mint_jwtsvidrequest__init(&req);
  if (!cli_isset(c, "spiffeID")) return cli_fail("-spiffeID is required");
  if (cli_check_id("-spiffeID", cli_str(c, "spiffeID"), 1)) return 1;
  if (!aud->set) return cli_fail("at least one -audience is required");
  for (i = 0; i < aud->n; i++)
    if (!*aud->list[i] || strlen(aud->list[i]) > 1024)
      return cli_fail("invalid -audience \"%.100s\": 1 to 1024 bytes",
                      aud->list[i]);
  if (cli_isset(c, "ttl") &&
      cli_parse_ttl("-ttl", cli_str(c, "ttl"), 1, &req.ttl))
    return 1;
  if (file && !*file) return cli_fail("-write needs a file name");
  req.spiffe_id = (char *)cli_str(c, "spiffeID");
  req.n_audience = aud->n;
  req.audience = (char **)aud->list;
  if (cli_call(c, "SVIDs/MintJWTSVID", &req.base,
               &cairn__admin__v1__mint_jwtsvidresponse__descriptor,
               (ProtobufCMessage **)&resp, NULL, 0))
    return 1;
  if (!resp->token || !*resp->token)
    return cli_fail("server response missing the token");
  warn_capped("JWT-SVID", req.ttl, resp->expires_at);
  if (file) {
    size_t n = strlen(resp->token);
    char *line = cli_alloc(c, n + 2);
    memcpy(line, resp->token, n);
    line[n] = '\n';
    if (cairn_file_write_atomic(file, line, n + 1, 0600) != CAIRN_OK)
      return cli_fail("unable to write the token: %s", cairn_errdetail());
  }
  if (c->json) {
    json_t *o = json_object();
    cli_js_set(o, "token", cli_js_str(resp->token));
    cli_js_set(o, "expires_at", json_integer(resp->expires_at));
    if (file) cli_js_set(o, "path", cli_js_str(file));
    return cli_print_json(o);
  }
  if (file) {
    printf("JWT-SVID written to ");
    cli_put(file);
    putchar('\n');
    return 0;
  }
  cli_put(resp->token);
  putchar('\n');
  return 0;
}

static const struct cli_flag x509_flags[] = {
  F_LIST("dns", "NAME",
         "A DNS name to include in the SVID (the first is also the subject "
         "CN). Can be used more than once."),
  F_STR("spiffeID", "ID", "The SPIFFE ID of the X509-SVID (required)."),
  F_STR("ttl", "TTL",
        "Lifetime of the SVID: seconds or a duration such as 1h (default: "
        "the server's default_x509_svid_ttl). The server caps it at its "
        "CA's lifetime and says so on stderr."),
  F_STR("write", "DIR",
        "Write svid.pem, key.pem (mode 0600) and bundle.pem into this "
        "directory (created 0700 when missing) instead of printing them."),
  F_END
};

static const struct cli_flag jwt_flags[] = {
  F_LIST("audience", "AUD",
         "An audience (aud claim) of the token (at least one; can be used "
         "more than once)."),
  F_STR("spiffeID", "ID", "The SPIFFE ID of the JWT-SVID (required)."),
  F_STR("ttl", "TTL",
        "Lifetime of the token: seconds or a duration such as 5m (default: "
        "the server's default_jwt_svid_ttl)."),
  F_STR("write", "FILE",
        "Write the token into this file (mode 0600) instead of printing "
        "it."),
  F_END
};

const struct cli_cmd cli_svid_cmds[] = {
  {"x509 mint", "Mints an X509-SVID", "-spiffeID ID [flags]",
   "Generates a P-256 key pair locally, sends a CSR for it to the server "
   "and prints (or writes) the X509-SVID the server signs, its private "
   "key (PKCS#8) and the trust domain's root CAs. The private key never "
   "leaves this process except into the output. The CLI checks that the "
   "SVID verifies against the roots before it prints anything. No "
   "registration entry is needed: minting is an admin operation.",
   "  cairn x509 mint -spiffeID spiffe://example.org/test -write ./svid\n"
   "  openssl verify -CAfile ./svid/bundle.pem ./svid/svid.pem\n",
   x509_flags, run_x509, 0},
  {"jwt mint", "Mints a JWT-SVID", "-spiffeID ID -audience AUD... [flags]",
   "Asks the server to sign a JWT-SVID for the SPIFFE ID and audiences and "
   "prints the token. Its signing keys are in `cairn bundle show -format "
   "spiffe`.",
   "  cairn jwt mint -spiffeID spiffe://example.org/test -audience db\n",
   jwt_flags, run_jwt, 0},
  {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0}
};
