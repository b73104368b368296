/* entry.c - `cairn entry create|show|update|delete|count`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#include "cairn/id.h"

#define ENTRY_ID_MAX 255
#define LABEL_W 16
#define PAGES_MAX 100000

typedef Cairn__Admin__V1__Entry Entry;
typedef Cairn__Admin__V1__Selector Selector;

/* Flag names of the entry fields, and their names in -data JSON. */
struct names {
  const char *entry_id, *spiffe_id, *parent_id, *selector, *x509_ttl,
      *jwt_ttl, *dns, *federates, *expiry, *hint;
};
static const struct names flag_names = {
  "-entryID", "-spiffeID", "-parentID", "-selector", "-x509SVIDTTL",
  "-jwtSVIDTTL", "-dns", "-federatesWith", "-entryExpiry", "-hint"};
static const struct names json_names = {
  "id", "spiffe_id", "parent_id", "selector", "x509_svid_ttl",
  "jwt_svid_ttl", "dns_names", "federates_with", "expires_at", "hint"};

/* ======================================================================
 * Validation of a whole entry (from flags or from -data)
 * ====================================================================== */

static int check_entry_id(const char *what, const char *s)
{
  size_t n = strlen(s), i;
  if (n == 0 || n > ENTRY_ID_MAX)
    return cli_fail("invalid %s \"%.100s\": 1 to %d characters", what, s,
                    ENTRY_ID_MAX);
  for (i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
      return cli_fail("invalid %s \"%.100s\": only letters, digits, '.', "
                      "'_' and '-' are allowed", what, s);
  }
  return 0;
}

/* Checks what the CLI can know without the server: well-formed IDs, at
 * least one selector, DNS names, trust domains (rewritten to bare names),
 * hint. pre is "" or "entry <i>: ". */
static int check_entry(struct cli *c, const char *pre, const struct names *nm,
                       Entry *e, int need_id)
{
  char what[96];
  size_t i;

#define WHAT(name) (snprintf(what, sizeof(what), "%s%s", pre, (name)), what)
  if (need_id && (!e->id || !*e->id))
    return cli_fail("%s%s is required", pre, nm->entry_id);
  if (e->id && *e->id && check_entry_id(WHAT(nm->entry_id), e->id)) return 1;
  if (!e->spiffe_id || !*e->spiffe_id)
    return cli_fail("%s%s is required", pre, nm->spiffe_id);
  if (cli_check_id(WHAT(nm->spiffe_id), e->spiffe_id, 1)) return 1;
  if (!e->parent_id || !*e->parent_id)
    return cli_fail("%s%s is required", pre, nm->parent_id);
  if (cli_check_id(WHAT(nm->parent_id), e->parent_id, 1)) return 1;
  if (e->n_selectors == 0)
    return cli_fail("%sat least one %s is required", pre, nm->selector);
  for (i = 0; i < e->n_dns_names; i++)
    if (cli_check_dns(WHAT(nm->dns), e->dns_names[i])) return 1;
  if (e->n_federates_with) {
    /* A new array: e's may belong to an unpacked server message. */
    char **fw = cli_array(c, e->n_federates_with, sizeof(char *));
    for (i = 0; i < e->n_federates_with; i++) {
      const char *td;
      if (cli_check_td(c, WHAT(nm->federates), e->federates_with[i], &td))
        return 1;
      fw[i] = (char *)td;
    }
    e->federates_with = fw;
  }
  if (e->hint && *e->hint && cli_check_hint(WHAT(nm->hint), e->hint))
    return 1;
#undef WHAT
  return 0;
}

/* ======================================================================
 * Entries from flags
 * ====================================================================== */

/* The server's own ID in the trust domain of id (for -node). */
static char *server_id_for(struct cli *c, const char *id)
{
  struct cairn_id *p = cli_alloc(c, sizeof(*p));
  char *out;
  if (cairn_id_parse_str(id, p) != 0) return NULL;
  out = cli_alloc(c, p->td_len + 32);
  memcpy(out, p->str, 9 + p->td_len);
  memcpy(out + 9 + p->td_len, "/spire/server", sizeof("/spire/server"));
  return out;
}

/* True when any flag that describes an entry's content was given. */
static int any_entry_flag(struct cli *c)
{
  static const char *const names[] = {
    "spiffeID", "parentID", "selector", "x509SVIDTTL", "jwtSVIDTTL", "dns",
    "federatesWith", "admin", "downstream", "entryExpiry", "hint", "node",
    "entryID", "scope", NULL};
  size_t i;
  for (i = 0; names[i]; i++)
    if (cli_isset(c, names[i])) return 1;
  return 0;
}

enum { APPLY_CREATE, APPLY_PRECHECK, APPLY_UPDATE };

/* Applies the given flags to e. On update, a list flag given once with an
 * empty value clears the list; other flags replace the field.
 * APPLY_PRECHECK checks the flags of an update before the stored entry is
 * known. */
