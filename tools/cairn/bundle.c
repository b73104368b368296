/* bundle.c - `cairn bundle show|list|set|delete`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#include "cairn/bundle.h"
#include "cairn/err.h"

typedef Cairn__Admin__V1__Bundle Bundle;

#define F_STR(n, m, h) {n, CLI_STR, m, h, 0, NULL, 0, NULL, 0}
#define F_END {NULL, 0, NULL, NULL, 0, NULL, 0, NULL, 0}

enum { FMT_PEM, FMT_SPIFFE };

static int parse_format(struct cli *c, int *out)
{
  const char *f = cli_str(c, "format");
  *out = FMT_PEM;
  if (!f || strcmp(f, "pem") == 0) return 0;
  if (strcmp(f, "spiffe") == 0) {
    *out = FMT_SPIFFE;
    return 0;
  }
  return cli_fail("invalid value \"%.100s\" for -format: use pem or spiffe",
                  f);
}

/* Prints the SPIFFE bundle JSON indented when it parses, as sent
 * otherwise. */
static void print_spiffe_json(const char *s)
{
  json_t *j = json_loads(s ? s : "", 0, NULL);
  char *out = j ? json_dumps(j, JSON_INDENT(4)) : NULL;
  json_decref(j);
  if (out) {
    fputs(out, stdout);
    putchar('\n');
  } else {
    cli_put(s);
    if (s && *s && s[strlen(s) - 1] != '\n') putchar('\n');
  }
  free(out);
}

static int print_bundle(struct cli *c, const Bundle *b, int fmt)
{
  char *pem;
  if (fmt == FMT_SPIFFE) {
    print_spiffe_json(b->spiffe_json);
    return 0;
  }
  if (cli_bundle_pem(c, b, &pem)) return 1;
  fputs(pem, stdout);
  return 0;
}

static int run_show(struct cli *c)
{
  Cairn__Admin__V1__GetBundleRequest req;
  Bundle *b;
  int fmt;

  if (parse_format(c, &fmt)) return 1;
  cairn__admin__v1__get_bundle_request__init(&req);
  if (cli_call(c, "Bundles/GetBundle", &req.base,
               &cairn__admin__v1__bundle__descriptor, (ProtobufCMessage **)&b,
               NULL, 0))
    return 1;
  if (c->json) return cli_print_json(cli_js_bundle(b));
  return print_bundle(c, b, fmt);
}

static int run_list(struct cli *c)
{
  Cairn__Admin__V1__ListFederatedBundlesRequest req;
  Cairn__Admin__V1__ListFederatedBundlesResponse *resp;
  size_t i;
  int fmt;

  if (parse_format(c, &fmt)) return 1;
  if (cli_isset(c, "id")) {
    Cairn__Admin__V1__GetFederatedBundleRequest greq;
    const char *td;
    Bundle *b;
    if (cli_check_td(c, "-id", cli_str(c, "id"), &td)) return 1;
    cairn__admin__v1__get_federated_bundle_request__init(&greq);
    greq.trust_domain = (char *)td;
    if (cli_call(c, "Bundles/GetFederatedBundle", &greq.base,
                 &cairn__admin__v1__bundle__descriptor,
                 (ProtobufCMessage **)&b, NULL, 0))
      return 1;
    if (c->json) return cli_print_json(cli_js_bundle(b));
    return print_bundle(c, b, fmt);
  }
  cairn__admin__v1__list_federated_bundles_request__init(&req);
  if (cli_call(c, "Bundles/ListFederatedBundles", &req.base,
               &cairn__admin__v1__list_federated_bundles_response__descriptor,
               (ProtobufCMessage **)&resp, NULL, 0))
    return 1;
  if (c->json) {
    json_t *o = json_object(), *a = json_array();
    for (i = 0; i < resp->n_bundles; i++)
      if (json_array_append_new(a, cli_js_bundle(resp->bundles[i])) != 0)
        return cli_fail("out of memory");
    cli_js_set(o, "bundles", a);
    return cli_print_json(o);
  }
  for (i = 0; i < resp->n_bundles; i++) {
    if (i) putchar('\n');
    printf("****************************************\n* ");
    cli_put(resp->bundles[i]->trust_domain);
    printf("\n****************************************\n");
    if (print_bundle(c, resp->bundles[i], fmt)) return 1;
  }
  return 0;
}

