/* agent.c - `cairn token generate` and `cairn agent list|show|count|evict|
 * ban`. */
#include <string.h>

#include "cli.h"

#define LABEL_W 17
#define PAGES_MAX 100000
#define TOKEN_TTL_DEFAULT "600"
#define TOKEN_MAX 128

typedef Cairn__Admin__V1__Agent Agent;

#define F_STR(n, m, h) {n, CLI_STR, m, h, 0, NULL, 0, NULL, 0}
#define F_END {NULL, 0, NULL, NULL, 0, NULL, 0, NULL, 0}

/* ======================================================================
 * token generate
 * ====================================================================== */

static int run_token(struct cli *c)
{
  Cairn__Admin__V1__CreateJoinTokenRequest req;
  Cairn__Admin__V1__JoinToken *tok;
  const char *ttl = cli_str(c, "ttl");

  cairn__admin__v1__create_join_token_request__init(&req);
  if (cli_parse_ttl("-ttl", ttl ? ttl : TOKEN_TTL_DEFAULT, 0, &req.ttl))
    return 1;
  if (cli_isset(c, "spiffeID")) {
    if (cli_check_id("-spiffeID", cli_str(c, "spiffeID"), 1)) return 1;
    req.agent_id = (char *)cli_str(c, "spiffeID");
  }
  if (cli_isset(c, "token")) {
    const char *t = cli_str(c, "token");
    size_t i, n = strlen(t);
    /* The token becomes a path segment of the agent's SPIFFE ID. */
    if (n == 0 || n > TOKEN_MAX)
      return cli_fail("invalid -token: 1 to %d characters", TOKEN_MAX);
    for (i = 0; i < n; i++)
      if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
            (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_' ||
            t[i] == '.'))
        return cli_fail("invalid -token: only letters, digits, '-', '_' "
                        "and '.' are allowed");
    if (strspn(t, ".") == n)
      return cli_fail("invalid -token: \".\" and \"..\" are not allowed");
    req.token = (char *)t;
  }
  if (cli_call(c, "Agents/CreateJoinToken", &req.base,
               &cairn__admin__v1__join_token__descriptor,
               (ProtobufCMessage **)&tok, NULL, 0))
    return 1;
  if (c->json) {
    json_t *o = json_object();
    cli_js_set(o, "value", cli_js_str(tok->value));
    cli_js_set(o, "expires_at", json_integer(tok->expires_at));
    return cli_print_json(o);
  }
  printf("Token: ");
  cli_put(tok->value);
  putchar('\n');
  return 0;
}

static const struct cli_flag token_flags[] = {
  F_STR("spiffeID", "ID",
        "An alias SPIFFE ID for the agent that attests with this token, "
        "like spire-server's node alias: it is stored with the token and "
        "applied when the agent attests, so workload entries can name it "
        "as their parent before the agent exists."),
  F_STR("token", "VALUE",
        "Use this token value instead of a random UUID (a Cairn extension "
        "for scripted provisioning: letters, digits, '-', '_', '.'; at most "
        "128). A value that exists already is refused."),
  F_STR("ttl", "TTL",
        "How long the token stays valid: seconds or a duration such as 10m "
        "(default 600). A token can be used once."),
  F_END
};

const struct cli_cmd cli_token_cmds[] = {
  {"token generate", "Generates a join token",
   "[-spiffeID ID] [-ttl TTL] [-token VALUE]",
   "Asks the server for a new single-use join token, with which an agent "
   "attests (NodeAttestor \"join_token\"); the agent's SPIFFE ID becomes "
   "spiffe://<trust domain>/spire/agent/join_token/<token>.",
   "  cairn token generate\n"
   "  cairn token generate -ttl 1h -spiffeID spiffe://example.org/rack/a\n",
   token_flags, run_token, 0},
  {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0}
};

/* ======================================================================
 * agents
 * ====================================================================== */