static int apply_flags(struct cli *c, Entry *e, int mode)
{
  int update = mode != APPLY_CREATE;
  struct cli_flag *f;
  size_t i;

  if (cli_isset(c, "entryID")) e->id = (char *)cli_str(c, "entryID");
  if (cli_isset(c, "spiffeID")) e->spiffe_id = (char *)cli_str(c, "spiffeID");
  if (cli_isset(c, "node") && cli_bool(c, "node")) {
    if (cli_isset(c, "parentID"))
      return cli_fail("-node and -parentID cannot be used together");
    if (!e->spiffe_id || !*e->spiffe_id) {
      if (mode != APPLY_PRECHECK) return cli_fail("-spiffeID is required");
    } else {
      if (cli_check_id("-spiffeID", e->spiffe_id, 1)) return 1;
      e->parent_id = server_id_for(c, e->spiffe_id);
    }
  } else if (cli_isset(c, "parentID")) {
    e->parent_id = (char *)cli_str(c, "parentID");
  }
  f = cli_flag(c, "selector");
  if (f->set) {
    e->n_selectors = f->n;
    e->selectors = cli_array(c, f->n, sizeof(*e->selectors));
    for (i = 0; i < f->n; i++)
      if (cli_parse_selector(c, "selector", f->list[i], &e->selectors[i]))
        return 1;
  }
  if (cli_isset(c, "x509SVIDTTL") &&
      cli_parse_ttl("-x509SVIDTTL", cli_str(c, "x509SVIDTTL"), 1,
                    &e->x509_svid_ttl))
    return 1;
  if (cli_isset(c, "jwtSVIDTTL") &&
      cli_parse_ttl("-jwtSVIDTTL", cli_str(c, "jwtSVIDTTL"), 1,
                    &e->jwt_svid_ttl))
    return 1;
  f = cli_flag(c, "dns");
  if (f->set) {
    int clear = update && f->n == 1 && !*f->list[0];
    e->n_dns_names = clear ? 0 : f->n;
    e->dns_names = (char **)f->list;
  }
  f = cli_flag(c, "federatesWith");
  if (f->set) {
    int clear = update && f->n == 1 && !*f->list[0];
    e->n_federates_with = clear ? 0 : f->n;
    e->federates_with = cli_array(c, f->n, sizeof(char *));
    for (i = 0; i < f->n; i++) e->federates_with[i] = (char *)f->list[i];
  }
  if (cli_isset(c, "admin")) e->admin = cli_bool(c, "admin");
  if (cli_isset(c, "downstream")) e->downstream = cli_bool(c, "downstream");
  if (cli_isset(c, "entryExpiry") &&
      cli_parse_int64("-entryExpiry", cli_str(c, "entryExpiry"),
                      &e->expires_at))
    return 1;
  if (cli_isset(c, "hint")) e->hint = (char *)cli_str(c, "hint");
  if (cli_isset(c, "scope")) e->scope = (char *)cli_str(c, "scope");
  return 0;
}

/* ======================================================================
 * Entries from -data (SPIRE's {"entries": [...]} shape)
 * ====================================================================== */

static int js_int(const char *pre, const char *key, json_t *v, int64_t max,
                  int64_t *out)
{
  json_int_t i;
  if (json_is_integer(v)) {
    i = json_integer_value(v);
  } else if (json_is_string(v)) { /* protobuf JSON writes int64 as strings */
    const char *s = json_string_value(v);
    char *end;
    if (!*s || *s < '0' || *s > '9') goto bad;
    i = strtoll(s, &end, 10);
    if (*end) goto bad;
  } else {
    goto bad;
  }
  if (i < 0 || i > max) goto bad;
  *out = i;
  return 0;
bad:
  return cli_fail("%s%s must be an integer from 0 to %lld", pre, key,
                  (long long)max);
}

static int js_string(const char *pre, const char *key, json_t *v,
                     char **out)
{
  if (!json_is_string(v)) return cli_fail("%s%s must be a string", pre, key);
  if (strlen(json_string_value(v)) != json_string_length(v))
    return cli_fail("%s%s contains a NUL character", pre, key);
  *out = (char *)json_string_value(v);
  return 0;
}

static int js_strings(struct cli *c, const char *pre, const char *key,
                      json_t *v, char ***out, size_t *n)
{
  size_t i;
  if (!json_is_array(v)) return cli_fail("%s%s must be an array", pre, key);
  *n = json_array_size(v);
  *out = cli_array(c, *n, sizeof(char *));
  for (i = 0; i < *n; i++)
    if (js_string(pre, key, json_array_get(v, i), &(*out)[i])) return 1;
  return 0;
}

static int js_bool(const char *pre, const char *key, json_t *v,
                   protobuf_c_boolean *out)
{
  if (!json_is_boolean(v))
    return cli_fail("%s%s must be true or false", pre, key);
  *out = json_is_true(v);
  return 0;
}