static int run_set(struct cli *c)
{
  Cairn__Admin__V1__SetFederatedBundleRequest req;
  struct cairn_bundle *parsed = NULL;
  const char *td, *path = cli_str(c, "path");
  Bundle *b;
  char *data;
  size_t len;
  int fmt, rc;

  if (parse_format(c, &fmt)) return 1;
  if (!cli_isset(c, "id")) return cli_fail("-id is required");
  if (cli_check_td(c, "-id", cli_str(c, "id"), &td)) return 1;
  if (cli_read_input(c, path ? path : "-", CAIRN_BUNDLE_JSON_MAX, &data,
                     &len))
    return 1;
  /* Check the bundle here so a typo never reaches the server. */
  if (fmt == FMT_PEM)
    rc = cairn_bundle_parse_pem(td, data, len, &parsed);
  else
    rc = cairn_bundle_parse_json(td, data, len, 0, &parsed);
  if (rc != CAIRN_OK)
    return cli_fail("invalid %s bundle in %s: %s",
                    fmt == FMT_PEM ? "PEM" : "SPIFFE",
                    path ? path : "standard input", cairn_errdetail());
  cairn_bundle_free(parsed);
  cairn__admin__v1__set_federated_bundle_request__init(&req);
  req.trust_domain = (char *)td;
  if (fmt == FMT_PEM)
    req.x509_pem = data;
  else
    req.spiffe_json = data;
  if (cli_call(c, "Bundles/SetFederatedBundle", &req.base,
               &cairn__admin__v1__bundle__descriptor, (ProtobufCMessage **)&b,
               NULL, 0))
    return 1;
  if (c->json) return cli_print_json(cli_js_bundle(b));
  printf("bundle set.\n");
  return 0;
}

static int run_delete(struct cli *c)
{
  Cairn__Admin__V1__DeleteFederatedBundleRequest req;
  Cairn__Admin__V1__Empty *resp;
  const char *td;

  if (!cli_isset(c, "id")) return cli_fail("-id is required");
  if (cli_check_td(c, "-id", cli_str(c, "id"), &td)) return 1;
  cairn__admin__v1__delete_federated_bundle_request__init(&req);
  req.trust_domain = (char *)td;
  if (cli_call(c, "Bundles/DeleteFederatedBundle", &req.base,
               &cairn__admin__v1__empty__descriptor,
               (ProtobufCMessage **)&resp, NULL, 0))
    return 1;
  if (c->json) return cli_print_json(json_object());
  printf("bundle deleted.\n");
  return 0;
}

#define H_FORMAT                                                            \
  "pem: the X.509 authorities as PEM certificates (the default); spiffe: " \
  "the SPIFFE bundle JSON (JWKS with the X.509 authorities and JWT keys)."

static const struct cli_flag show_flags[] = {
  F_STR("format", "pem|spiffe", H_FORMAT),
  F_END
};

static const struct cli_flag list_flags[] = {
  F_STR("format", "pem|spiffe", H_FORMAT),
  F_STR("id", "TRUST_DOMAIN", "Show only the bundle of this trust domain."),
  F_END
};

static const struct cli_flag set_flags[] = {
  F_STR("format", "pem|spiffe",
        "Format of the input: pem (concatenated CA certificates, the "
        "default) or spiffe (SPIFFE bundle JSON)."),
  F_STR("id", "TRUST_DOMAIN",
        "The trust domain of the bundle (\"example.org\" or "
        "\"spiffe://example.org\"; required)."),
  F_STR("path", "FILE",
        "Read the bundle from this file instead of standard input."),
  F_END
};

static const struct cli_flag delete_flags[] = {
  F_STR("id", "TRUST_DOMAIN", "The trust domain whose bundle is deleted "
                              "(required)."),
  F_END
};

const struct cli_cmd cli_bundle_cmds[] = {
  {"bundle show", "Prints the server's trust bundle", "[-format pem|spiffe]",
   "Prints the trust bundle of the server's own trust domain: the root "
   "certificates that X509-SVIDs chain to (including a prepared next root "
   "during a CA rotation) and, with -format spiffe, the JWT signing keys.",
   "  cairn bundle show > bundle.pem\n"
   "  cairn bundle show -format spiffe\n",
   show_flags, run_show, 0},
  {"bundle list", "Lists federated bundles", "[-id TRUST_DOMAIN] [flags]",
   "Prints the bundles of other trust domains the server holds, each under "
   "a banner with its trust domain name, or only the one named by -id.",
   "  cairn bundle list\n  cairn bundle list -id partner.org -format "
   "spiffe\n",
   list_flags, run_list, 0},
  {"bundle set", "Creates or replaces a federated bundle",
   "-id TRUST_DOMAIN [-path FILE] [-format pem|spiffe]",
   "Stores the bundle of another trust domain, read from -path or from "
   "standard input. The CLI parses the bundle before sending it.",
   "  cairn bundle set -id partner.org -path partner.pem\n"
   "  curl -s https://partner.org/bundle | cairn bundle set -id partner.org "
   "-format spiffe\n",
   set_flags, run_set, 0},
  {"bundle delete", "Deletes a federated bundle", "-id TRUST_DOMAIN",
   "Deletes the bundle of another trust domain.",
   "  cairn bundle delete -id partner.org\n", delete_flags, run_delete, 0},
  {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0}
};