static json_t *js_agent(const Agent *a)
{
  json_t *o = json_object();
  cli_js_set(o, "spiffe_id", cli_js_str(a->spiffe_id));
  cli_js_set(o, "attestation_type", cli_js_str(a->attestation_type));
  cli_js_set(o, "selectors", cli_js_selectors(a->selectors, a->n_selectors));
  cli_js_set(o, "x509svid_serial_number",
             cli_js_str(a->x509svid_serial_number));
  cli_js_set(o, "x509svid_expires_at", json_integer(a->x509svid_expires_at));
  cli_js_set(o, "banned", json_boolean(a->banned));
  cli_js_set(o, "created_at", json_integer(a->created_at));
  cli_js_set(o, "updated_at", json_integer(a->updated_at));
  return o;
}

static void print_agent(const Agent *a, int selectors)
{
  char buf[32];
  size_t i;

  cli_field(LABEL_W, "SPIFFE ID", a->spiffe_id);
  cli_field(LABEL_W, "Attestation type", a->attestation_type);
  if (a->x509svid_expires_at)
    cli_field(LABEL_W, "Expiration time", cli_time(a->x509svid_expires_at,
                                                   buf));
  if (a->banned)
    cli_field(LABEL_W, "Banned", "true");
  else
    cli_field(LABEL_W, "Serial number", a->x509svid_serial_number);
  if (selectors) {
    for (i = 0; i < a->n_selectors; i++) {
      printf("%-*s : ", LABEL_W, "Selector");
      cli_put(a->selectors[i]->type);
      putchar(':');
      cli_put(a->selectors[i]->value);
      putchar('\n');
    }
  }
  putchar('\n');
}

/* -banned true|false -> 1 banned only, 2 not banned; 0 when not given. */
static int parse_banned(struct cli *c, int32_t *out)
{
  const char *b = cli_str(c, "banned");
  *out = 0;
  if (!b) return 0;
  if (strcmp(b, "true") == 0) {
    *out = 1;
  } else if (strcmp(b, "false") == 0) {
    *out = 2;
  } else {
    return cli_fail("invalid value \"%.100s\" for -banned: use true or "
                    "false", b);
  }
  return 0;
}

static int run_list(struct cli *c)
{
  Cairn__Admin__V1__ListAgentsRequest req;
  Cairn__Admin__V1__ListAgentsResponse *resp;
  Agent **all = NULL;
  size_t n = 0, cap = 0, pages = 0, i;

  cairn__admin__v1__list_agents_request__init(&req);
  if (parse_banned(c, &req.by_banned)) return 1;
  if (cli_isset(c, "attestationType"))
    req.by_attestation_type = (char *)cli_str(c, "attestationType");
  for (;;) {
    if (++pages > PAGES_MAX)
      return cli_fail("the server keeps returning pages; giving up");
    if (cli_call(c, "Agents/ListAgents", &req.base,
                 &cairn__admin__v1__list_agents_response__descriptor,
                 (ProtobufCMessage **)&resp, NULL, 0))
      return 1;
    if (n + resp->n_agents > cap) {
      Agent **na;
      cap = (n + resp->n_agents) * 2;
      na = cli_array(c, cap, sizeof(*na));
      if (n) memcpy(na, all, n * sizeof(*na));
      all = na;
    }
    for (i = 0; i < resp->n_agents; i++) all[n++] = resp->agents[i];
    if (!resp->next_page_token || !*resp->next_page_token) break;
    if (req.page_token && strcmp(req.page_token, resp->next_page_token) == 0)
      return cli_fail("the server returned the same page token twice");
    req.page_token = resp->next_page_token;
  }
  if (c->json) {
    json_t *o = json_object(), *a = json_array();
    for (i = 0; i < n; i++)
      if (json_array_append_new(a, js_agent(all[i])) != 0)
        return cli_fail("out of memory");
    cli_js_set(o, "agents", a);
    return cli_print_json(o);
  }
  if (n == 0) {
    printf("No attested agents found\n");
    return 0;
  }
  printf("Found %zu attested %s:\n\n", n, n == 1 ? "agent" : "agents");
  for (i = 0; i < n; i++) print_agent(all[i], 0);
  return 0;
}