static int js_selectors(struct cli *c, const char *pre, json_t *v, Entry *e)
{
  char what[64];
  size_t i;

  snprintf(what, sizeof(what), "%sselector", pre);
  if (!json_is_array(v)) return cli_fail("%sselectors must be an array", pre);
  e->n_selectors = json_array_size(v);
  e->selectors = cli_array(c, e->n_selectors, sizeof(*e->selectors));
  for (i = 0; i < e->n_selectors; i++) {
    json_t *s = json_array_get(v, i), *t, *val;
    char *ts, *vs;
    if (json_is_string(s)) {
      if (js_string(pre, "selectors", s, &ts) ||
          cli_parse_selector(c, what, ts, &e->selectors[i]))
        return 1;
      continue;
    }
    if (!json_is_object(s) || json_object_size(s) != 2 ||
        !(t = json_object_get(s, "type")) ||
        !(val = json_object_get(s, "value")))
      return cli_fail("%sselectors[%zu] must be {\"type\": ..., \"value\": "
                      "...}", pre, i);
    if (js_string(pre, "selector type", t, &ts) ||
        js_string(pre, "selector value", val, &vs) ||
        cli_make_selector(c, what, ts, vs, &e->selectors[i]))
      return 1;
  }
  return 0;
}

static int is_key(const char *k, const char *a, const char *b, const char *c)
{
  return strcmp(k, a) == 0 || (b && strcmp(k, b) == 0) ||
         (c && strcmp(k, c) == 0);
}

static int entry_from_json(struct cli *c, size_t idx, json_t *o, Entry *e)
{
  char pre[48];
  const char *k;
  json_t *v;
  int64_t n;

  snprintf(pre, sizeof(pre), "entry %zu: ", idx);
  if (!json_is_object(o)) return cli_fail("%snot a JSON object", pre);
  cairn__admin__v1__entry__init(e);
  json_object_foreach(o, k, v) {
    if (is_key(k, "id", "entry_id", "entryId")) {
      if (js_string(pre, "id", v, &e->id)) return 1;
    } else if (is_key(k, "spiffe_id", "spiffeId", NULL)) {
      if (js_string(pre, "spiffe_id", v, &e->spiffe_id)) return 1;
    } else if (is_key(k, "parent_id", "parentId", NULL)) {
      if (js_string(pre, "parent_id", v, &e->parent_id)) return 1;
    } else if (strcmp(k, "selectors") == 0) {
      if (js_selectors(c, pre, v, e)) return 1;
    } else if (is_key(k, "x509_svid_ttl", "x509SvidTtl", "ttl")) {
      if (js_int(pre, k, v, INT32_MAX, &n)) return 1;
      e->x509_svid_ttl = (int32_t)n;
    } else if (is_key(k, "jwt_svid_ttl", "jwtSvidTtl", NULL)) {
      if (js_int(pre, k, v, INT32_MAX, &n)) return 1;
      e->jwt_svid_ttl = (int32_t)n;
    } else if (is_key(k, "dns_names", "dnsNames", NULL)) {
      if (js_strings(c, pre, k, v, &e->dns_names, &e->n_dns_names)) return 1;
    } else if (is_key(k, "federates_with", "federatesWith", NULL)) {
      if (js_strings(c, pre, k, v, &e->federates_with, &e->n_federates_with))
        return 1;
    } else if (strcmp(k, "admin") == 0) {
      if (js_bool(pre, k, v, &e->admin)) return 1;
    } else if (strcmp(k, "downstream") == 0) {
      if (js_bool(pre, k, v, &e->downstream)) return 1;
    } else if (is_key(k, "expires_at", "expiresAt", "entry_expiry") ||
               strcmp(k, "entryExpiry") == 0) {
      if (js_int(pre, k, v, INT64_MAX, &e->expires_at)) return 1;
    } else if (strcmp(k, "hint") == 0) {
      if (js_string(pre, k, v, &e->hint)) return 1;
    } else if (strcmp(k, "scope") == 0) {
      if (js_string(pre, k, v, &e->scope)) return 1;
    } else if (is_key(k, "revision_number", "revisionNumber", NULL)) {
      if (js_int(pre, k, v, INT64_MAX, &e->revision_number)) return 1;
    } else if (is_key(k, "created_at", "createdAt", "owner")) {
      /* Set by the server; accepted so `entry show -output json` output
       * can be fed back. */
    } else if (is_key(k, "store_svid", "storeSvid", NULL)) {
      if (!json_is_false(v))
        return cli_fail("%sstore_svid is not supported by Cairn", pre);
    } else {
      return cli_fail("%sunknown field \"%.100s\"", pre, k);
    }
  }
  return 0;
}

