/* main.c - `cairn`, the admin CLI of Cairn servers: command dispatch. */
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#include "cairn/util.h"

#ifndef CAIRN_VERSION_STRING
#define CAIRN_VERSION_STRING "unknown"
#endif

static const struct cli_cmd *const tables[] = {
  cli_entry_cmds, cli_token_cmds, cli_bundle_cmds, cli_agent_cmds,
  cli_svid_cmds, cli_misc_cmds, NULL};

/* JSON documents can hold private keys (x509 mint -output json): zeroise
 * every block jansson frees. */
static void *json_alloc(size_t n)
{
  return malloc(n);
}

static void json_release(void *p)
{
  if (p) cairn_memzero(p, malloc_usable_size(p));
  free(p);
}

static int is_help(const char *a)
{
  return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ||
         strcmp(a, "-help") == 0 || strcmp(a, "help") == 0;
}

static void print_help(FILE *o)
{
  size_t t, i;

  fprintf(o,
          "Usage: cairn <command> [<subcommand>] [flags]\n"
          "\n"
          "cairn is the admin CLI of a Cairn server (cairn-cloud). It talks "
          "to the server's\nadmin API over the server's local Unix socket; "
          "its commands and flags follow\nspire-server's, so scripts "
          "written for SPIRE port with few changes.\n"
          "\n"
          "Commands:\n");
  for (t = 0; tables[t]; t++)
    for (i = 0; tables[t][i].name; i++)
      fprintf(o, "  %-16s %s\n", tables[t][i].name, tables[t][i].synopsis);
  fprintf(o,
          "\n"
          "Flags of every command:\n"
          "  -socketPath PATH   the server's admin socket (default\n"
          "                     " CLI_DEFAULT_SOCKET ",\n"
          "                     or $" CLI_SOCKET_ENV " when set)\n"
          "  -output FORMAT     pretty (default) or json\n"
          "  -h, -help          the command's usage\n"
          "\n"
          "Flags take one dash, Go style: -flag value, -flag=value; "
          "booleans -flag or\n-flag=false. Run 'cairn <command> "
          "[<subcommand>] -h' for a command's flags.\n"
          "\n"
          "Exit status: 0 on success, 1 on any error (reported on stderr "
          "as one line\n\"Error: <reason>\"; nothing is changed on the "
          "server when the CLI rejects\nits input).\n"
          "\n"
          "  cairn --version    print the version\n");
}

/* Subcommands of a group ("entry") as "create, show, ...". */
static void group_subcommands(const char *group, char *out, size_t outlen)
{
  size_t t, i, gl = strlen(group), o = 0;
  out[0] = 0;
  for (t = 0; tables[t]; t++)
    for (i = 0; tables[t][i].name; i++) {
      const char *n = tables[t][i].name;
      if (strncmp(n, group, gl) == 0 && n[gl] == ' ' && o < outlen)
        o += (size_t)snprintf(out + o, outlen - o, "%s%s", o ? ", " : "",
                              n + gl + 1);
    }
}

static void print_group_help(const char *group, FILE *o)
{
  size_t t, i, gl = strlen(group);
  fprintf(o, "Usage: cairn %s <subcommand> [flags]\n\nSubcommands:\n",
          group);
  for (t = 0; tables[t]; t++)
    for (i = 0; tables[t][i].name; i++) {
      const char *n = tables[t][i].name;
      if (strncmp(n, group, gl) == 0 && n[gl] == ' ')
        fprintf(o, "  %-10s %s\n", n + gl + 1, tables[t][i].synopsis);
    }
  fprintf(o, "\nRun 'cairn %s <subcommand> -h' for its flags.\n", group);
}

/* Finds the command named by argv[1] (and argv[2]); *used is the number
 * of words taken. */
static const struct cli_cmd *find_cmd(int argc, char **argv, int *used)
{
  size_t t, i, l1 = strlen(argv[1]);

  for (t = 0; tables[t]; t++)
    for (i = 0; tables[t][i].name; i++) {
      const char *n = tables[t][i].name;
      if (strcmp(n, argv[1]) == 0) {
        *used = 1;
        return &tables[t][i];
      }
      if (argc > 2 && strncmp(n, argv[1], l1) == 0 && n[l1] == ' ' &&
          strcmp(n + l1 + 1, argv[2]) == 0) {
        *used = 2;
        return &tables[t][i];
      }
    }
  return NULL;
}

int main(int argc, char **argv)
{
  struct cli c;
  const struct cli_cmd *cmd;
  const char *out, *env;
  char subs[256];
  int used = 0, rc;

  signal(SIGPIPE, SIG_IGN);
  json_set_alloc_funcs(json_alloc, json_release);
  if (argc < 2) {
    print_help(stderr);
    return 1;
  }
  if (is_help(argv[1])) {
    /* "cairn help entry create" is "cairn entry create -h". */
    if (strcmp(argv[1], "help") == 0 && argc > 2) {
      cmd = find_cmd(argc - 1, argv + 1, &used);
      if (cmd) {
        cli_print_usage(cmd, stdout);
        return 0;
      }
      group_subcommands(argv[2], subs, sizeof(subs));
      if (*subs) {
        print_group_help(argv[2], stdout);
        return 0;
      }
      return cli_fail("unknown command \"%s\" (see 'cairn --help')",
                      argv[2]);
    }
    print_help(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-version") == 0 ||
      strcmp(argv[1], "version") == 0) {
    printf("cairn %s\n", CAIRN_VERSION_STRING);
    return 0;
  }
  cmd = find_cmd(argc, argv, &used);
  if (!cmd) {
    group_subcommands(argv[1], subs, sizeof(subs));
    if (!*subs)
      return cli_fail("unknown command \"%s\" (see 'cairn --help')",
                      argv[1]);
    if (argc > 2 && is_help(argv[2])) {
      print_group_help(argv[1], stdout);
      return 0;
    }
    if (argc > 2)
      return cli_fail("unknown subcommand \"%s %s\" (one of: %s)", argv[1],
                      argv[2], subs);
    return cli_fail("missing subcommand: cairn %s <%s>", argv[1], subs);
  }

  memset(&c, 0, sizeof(c));
  c.cmd = cmd;
  rc = cli_parse(&c, argc - 1 - used, argv + 1 + used);
  if (rc) {
    cli_cleanup(&c);
    return rc == 2 ? 0 : 1;
  }
  out = cli_str(&c, "output");
  if (out && strcmp(out, "json") == 0) {
    c.json = 1;
  } else if (out && strcmp(out, "pretty") != 0) {
    cli_cleanup(&c);
    return cli_fail("invalid value \"%.100s\" for -output: use pretty or "
                    "json", out);
  }
  if (!(cmd->opts & CLI_NO_SOCKET)) {
    env = getenv(CLI_SOCKET_ENV);
    c.socket_path = cli_str(&c, "socketPath");
    if (!c.socket_path) c.socket_path = env && *env ? env : CLI_DEFAULT_SOCKET;
    if (!*c.socket_path) {
      cli_cleanup(&c);
      return cli_fail("-socketPath must not be empty");
    }
  }
  rc = cmd->run(&c);
  cli_cleanup(&c);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "Error: cannot write the output\n");
    rc = 1;
  }
  return rc ? 1 : 0;
}