static int run_count(struct cli *c)
{
  Cairn__Admin__V1__CountAgentsRequest req;
  Cairn__Admin__V1__CountAgentsResponse *resp;

  cairn__admin__v1__count_agents_request__init(&req);
  if (parse_banned(c, &req.by_banned)) return 1;
  if (cli_isset(c, "attestationType"))
    req.by_attestation_type = (char *)cli_str(c, "attestationType");
  if (cli_call(c, "Agents/CountAgents", &req.base,
               &cairn__admin__v1__count_agents_response__descriptor,
               (ProtobufCMessage **)&resp, NULL, 0))
    return 1;
  if (c->json) {
    json_t *o = json_object();
    cli_js_set(o, "count", json_integer(resp->count));
    return cli_print_json(o);
  }
  printf("%lld attested %s\n", (long long)resp->count,
         resp->count == 1 ? "agent" : "agents");
  return 0;
}

/* show, evict and ban take one -spiffeID. */
static int agent_id_request(struct cli *c, Cairn__Admin__V1__AgentIdRequest *r)
{
  cairn__admin__v1__agent_id_request__init(r);
  if (!cli_isset(c, "spiffeID")) return cli_fail("-spiffeID is required");
  if (cli_check_id("-spiffeID", cli_str(c, "spiffeID"), 1)) return 1;
  r->spiffe_id = (char *)cli_str(c, "spiffeID");
  return 0;
}

static int run_show(struct cli *c)
{
  Cairn__Admin__V1__AgentIdRequest req;
  Agent *a;

  if (agent_id_request(c, &req)) return 1;
  if (cli_call(c, "Agents/GetAgent", &req.base,
               &cairn__admin__v1__agent__descriptor, (ProtobufCMessage **)&a,
               NULL, 0))
    return 1;
  if (c->json) return cli_print_json(js_agent(a));
  printf("Found an attested agent given its SPIFFE ID\n\n");
  print_agent(a, 1);
  return 0;
}

static int id_action(struct cli *c, const char *method, const char *done)
{
  Cairn__Admin__V1__AgentIdRequest req;
  Cairn__Admin__V1__Empty *resp;

  if (agent_id_request(c, &req)) return 1;
  if (cli_call(c, method, &req.base, &cairn__admin__v1__empty__descriptor,
               (ProtobufCMessage **)&resp, NULL, 0))
    return 1;
  if (c->json) return cli_print_json(json_object());
  printf("%s\n", done);
  return 0;
}

static int run_evict(struct cli *c)
{
  return id_action(c, "Agents/DeleteAgent", "Agent evicted successfully");
}

static int run_ban(struct cli *c)
{
  return id_action(c, "Agents/BanAgent", "Agent banned successfully");
}

#define H_TYPE                                                              \
  "Only agents attested with this node attestor (e.g. join_token)."
#define H_BANNED "true: only banned agents; false: only agents not banned."

static const struct cli_flag list_flags[] = {
  F_STR("attestationType", "TYPE", H_TYPE),
  F_STR("banned", "true|false", H_BANNED),
  F_END
};

static const struct cli_flag id_flags[] = {
  F_STR("spiffeID", "ID", "The SPIFFE ID of the agent (required)."),
  F_END
};

const struct cli_cmd cli_agent_cmds[] = {
  {"agent list", "Lists attested agents", "[flags]",
   "Prints the agents (and downstream servers) that attested to the "
   "server, with the expiry and serial number of their current "
   "X509-SVID.",
   "  cairn agent list\n  cairn agent list -banned true\n", list_flags,
   run_list, 0},
  {"agent show", "Shows the details of an attested agent",
   "-spiffeID ID", "Prints one attested agent, including its selectors.",
   "  cairn agent show -spiffeID spiffe://example.org/spire/agent/"
   "join_token/t1\n",
   id_flags, run_show, 0},
  {"agent count", "Counts attested agents", "[flags]",
   "Prints the number of attested agents matching the filters.",
   "  cairn agent count\n", list_flags, run_count, 0},
  {"agent evict", "Evicts an attested agent", "-spiffeID ID",
   "Deletes the agent's attestation record. The agent can no longer renew "
   "its SVID and must attest again (with a new join token).",
   "  cairn agent evict -spiffeID spiffe://example.org/spire/agent/"
   "join_token/t1\n",
   id_flags, run_evict, 0},
  {"agent ban", "Bans an attested agent", "-spiffeID ID",
   "Bans the agent: it can neither renew its SVID nor attest again with "
   "the same ID until it is evicted.",
   "  cairn agent ban -spiffeID spiffe://example.org/spire/agent/"
   "join_token/t1\n",
   id_flags, run_ban, 0},
  {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0}
};