/* Reads -data into entries (validated). */
static int entries_from_data(struct cli *c, const char *path, int update,
                             Entry ***out, size_t *n)
{
  json_error_t jerr;
  json_t *doc, *arr;
  char *data;
  size_t len, i;
  const char *k;
  json_t *v;

  if (cli_read_input(c, path, CLI_INPUT_MAX, &data, &len)) return 1;
  if (strcmp(path, "-") == 0) path = "standard input";
  doc = cli_own_json(c, json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr));
  if (!doc)
    return cli_fail("cannot parse %s: line %d: %s", path, jerr.line,
                    jerr.text);
  if (!json_is_object(doc))
    return cli_fail("%s: expected an object {\"entries\": [...]}", path);
  json_object_foreach(doc, k, v) {
    if (strcmp(k, "entries") != 0)
      return cli_fail("%s: unknown field \"%.100s\" (expected \"entries\")",
                      path, k);
  }
  arr = json_object_get(doc, "entries");
  if (!json_is_array(arr) || json_array_size(arr) == 0)
    return cli_fail("%s: \"entries\" must be a non-empty array", path);
  *n = json_array_size(arr);
  *out = cli_array(c, *n, sizeof(Entry *));
  for (i = 0; i < *n; i++) {
    char pre[48];
    Entry *e = cli_alloc(c, sizeof(*e));
    snprintf(pre, sizeof(pre), "entry %zu: ", i);
    if (entry_from_json(c, i, json_array_get(arr, i), e) ||
        check_entry(c, pre, &json_names, e, update))
      return 1;
    (*out)[i] = e;
  }
  return 0;
}

/* ======================================================================
 * Printing
 * ====================================================================== */

static void print_entry(const Entry *e)
{
  char buf[64];
  size_t i;

  cli_field(LABEL_W, "Entry ID", e->id);
  cli_field(LABEL_W, "SPIFFE ID", e->spiffe_id);
  cli_field(LABEL_W, "Parent ID", e->parent_id);
  snprintf(buf, sizeof(buf), "%lld", (long long)e->revision_number);
  cli_field(LABEL_W, "Revision", buf);
  if (e->downstream) cli_field(LABEL_W, "Downstream", "true");
  if (e->scope && *e->scope) cli_field(LABEL_W, "Scope", e->scope);
  if (e->x509_svid_ttl == 0) {
    cli_field(LABEL_W, "X509-SVID TTL", "default");
  } else {
    snprintf(buf, sizeof(buf), "%d", (int)e->x509_svid_ttl);
    cli_field(LABEL_W, "X509-SVID TTL", buf);
  }
  if (e->jwt_svid_ttl == 0) {
    cli_field(LABEL_W, "JWT-SVID TTL", "default");
  } else {
    snprintf(buf, sizeof(buf), "%d", (int)e->jwt_svid_ttl);
    cli_field(LABEL_W, "JWT-SVID TTL", buf);
  }
  if (e->expires_at)
    cli_field(LABEL_W, "Expiration time", cli_time(e->expires_at, buf));
  for (i = 0; i < e->n_selectors; i++) {
    printf("%-*s : ", LABEL_W, "Selector");
    cli_put(e->selectors[i]->type);
    putchar(':');
    cli_put(e->selectors[i]->value);
    putchar('\n');
  }
  for (i = 0; i < e->n_federates_with; i++)
    cli_field(LABEL_W, "FederatesWith", e->federates_with[i]);
  for (i = 0; i < e->n_dns_names; i++)
    cli_field(LABEL_W, "DNS name", e->dns_names[i]);
  if (e->admin) cli_field(LABEL_W, "Admin", "true");
  if (e->hint && *e->hint) cli_field(LABEL_W, "Hint", e->hint);
  putchar('\n');
}

static int print_entries(struct cli *c, Entry *const *es, size_t n,
                         int found_line)
{
  size_t i;
  if (c->json) {
    json_t *o = json_object(), *a = json_array();
    for (i = 0; i < n; i++) json_array_append_new(a, cli_js_entry(es[i]));
    cli_js_set(o, "entries", a);
    return cli_print_json(o);
  }
  if (found_line)
    printf("Found %zu %s\n\n", n, n == 1 ? "entry" : "entries");
  for (i = 0; i < n; i++) print_entry(es[i]);
  return 0;
}

static int cmp_str(const char *a, const char *b)
{
  return strcmp(a ? a : "", b ? b : "");
}

static int cmp_entry(const void *pa, const void *pb)
{
  const Entry *a = *(Entry *const *)pa, *b = *(Entry *const *)pb;
  int r = cmp_str(a->spiffe_id, b->spiffe_id);
  if (!r) r = cmp_str(a->parent_id, b->parent_id);
  if (!r) r = cmp_str(a->id, b->id);
  return r;
}

/* ======================================================================
 * Commands
 * ====================================================================== */

static int run_create(struct cli *c)
{
  Cairn__Admin__V1__BatchCreateEntryRequest req;
  Cairn__Admin__V1__BatchCreateEntryResponse *resp;
  Entry *e;

  cairn__admin__v1__batch_create_entry_request__init(&req);
  if (cli_isset(c, "data")) {
    if (any_entry_flag(c))
      return cli_fail("-data cannot be combined with flags describing an "
                      "entry");
    if (entries_from_data(c, cli_str(c, "data"), 0, &req.entries,
                          &req.n_entries))
      return 1;
  } else {
    e = cli_alloc(c, sizeof(*e));
    cairn__admin__v1__entry__init(e);
    if (apply_flags(c, e, APPLY_CREATE) ||
        check_entry(c, "", &flag_names, e, 0))
      return 1;
    req.n_entries = 1;
    req.entries = cli_array(c, 1, sizeof(Entry *));
    req.entries[0] = e;
  }
  if (cli_call(c, "Entries/BatchCreateEntry", &req.base,
               &cairn__admin__v1__batch_create_entry_response__descriptor,
               (ProtobufCMessage **)&resp, NULL, 0))
    return 1;
  return print_entries(c, resp->entries, resp->n_entries, 0);
}

static int run_update(struct cli *c)
{
  Cairn__Admin__V1__BatchUpdateEntryRequest req;
  Cairn__Admin__V1__BatchUpdateEntryResponse *resp;
  Cairn__Admin__V1__GetEntryRequest greq;
  Entry *cur, *e;

  cairn__admin__v1__batch_update_entry_request__init(&req);
  if (cli_isset(c, "data")) {
    if (any_entry_flag(c))
      return cli_fail("-data cannot be combined with flags describing an "
                      "entry");
    if (entries_from_data(c, cli_str(c, "data"), 1, &req.entries,
                          &req.n_entries))
      return 1;
  } else {
    if (!cli_isset(c, "entryID")) return cli_fail("-entryID is required");
    if (check_entry_id("-entryID", cli_str(c, "entryID"))) return 1;
    /* Validate the flags before asking the server anything. */
    e = cli_alloc(c, sizeof(*e));
    cairn__admin__v1__entry__init(e);
    if (apply_flags(c, e, APPLY_PRECHECK)) return 1;
    cairn__admin__v1__get_entry_request__init(&greq);
    greq.id = (char *)cli_str(c, "entryID");
    if (cli_call(c, "Entries/GetEntry", &greq.base,
                 &cairn__admin__v1__entry__descriptor,
                 (ProtobufCMessage **)&cur, NULL, 0))
      return 1;
    /* Start from the stored entry (a shallow copy: the unpacked message
     * keeps owning its strings), then apply the flags on top. */
    *e = *cur;
    if (apply_flags(c, e, APPLY_UPDATE) ||
        check_entry(c, "", &flag_names, e, 1))
      return 1;
    req.n_entries = 1;
    req.entries = cli_array(c, 1, sizeof(Entry *));
    req.entries[0] = e;
  }
  if (cli_call(c, "Entries/BatchUpdateEntry", &req.base,
               &cairn__admin__v1__batch_update_entry_response__descriptor,
               (ProtobufCMessage **)&resp, NULL, 0))
    return 1;
  return print_entries(c, resp->entries, resp->n_entries, 0);
}

static int run_delete(struct cli *c)
{
  Cairn__Admin__V1__BatchDeleteEntryRequest req;
  Cairn__Admin__V1__BatchDeleteEntryResponse *resp;
  struct cli_flag *f = cli_flag(c, "entryID");
  size_t i;

  if (!f->set) return cli_fail("-entryID is required");
  for (i = 0; i < f->n; i++)
    if (check_entry_id("-entryID", f->list[i])) return 1;
  cairn__admin__v1__batch_delete_entry_request__init(&req);
  req.n_ids = f->n;
  req.ids = (char **)f->list;
  if (cli_call(c, "Entries/BatchDeleteEntry", &req.base,
               &cairn__admin__v1__batch_delete_entry_response__descriptor,
               (ProtobufCMessage **)&resp, NULL, 0))
    return 1;
  if (c->json) {
    json_t *o = json_object();
    cli_js_set(o, "ids", cli_js_strings(resp->ids, resp->n_ids));
    return cli_print_json(o);
  }
  for (i = 0; i < resp->n_ids; i++) {
    printf("Deleted entry with ID: ");
    cli_put(resp->ids[i]);
    putchar('\n');
  }
  return 0;
}

/* Builds the filter of show/count from the flags. */
static int make_filter(struct cli *c, Cairn__Admin__V1__EntryFilter **out)
{
  Cairn__Admin__V1__EntryFilter *fl = cli_alloc(c, sizeof(*fl));
  struct cli_flag *f = cli_flag(c, "selector");
  const char *m = cli_str(c, "matchSelectorsOn");
  size_t i;

  cairn__admin__v1__entry_filter__init(fl);
  if (cli_isset(c, "spiffeID")) {
    if (cli_check_id("-spiffeID", cli_str(c, "spiffeID"), 0)) return 1;
    fl->by_spiffe_id = (char *)cli_str(c, "spiffeID");
  }
  if (cli_isset(c, "parentID")) {
    if (cli_check_id("-parentID", cli_str(c, "parentID"), 0)) return 1;
    fl->by_parent_id = (char *)cli_str(c, "parentID");
  }
  fl->match = CAIRN__ADMIN__V1__SELECTOR_MATCH__MATCH_SUPERSET;
  if (m) {
    if (strcmp(m, "exact") == 0)
      fl->match = CAIRN__ADMIN__V1__SELECTOR_MATCH__MATCH_EXACT;
    else if (strcmp(m, "subset") == 0)
      fl->match = CAIRN__ADMIN__V1__SELECTOR_MATCH__MATCH_SUBSET;
    else if (strcmp(m, "superset") == 0)
      fl->match = CAIRN__ADMIN__V1__SELECTOR_MATCH__MATCH_SUPERSET;
    else if (strcmp(m, "any") == 0)
      fl->match = CAIRN__ADMIN__V1__SELECTOR_MATCH__MATCH_ANY;
    else
      return cli_fail("invalid value \"%.100s\" for -matchSelectorsOn: use "
                      "exact, subset, superset or any", m);
    if (!f->set)
      return cli_fail("-matchSelectorsOn needs at least one -selector");
  }
  if (f->set) {
    fl->n_by_selectors = f->n;
    fl->by_selectors = cli_array(c, f->n, sizeof(Selector *));
    for (i = 0; i < f->n; i++)
      if (cli_parse_selector(c, "selector", f->list[i],
                             &fl->by_selectors[i]))
        return 1;
  }
  *out = fl;
  return 0;
}

static int run_show(struct cli *c)
{
  Cairn__Admin__V1__ListEntriesRequest req;
  Cairn__Admin__V1__ListEntriesResponse *resp;
  Entry **all = NULL;
  size_t n = 0, cap = 0, pages = 0, i;

  if (cli_isset(c, "entryID")) {
    Cairn__Admin__V1__GetEntryRequest greq;
    Entry *e;
    if (cli_isset(c, "spiffeID") || cli_isset(c, "parentID") ||
        cli_isset(c, "selector") || cli_isset(c, "matchSelectorsOn"))
      return cli_fail("-entryID cannot be combined with other filters");
    if (check_entry_id("-entryID", cli_str(c, "entryID"))) return 1;
    cairn__admin__v1__get_entry_request__init(&greq);
    greq.id = (char *)cli_str(c, "entryID");
    if (cli_call(c, "Entries/GetEntry", &greq.base,
                 &cairn__admin__v1__entry__descriptor,
                 (ProtobufCMessage **)&e, NULL, 0))
      return 1;
    return print_entries(c, &e, 1, 1);
  }
  cairn__admin__v1__list_entries_request__init(&req);
  if (make_filter(c, &req.filter)) return 1;
  for (;;) {
    if (++pages > PAGES_MAX)
      return cli_fail("the server keeps returning pages; giving up");
    if (cli_call(c, "Entries/ListEntries", &req.base,
                 &cairn__admin__v1__list_entries_response__descriptor,
                 (ProtobufCMessage **)&resp, NULL, 0))
      return 1;
    if (n + resp->n_entries > cap) {
      Entry **na;
      cap = (n + resp->n_entries) * 2;
      na = cli_array(c, cap, sizeof(*na));
      if (n) memcpy(na, all, n * sizeof(*na));
      all = na;
    }
    for (i = 0; i < resp->n_entries; i++) all[n++] = resp->entries[i];
    if (!resp->next_page_token || !*resp->next_page_token) break;
    if (req.page_token && strcmp(req.page_token, resp->next_page_token) == 0)
      return cli_fail("the server returned the same page token twice");
    req.page_token = resp->next_page_token;
  }
  if (n > 1) qsort(all, n, sizeof(*all), cmp_entry);
  return print_entries(c, all, n, 1);
}

static int run_count(struct cli *c)
{
  Cairn__Admin__V1__CountEntriesRequest req;
  Cairn__Admin__V1__CountEntriesResponse *resp;

  cairn__admin__v1__count_entries_request__init(&req);
  if (make_filter(c, &req.filter)) return 1;
  if (cli_call(c, "Entries/CountEntries", &req.base,
               &cairn__admin__v1__count_entries_response__descriptor,
               (ProtobufCMessage **)&resp, NULL, 0))
    return 1;
  if (c->json) {
    json_t *o = json_object();
    cli_js_set(o, "count", json_integer(resp->count));
    return cli_print_json(o);
  }
  printf("%lld registration %s\n", (long long)resp->count,
         resp->count == 1 ? "entry" : "entries");
  return 0;
}

/* ======================================================================
 * Flag tables
 * ====================================================================== */

#define F_STR(n, m, h) {n, CLI_STR, m, h, 0, NULL, 0, NULL, 0}
#define F_BOOL(n, h) {n, CLI_BOOL, NULL, h, 0, NULL, 0, NULL, 0}
#define F_LIST(n, m, h) {n, CLI_LIST, m, h, 0, NULL, 0, NULL, 0}
#define F_END {NULL, 0, NULL, NULL, 0, NULL, 0, NULL, 0}

#define H_ADMIN                                                             \
  "If set, the SPIFFE ID of this entry is granted access to the server's " \
  "admin APIs."
#define H_DNS                                                               \
  "A DNS name to put in X509-SVIDs issued for this entry (the first one "  \
  "is also the subject CN). Can be used more than once."
#define H_DOWNSTREAM                                                        \
  "If set, the entry describes a downstream server (cairn-edge) that may " \
  "mint its own intermediate CA."
#define H_EXPIRY                                                            \
  "When the entry expires and is pruned, in unix seconds (0 = never)."
#define H_FED                                                               \
  "A trust domain (\"example.org\" or \"spiffe://example.org\") whose "    \
  "bundle is delivered with this entry's SVIDs. Can be used more than once."
#define H_HINT "A hint for workloads that receive several SVIDs."
#define H_SCOPE                                                             \
  "Downstream entries only: the ID path scope the downstream server may "  \
  "mint under, e.g. /site/a (that path and everything below it) or "       \
  "/site/a/* (only below it)."
#define H_JWTTTL                                                            \
  "Lifetime of JWT-SVIDs issued for this entry: seconds or a duration "    \
  "such as 5m (0 = the server's default_jwt_svid_ttl)."
#define H_NODE                                                              \
  "If set, the entry applies to matching agents (nodes) instead of "       \
  "workloads: its parent becomes the server ID spiffe://<trust "           \
  "domain>/spire/server."
#define H_X509TTL                                                           \
  "Lifetime of X509-SVIDs issued for this entry: seconds or a duration "   \
  "such as 1h (0 = the server's default_x509_svid_ttl)."
#define H_SEL                                                               \
  "A selector as type:value, for example unix:uid:1000 (the type is "     \
  "everything before the first ':'). Can be used more than once; a "       \
  "workload needs all of an entry's selectors."

static const struct cli_flag create_flags[] = {
  F_BOOL("admin", H_ADMIN),
  F_STR("data", "FILE",
        "Create the entries of a JSON file instead of one entry from flags: "
        "{\"entries\": [{\"spiffe_id\": ..., \"parent_id\": ..., "
        "\"selectors\": [{\"type\": ..., \"value\": ...}], ...}]} as "
        "spire-server reads it; \"-\" reads standard input. All entries are "
        "created or none is."),
  F_LIST("dns", "NAME", H_DNS),
  F_BOOL("downstream", H_DOWNSTREAM),
  F_STR("entryExpiry", "SECONDS", H_EXPIRY),
  F_STR("entryID", "ID",
        "A custom entry ID (letters, digits, '.', '_', '-'); by default the "
        "server generates a UUID."),
  F_LIST("federatesWith", "TRUST_DOMAIN", H_FED),
  F_STR("hint", "HINT", H_HINT),
  F_STR("jwtSVIDTTL", "TTL", H_JWTTTL),
  F_BOOL("node", H_NODE),
  F_STR("parentID", "ID",
        "The SPIFFE ID of the entry's parent: an agent, a node entry, or "
        "the server (spiffe://<trust domain>/spire/server). Required "
        "unless -node is given."),
  F_STR("scope", "PATH", H_SCOPE),
  F_LIST("selector", "TYPE:VALUE", H_SEL " At least one is required."),
  F_STR("spiffeID", "ID",
        "The SPIFFE ID this entry issues (required; must be in the "
        "server's trust domain and have a path)."),
  F_STR("x509SVIDTTL", "TTL", H_X509TTL),
  F_END
};

static const struct cli_flag update_flags[] = {
  F_BOOL("admin", H_ADMIN " Use -admin=false to revoke it."),
  F_STR("data", "FILE",
        "Update the entries of a JSON file instead (same shape as for "
        "entry create; every entry needs its \"id\" and all its fields, "
        "which replace the stored ones). \"-\" reads standard input."),
  F_LIST("dns", "NAME", H_DNS " Replaces the stored list; -dns \"\" "
                              "removes every DNS name."),
  F_BOOL("downstream", H_DOWNSTREAM),
  F_STR("entryExpiry", "SECONDS", H_EXPIRY),
  F_STR("entryID", "ID", "The ID of the entry to update (required)."),
  F_LIST("federatesWith", "TRUST_DOMAIN",
         H_FED " Replaces the stored list; -federatesWith \"\" removes "
         "every trust domain."),
  F_STR("hint", "HINT", H_HINT),
  F_STR("jwtSVIDTTL", "TTL", H_JWTTTL),
  F_BOOL("node", H_NODE),
  F_STR("parentID", "ID", "The new parent SPIFFE ID."),
  F_STR("scope", "PATH", H_SCOPE " -scope \"\" removes it."),
  F_LIST("selector", "TYPE:VALUE", H_SEL " Replaces the stored selectors."),
  F_STR("spiffeID", "ID", "The new SPIFFE ID."),
  F_STR("x509SVIDTTL", "TTL", H_X509TTL),
  F_END
};

static const struct cli_flag delete_flags[] = {
  F_LIST("entryID", "ID",
         "The ID of an entry to delete (required). Can be used more than "
         "once; then all of them are deleted or none is."),
  F_END
};

#define H_MATCH                                                             \
  "How -selector values match an entry's selectors: exact (the same "      \
  "set), subset (the entry's selectors are among the given ones), "        \
  "superset (the entry has all given selectors; the default) or any (at "  \
  "least one in common)."

static const struct cli_flag show_flags[] = {
  F_STR("entryID", "ID", "Show only the entry with this ID."),
  F_STR("matchSelectorsOn", "exact|subset|superset|any", H_MATCH),
  F_STR("parentID", "ID", "Show only entries with this parent ID."),
  F_LIST("selector", "TYPE:VALUE",
         "Show only entries matching these selectors (see "
         "-matchSelectorsOn). Can be used more than once."),
  F_STR("spiffeID", "ID", "Show only entries with this SPIFFE ID."),
  F_END
};

static const struct cli_flag count_flags[] = {
  F_STR("matchSelectorsOn", "exact|subset|superset|any", H_MATCH),
  F_STR("parentID", "ID", "Count only entries with this parent ID."),
  F_LIST("selector", "TYPE:VALUE",
         "Count only entries matching these selectors. Can be used more "
         "than once."),
  F_STR("spiffeID", "ID", "Count only entries with this SPIFFE ID."),
  F_END
};

const struct cli_cmd cli_entry_cmds[] = {
  {"entry create", "Creates registration entries",
   "-spiffeID ID (-parentID ID | -node) -selector TYPE:VALUE... [flags]\n"
   "       cairn entry create -data FILE [flags]",
   "Creates a registration entry from the flags, or every entry of a JSON "
   "file with -data, and prints what the server stored. An entry tells "
   "the server which SPIFFE ID (-spiffeID) to issue to workloads that run "
   "under a parent (-parentID: an agent, a node entry, or the server "
   "itself for node entries) and match all of the entry's selectors."
   "\n\n"
   "The CLI checks the IDs, selectors, TTLs, DNS names and trust domains "
   "before it contacts the server; the server checks that the SPIFFE ID "
   "is in its trust domain, that the parent is known and that no entry "
   "with the same SPIFFE ID, parent and selectors exists. A batch from "
   "-data is created as a whole or not at all; errors then start with "
   "\"entry <i>:\" (counting from 0).",
   "  cairn entry create -parentID spiffe://example.org/spire/agent/"
   "join_token/t1 \\\n"
   "      -spiffeID spiffe://example.org/web -selector unix:uid:1000 \\\n"
   "      -dns web.example.org -x509SVIDTTL 1h\n"
   "  cairn entry create -node -spiffeID spiffe://example.org/rack/a "
   "-selector join_token:t1\n"
   "  cairn entry create -data entries.json\n",
   create_flags, run_create, 0},
  {"entry show", "Displays registration entries", "[flags]",
   "Prints the registration entries that match every given filter (all "
   "entries without filters), sorted by SPIFFE ID, or the one entry named "
   "by -entryID.",
   "  cairn entry show\n"
   "  cairn entry show -parentID spiffe://example.org/spire/agent/"
   "join_token/t1\n"
   "  cairn entry show -selector unix:uid:1000 -matchSelectorsOn exact\n"
   "  cairn entry show -entryID 0f6c5a2e-... -output json\n",
   show_flags, run_show, 0},
  {"entry update", "Updates registration entries",
   "-entryID ID [flags]\n       cairn entry update -data FILE [flags]",
   "Changes the entry named by -entryID. Fields whose flags are given are "
   "replaced; all others keep their stored values (unlike spire-server, "
   "which resets omitted fields). A repeatable flag replaces the whole "
   "list. The update carries the entry's revision, so it fails instead of "
   "overwriting a concurrent change.\n\n"
   "With -data, each entry of the file (which must have its \"id\") "
   "replaces the stored entry completely; all updates succeed or none "
   "does.",
   "  cairn entry update -entryID 0f6c5a2e-... -x509SVIDTTL 2h -dns "
   "web.example.org\n"
   "  cairn entry update -entryID 0f6c5a2e-... -admin=false -dns \"\"\n",
   update_flags, run_update, 0},
  {"entry delete", "Deletes registration entries", "-entryID ID...",
   "Deletes the entries with the given IDs, all of them or none.",
   "  cairn entry delete -entryID 0f6c5a2e-...\n", delete_flags,
   run_delete, 0},
  {"entry count", "Counts registration entries", "[flags]",
   "Prints the number of registration entries that match every given "
   "filter (all entries without filters).",
   "  cairn entry count\n"
   "  cairn entry count -selector unix:uid:1000\n",
   count_flags, run_count, 0},
  {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0}
};
