/* Unit tests for the HCL subset config parser (cairn/cfg.h). */
#include "test.h"

#include "cairn/cfg.h"
#include "cairn/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- helpers ---- */

static struct cairn_cfg *parse_len(const char *s, size_t len)
{
  struct cairn_cfg *root = (struct cairn_cfg *)1;
  int r = cairn_cfg_parse_buf("t.conf", s, len, &root);
  if (r != CAIRN_OK) {
    test_fail(__FILE__, __LINE__, "parse failed: %d %s [%s]", r, cairn_errdetail(), s);
    if (root) test_fail(__FILE__, __LINE__, "root not cleared on error");
    return NULL;
  }
  return root;
}

static struct cairn_cfg *parse(const char *s)
{
  return parse_len(s, strlen(s));
}

/* Checks the detail is "t.conf:<line>: ..." and contains want. */
static void check_detail(const char *file, int cline, int line, const char *want)
{
  char prefix[64];
  const char *d = cairn_errdetail();
  snprintf(prefix, sizeof prefix, "t.conf:%d: ", line);
  if (strncmp(d, prefix, strlen(prefix)) != 0)
    test_fail(file, cline, "detail \"%s\" does not start with \"%s\"", d, prefix);
  if (want && !strstr(d, want))
    test_fail(file, cline, "detail \"%s\" lacks \"%s\"", d, want);
}

/* Parsing s must fail with CAIRN_ERR_CONFIG at line, mentioning want. */
static void bad_len_at(const char *file, int cline, const char *s, size_t len,
                       int line, const char *want)
{
  struct cairn_cfg *root = (struct cairn_cfg *)1;
  int r = cairn_cfg_parse_buf("t.conf", s, len, &root);
  if (r != CAIRN_ERR_CONFIG) {
    test_fail(file, cline, "want CONFIG error, got %d (%s) for [%s]", r,
              cairn_errdetail(), s);
    if (r == CAIRN_OK) cairn_cfg_free(root);
    return;
  }
  if (root != NULL) test_fail(file, cline, "root not NULL after error");
  check_detail(file, cline, line, want);
}

#define BAD(s, line, want) bad_len_at(__FILE__, __LINE__, (s), strlen(s), (line), (want))
#define BADN(s, n, line, want) bad_len_at(__FILE__, __LINE__, (s), (n), (line), (want))
#define DETAIL(line, want) check_detail(__FILE__, __LINE__, (line), (want))

static const char *g_spire =
    "# SPIRE-like server configuration\n"                          /* 1 */
    "server {\n"                                                    /* 2 */
    "  bind_address = \"127.0.0.1\"   # comment\n"                 /* 3 */
    "  bind_port = 8081\n"                                          /* 4 */
    "  trust_domain = \"example.org\"\n"                            /* 5 */
    "  ca_ttl = \"24h\"\n"                                          /* 6 */
    "  audit = true\n"                                              /* 7 */
    "  federates_with = [\"spiffe://a.org\", \"spiffe://b.org\",]\n" /* 8 */
    "}\n"                                                           /* 9 */
    "plugins {\n"                                                   /* 10 */
    "  DataStore \"sql\" { plugin_data { database_type = \"sqlite3\""
    "  connection_string = \"/x/db.sqlite3\" } }\n"                 /* 11 */
    "  KeyManager \"disk\" { plugin_data = { keys_path = \"/x/keys.json\" } }\n"
    "  NodeAttestor \"join_token\" { plugin_data {} }\n"            /* 13 */
    "}\n";

/* ---- tests ---- */

static void test_spire_sample(void)
{
  struct cairn_cfg *root = parse(g_spire);
  const struct cairn_cfg *srv, *plugins, *list = NULL, *pd;
  const char *s = NULL;
  int64_t port = 0, ttl = 0;
  int audit = 0;

  if (!root) return;
  CHECK_INT_EQ(cairn_cfg_type(root), CAIRN_CFG_BLOCK);
  CHECK(cairn_cfg_key(root) == NULL);
  CHECK_INT_EQ(cairn_cfg_line(root), 0);
  CHECK_STR_EQ(cairn_cfg_file(root), "t.conf");
  CHECK_INT_EQ(cairn_cfg_count(root), 2);

  srv = cairn_cfg_block(root, "server");
  CHECK(srv != NULL);
  CHECK_INT_EQ(cairn_cfg_line(srv), 2);
  CHECK_OK(cairn_cfg_get_str(srv, "bind_address", &s));
  CHECK_STR_EQ(s, "127.0.0.1");
  CHECK_OK(cairn_cfg_get_int_range(srv, "bind_port", 1, 65535, &port));
  CHECK_INT_EQ(port, 8081);
  CHECK_OK(cairn_cfg_get_str(srv, "trust_domain", &s));
  CHECK_STR_EQ(s, "example.org");
  CHECK_OK(cairn_cfg_get_duration(srv, "ca_ttl", &ttl));
  CHECK_INT_EQ(ttl, 86400);
  CHECK_OK(cairn_cfg_get_bool(srv, "audit", &audit));
  CHECK_INT_EQ(audit, 1);
  CHECK_OK(cairn_cfg_get_strlist(srv, "federates_with", &list));
  CHECK_INT_EQ(cairn_cfg_count(list), 2);
  CHECK_STR_EQ(cairn_cfg_str(cairn_cfg_at(list, 0)), "spiffe://a.org");
  CHECK_STR_EQ(cairn_cfg_str(cairn_cfg_at(list, 1)), "spiffe://b.org");
  CHECK(cairn_cfg_key(cairn_cfg_at(list, 0)) == NULL);
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_at(list, 1)), 8);

  /* Plugins not read yet: the first unknown key is DataStore on line 11. */
  plugins = cairn_cfg_block(root, "plugins");
  CHECK(plugins != NULL);
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  DETAIL(11, "unknown key 'DataStore' in block 'plugins'");

  CHECK_INT_EQ(cairn_cfg_count(plugins), 3);
  for (size_t i = 0; i < cairn_cfg_count(plugins); i++) {
    const struct cairn_cfg *p = cairn_cfg_at(plugins, i);
    CHECK_INT_EQ(cairn_cfg_type(p), CAIRN_CFG_BLOCK);
    CHECK_INT_EQ(cairn_cfg_label_count(p), 1);
    cairn_cfg_mark_used(p);
  }
  CHECK_STR_EQ(cairn_cfg_key(cairn_cfg_at(plugins, 0)), "DataStore");
  CHECK_STR_EQ(cairn_cfg_label(cairn_cfg_at(plugins, 0), 0), "sql");
  CHECK(cairn_cfg_label(cairn_cfg_at(plugins, 0), 1) == NULL);
  CHECK_STR_EQ(cairn_cfg_label(cairn_cfg_at(plugins, 1), 0), "disk");
  CHECK_STR_EQ(cairn_cfg_label(cairn_cfg_at(plugins, 2), 0), "join_token");
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_at(plugins, 2)), 13);

  /* plugin_data of each plugin must be read too. */
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  DETAIL(11, "unknown key 'plugin_data' in block 'plugins.DataStore \"sql\"'");
  pd = cairn_cfg_block(cairn_cfg_at(plugins, 0), "plugin_data");
  CHECK_OK(cairn_cfg_get_str(pd, "database_type", &s));
  CHECK_STR_EQ(s, "sqlite3");
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  DETAIL(11, "unknown key 'connection_string' in block "
             "'plugins.DataStore \"sql\".plugin_data'");
  CHECK_OK(cairn_cfg_get_str(pd, "connection_string", &s));
  CHECK_STR_EQ(s, "/x/db.sqlite3");

  /* The object value with "=" is a block too. */
  CHECK_OK(cairn_cfg_get_block(cairn_cfg_at(plugins, 1), "plugin_data", &pd));
  CHECK_INT_EQ(cairn_cfg_line(pd), 12);
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  DETAIL(12, "unknown key 'keys_path' in block 'plugins.KeyManager \"disk\".plugin_data'");
  CHECK_OK(cairn_cfg_get_str(pd, "keys_path", &s));
  CHECK_STR_EQ(s, "/x/keys.json");

  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  DETAIL(13, "'plugin_data' in block 'plugins.NodeAttestor \"join_token\"'");
  pd = cairn_cfg_block(cairn_cfg_at(plugins, 2), "plugin_data");
  CHECK(pd != NULL);
  CHECK_INT_EQ(cairn_cfg_count(pd), 0);
  CHECK_OK(cairn_cfg_check_unused(root));
  cairn_cfg_free(root);
}

static void test_strings(void)
{
  struct cairn_cfg *root = parse(
      "a = \"q\\\"b\\\\s\\/n\\nt\\tr\\r\"\n"
      "b = \"\\u00e9\\u20AC\\ud83d\\ude00\"\n"
      "c = \"\"\n"
      "d = \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 tab\there\"\n"
      "e = \"${not.interpolated} # not a comment // nor this\"\n"
      "\"quoted key\" = \"x\"\n"
      "f = \"\\u0001\"\n");
  const char *s = NULL;
  if (!root) return;
  CHECK_OK(cairn_cfg_get_str(root, "a", &s));
  CHECK_STR_EQ(s, "q\"b\\s/n\nt\tr\r");
  CHECK_OK(cairn_cfg_get_str(root, "b", &s));
  CHECK_STR_EQ(s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  CHECK_OK(cairn_cfg_get_str(root, "c", &s));
  CHECK_STR_EQ(s, "");
  CHECK_OK(cairn_cfg_get_str(root, "d", &s));
  CHECK_STR_EQ(s, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 tab\there");
  CHECK_OK(cairn_cfg_get_str(root, "e", &s));
  CHECK_STR_EQ(s, "${not.interpolated} # not a comment // nor this");
  CHECK_OK(cairn_cfg_get_str(root, "quoted key", &s));
  CHECK_STR_EQ(s, "x");
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_at(root, 5)), 6);
  CHECK_OK(cairn_cfg_get_str(root, "f", &s));
  CHECK_STR_EQ(s, "\x01");
  CHECK_OK(cairn_cfg_check_unused(root));
  cairn_cfg_free(root);
}

static void test_numbers_bools(void)
{
  struct cairn_cfg *root = parse(
      "i = 42\n"
      "z = 0\n"
      "nz = -0\n"
      "neg = -17\n"
      "max = 9223372036854775807\n"
      "min = -9223372036854775808\n"
      "d = 1.5\n"
      "e = 2e3\n"
      "f = -0.25E-2\n"
      "g = 1.0\n"
      "t = true\n"
      "fa = false\n");
  const struct cairn_cfg *n;
  int64_t v = 0;
  double x = 0;
  int b = -1;
  if (!root) return;
  CHECK_OK(cairn_cfg_get_int(root, "i", &v));
  CHECK_INT_EQ(v, 42);
  CHECK_OK(cairn_cfg_get_int(root, "z", &v));
  CHECK_INT_EQ(v, 0);
  CHECK_OK(cairn_cfg_get_int(root, "nz", &v));
  CHECK_INT_EQ(v, 0);
  CHECK_OK(cairn_cfg_get_int(root, "neg", &v));
  CHECK_INT_EQ(v, -17);
  CHECK_OK(cairn_cfg_get_int(root, "max", &v));
  CHECK(v == INT64_MAX);
  CHECK_OK(cairn_cfg_get_int(root, "min", &v));
  CHECK(v == INT64_MIN);
  CHECK_OK(cairn_cfg_get_num(root, "d", &x));
  CHECK(x == 1.5);
  CHECK_OK(cairn_cfg_get_num(root, "e", &x));
  CHECK(x == 2000.0);
  CHECK_OK(cairn_cfg_get_num(root, "f", &x));
  CHECK(x == -0.0025);
  CHECK_OK(cairn_cfg_get_num(root, "i", &x));
  CHECK(x == 42.0);
  /* A decimal is not an integer, even 1.0; out stays untouched. */
  v = 77;
  CHECK_ERR(cairn_cfg_get_int(root, "d", &v), CAIRN_ERR_CONFIG);
  DETAIL(7, "d: expected an integer, got 1.5");
  CHECK_INT_EQ(v, 77);
  CHECK_ERR(cairn_cfg_get_int(root, "g", &v), CAIRN_ERR_CONFIG);
  DETAIL(10, "g: expected an integer");
  n = cairn_cfg_at(root, 6);
  CHECK_INT_EQ(cairn_cfg_type(n), CAIRN_CFG_NUMBER);
  CHECK_INT_EQ(cairn_cfg_is_int(n), 0);
  CHECK_INT_EQ(cairn_cfg_int(n), 0);
  CHECK(cairn_cfg_num(n) == 1.5);
  CHECK_INT_EQ(cairn_cfg_is_int(cairn_cfg_at(root, 0)), 1);
  CHECK_INT_EQ(cairn_cfg_int(cairn_cfg_at(root, 0)), 42);
  CHECK_OK(cairn_cfg_get_bool(root, "t", &b));
  CHECK_INT_EQ(b, 1);
  CHECK_OK(cairn_cfg_get_bool(root, "fa", &b));
  CHECK_INT_EQ(b, 0);
  CHECK_INT_EQ(cairn_cfg_type(cairn_cfg_at(root, 10)), CAIRN_CFG_BOOL);
  CHECK_INT_EQ(cairn_cfg_bool(cairn_cfg_at(root, 10)), 1);
  /* Ranges. */
  CHECK_ERR(cairn_cfg_get_int_range(root, "i", 1, 10, &v), CAIRN_ERR_CONFIG);
  DETAIL(1, "i: 42 is out of range (1..10)");
  CHECK_ERR(cairn_cfg_get_int_range(root, "neg", 0, 100, &v), CAIRN_ERR_CONFIG);
  DETAIL(4, "neg: -17 is out of range (0..100)");
  CHECK_OK(cairn_cfg_get_int_range(root, "i", 42, 42, &v));
  CHECK_INT_EQ(v, 42);
  cairn_cfg_free(root);
}

static void test_comments_lines(void)
{
  struct cairn_cfg *root = parse(
      "# hash comment\n"
      "// slash comment\n"
      "/* block\n"
      "   comment over lines */ a = 1 /* inline */ b = 2\n"
      "c = /* between */ 3 // trailing\n"
      "/**/d=4#x\n"
      "/* ** / * */e = \"/* not a comment */\"\n"
      "\r\n"
      "f = 5\r\n"
      "# last line without newline");
  if (!root) return;
  CHECK_INT_EQ(cairn_cfg_count(root), 6);
  CHECK_STR_EQ(cairn_cfg_key(cairn_cfg_at(root, 0)), "a");
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_at(root, 0)), 4);
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_at(root, 1)), 4);
  CHECK_INT_EQ(cairn_cfg_int(cairn_cfg_at(root, 2)), 3);
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_at(root, 2)), 5);
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_at(root, 3)), 6);
  CHECK_STR_EQ(cairn_cfg_str(cairn_cfg_at(root, 4)), "/* not a comment */");
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_at(root, 5)), 9);
  cairn_cfg_free(root);
}

static void test_lists(void)
{
  struct cairn_cfg *root = parse(
      "empty = []\n"
      "trail = [1, 2,]\n"
      "multi = [\n"
      "  \"a\",\n"
      "  \"b\"  # comment\n"
      "]\n"
      "nested = [[1, [2]], []]\n"
      "objs = [{ x = 1 }, { y = \"z\" }]\n"
      "mixed = [\"s\", 1, true]\n");
  const struct cairn_cfg *l = NULL, *e;
  if (!root) return;
  CHECK_OK(cairn_cfg_get_strlist(root, "empty", &l));
  CHECK_INT_EQ(cairn_cfg_count(l), 0);
  CHECK_INT_EQ(cairn_cfg_type(l), CAIRN_CFG_LIST);
  l = cairn_cfg_at(root, 1);
  CHECK_INT_EQ(cairn_cfg_count(l), 2);
  CHECK_INT_EQ(cairn_cfg_int(cairn_cfg_at(l, 1)), 2);
  CHECK_OK(cairn_cfg_get_strlist(root, "multi", &l));
  CHECK_INT_EQ(cairn_cfg_count(l), 2);
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_at(l, 0)), 4);
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_at(l, 1)), 5);
  l = cairn_cfg_at(root, 3);
  CHECK_INT_EQ(cairn_cfg_count(l), 2);
  e = cairn_cfg_at(l, 0);
  CHECK_INT_EQ(cairn_cfg_type(e), CAIRN_CFG_LIST);
  CHECK_INT_EQ(cairn_cfg_type(cairn_cfg_at(e, 1)), CAIRN_CFG_LIST);
  CHECK_INT_EQ(cairn_cfg_int(cairn_cfg_at(cairn_cfg_at(e, 1), 0)), 2);
  CHECK_INT_EQ(cairn_cfg_count(cairn_cfg_at(l, 1)), 0);
  CHECK(cairn_cfg_at(l, 2) == NULL);
  /* A list that is not all strings. */
  l = (const struct cairn_cfg *)1;
  CHECK_ERR(cairn_cfg_get_strlist(root, "mixed", &l), CAIRN_ERR_CONFIG);
  DETAIL(9, "mixed: expected a list of strings, element 2 is a number");
  CHECK(l == (const struct cairn_cfg *)1);
  CHECK_ERR(cairn_cfg_get_strlist(root, "objs", &l), CAIRN_ERR_CONFIG);
  DETAIL(8, "element 1 is a block");

  /* Keys inside block elements of a used list must be read too. */
  cairn_cfg_mark_tree_used(cairn_cfg_at(root, 3));
  cairn_cfg_mark_used(cairn_cfg_at(root, 1));
  cairn_cfg_mark_used(cairn_cfg_at(root, 4));
  cairn_cfg_mark_used(cairn_cfg_at(root, 5));
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  DETAIL(8, "unknown key 'x' in block 'objs[0]'");
  {
    const struct cairn_cfg *o = cairn_cfg_at(cairn_cfg_at(root, 4), 1);
    const char *s = NULL;
    int64_t x = 0;
    CHECK_OK(cairn_cfg_get_int(cairn_cfg_at(cairn_cfg_at(root, 4), 0), "x", &x));
    CHECK_INT_EQ(x, 1);
    CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
    DETAIL(8, "unknown key 'y' in block 'objs[1]'");
    CHECK_OK(cairn_cfg_get_str(o, "y", &s));
    CHECK_STR_EQ(s, "z");
  }
  CHECK_OK(cairn_cfg_check_unused(root));
  cairn_cfg_free(root);
}

static void test_blocks_separators(void)
{
  struct cairn_cfg *root = parse(
      "a = 1 b = 2, c = 3,\n"
      "blk \"one\" \"two\" \"\" { x = 1, }\n"
      "\"quoted.block\" { }\n"
      "obj = { k = \"v\" inner { deep = true } }\n"
      "rep { n = 1 }\n"
      "rep { n = 2 }\n"
      "rep = { n = 3 }\n"
      "dotted.key-name_1 = \"ok\"\n"
      "true = false\n");
  const struct cairn_cfg *b, *o;
  const char *s = NULL;
  int v = -1;
  if (!root) return;
  CHECK_INT_EQ(cairn_cfg_count(root), 11);
  b = cairn_cfg_block(root, "blk");
  CHECK(b != NULL);
  CHECK_INT_EQ(cairn_cfg_label_count(b), 3);
  CHECK_STR_EQ(cairn_cfg_label(b, 0), "one");
  CHECK_STR_EQ(cairn_cfg_label(b, 1), "two");
  CHECK_STR_EQ(cairn_cfg_label(b, 2), "");
  CHECK(cairn_cfg_block(root, "quoted.block") != NULL);
  CHECK_OK(cairn_cfg_get_block(root, "obj", &o));
  CHECK_OK(cairn_cfg_get_str(o, "k", &s));
  CHECK_STR_EQ(s, "v");
  CHECK_OK(cairn_cfg_get_bool(cairn_cfg_block(o, "inner"), "deep", &v));
  CHECK_INT_EQ(v, 1);
  /* Repeated blocks: cairn_cfg_block gives the first. */
  b = cairn_cfg_block(root, "rep");
  CHECK_INT_EQ(cairn_cfg_line(b), 5);
  CHECK_OK(cairn_cfg_get_str(root, "dotted.key-name_1", &s));
  CHECK_STR_EQ(s, "ok");
  CHECK_OK(cairn_cfg_get_bool(root, "true", &v));
  CHECK_INT_EQ(v, 0);
  cairn_cfg_free(root);
}

static void test_empty(void)
{
  static const char *inputs[] = {
    "", "   \n\t\r\n", "# only a comment", "/* c */", "// x\n// y\n",
    "\xef\xbb\xbf", "\xef\xbb\xbf# bom then comment\n",
  };
  for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
    struct cairn_cfg *root = parse(inputs[i]);
    CHECK(root != NULL);
    CHECK_INT_EQ(cairn_cfg_count(root), 0);
    CHECK_OK(cairn_cfg_check_unused(root));
    cairn_cfg_free(root);
  }
  {
    struct cairn_cfg *root = NULL;
    CHECK_OK(cairn_cfg_parse_buf(NULL, NULL, 0, &root));
    CHECK_STR_EQ(cairn_cfg_file(root), "<config>");
    cairn_cfg_free(root);
    CHECK_ERR(cairn_cfg_parse_buf("x", NULL, 3, &root), CAIRN_ERR_INVAL);
    CHECK(root == NULL);
  }
  /* A BOM is only skipped at the very start. */
  BAD("a = 1\n\xef\xbb\xbf", 2, "unexpected byte 0xef");
}

static void test_syntax_errors(void)
{
  /* Strings. */
  BAD("a = 1\nb = \"abc", 2, "unterminated string");
  BAD("a = \"abc\ndef\"", 1, "cannot span lines");
  BAD("a = \"x\\q\"", 1, "invalid escape '\\q'");
  BAD("a = \"x\\", 1, "unterminated string");
  BAD("\n\na = \"\\u00\"", 3, "needs 4 hex digits");
  BAD("a = \"\\u0000\"", 1, "\\u0000 is not allowed");
  BAD("a = \"\\udc00\"", 1, "lone low surrogate");
  BAD("a = \"\\ud800\"", 1, "high surrogate without low");
  BAD("a = \"\\ud800\\u0041\"", 1, "high surrogate without low");
  BAD("a = \"\x01\"", 1, "control character 0x01");
  BAD("a = \"\x7f\"", 1, "control character 0x7f");
  BAD("a = \"\xc0\x80\"", 1, "invalid UTF-8");        /* overlong NUL */
  BAD("a = \"\xe0\x80\xaf\"", 1, "invalid UTF-8");    /* overlong '/' */
  BAD("a = \"\xed\xa0\x80\"", 1, "invalid UTF-8");    /* surrogate */
  BAD("a = \"\xf4\x90\x80\x80\"", 1, "invalid UTF-8");/* > U+10FFFF */
  BAD("a = \"\xf5\x80\x80\x80\"", 1, "invalid UTF-8");
  BAD("a = \"\xff\"", 1, "invalid UTF-8");
  BAD("a = \"\x80\"", 1, "invalid UTF-8");
  BAD("a = \"\xc3\"", 1, "invalid UTF-8");            /* truncated */
  BAD("a = \"\xe2\x82\"", 1, "invalid UTF-8");
  BAD("a = <<EOF\nx\nEOF\n", 1, "heredoc");
  /* Comments. */
  BAD("a = 1\n/* open\n\n", 2, "unterminated comment");
  BAD("a = 1 / 2", 1, "unexpected character '/'");
  /* Blocks and structure. */
  BAD("server {\n  a = 1\n", 3, "'{' on line 1 is never closed");
  BAD("a {\n b {\n }\n", 4, "'{' on line 1 is never closed");
  BAD("a = 1\n}\n", 2, "unexpected '}'");
  BAD("a 1", 1, "expected '=' or '{' after key 'a', found number 1");
  BAD("a\n", 2, "expected '=' or '{' after key 'a', found end of file");
  BAD("a \"l\" = 1", 1, "expected '{' after the labels of 'a'");
  BAD("a = ", 1, "unexpected end of file, expected a value");
  BAD("a = }", 1, "expected a value, found '}'");
  BAD("a = =", 1, "expected a value");
  BAD("a = yes", 1, "unexpected 'yes' (string values must be quoted)");
  BAD("= 1", 1, "expected a key, found '='");
  BAD("1 = 1", 1, "expected a key, found number 1");
  BAD("a = 1,, b = 2", 1, "expected a key, found ','");
  BAD(", a = 1", 1, "expected a key");
  BAD("\"\" = 1", 1, "empty key");
  BAD("a = [1 2]", 1, "expected ',' or ']' after a list element, found number 2");
  BAD("a = [1,,2]", 1, "expected a value, found ','");
  BAD("a = [,]", 1, "expected a value");
  BAD("a = [\n1,\n", 3, "'[' on line 1 is never closed");
  BAD("a = [1", 1, "'[' on line 1 is never closed");
  BAD("a = [1 }", 1, "expected ',' or ']'");
  BAD("a = { b = 1 ]", 1, "expected a key, found ']'");
  BAD("a = 1 @", 1, "unexpected character '@'");
  BAD("a = 1\n\n\xff", 3, "unexpected byte 0xff");
  BAD("a\t=\v1", 1, "unexpected byte 0x0b");
  /* Numbers. */
  BAD("ttl = 24h", 1, "invalid number '24h' (durations and other strings must be quoted");
  BAD("a = 0755", 1, "leading zeros");
  BAD("a = -01", 1, "leading zeros");
  BAD("a = 0x1f", 1, "invalid number '0x1f'");
  BAD("a = 1.", 1, "invalid number '1.'");
  BAD("a = 1.2.3", 1, "invalid number");
  BAD("a = 1e", 1, "invalid number '1e'");
  BAD("a = 1e+", 1, "invalid number");
  BAD("a = -", 1, "invalid number '-'");
  BAD("a = --1", 1, "invalid number");
  BAD("a = -x", 1, "invalid number '-x'");
  BAD("a = 9223372036854775808", 1, "out of range");
  BAD("a = -9223372036854775809", 1, "out of range");
  BAD("a = 99999999999999999999999", 1, "out of range");
  BAD("a = 1e999", 1, "out of range");
  BAD("a = -1e999", 1, "out of range");
  BAD("a = 1111111111111111111111111111111111111111111111111111111111111111111", 1,
      "number too long");
  /* A NUL byte anywhere is refused with its line. */
  BADN("a = 1\nb = 2\x00\n", 12, 2, "NUL byte");
  BADN("# c\x00mment\n", 10, 1, "NUL byte");
  BADN("a = \"x\x00y\"", 9, 1, "NUL byte");
}

/* Writes pre, n times open, mid, n times close into buf. */
static void nest(char *buf, size_t len, const char *pre, int n, const char *open,
                 const char *mid, const char *close)
{
  size_t o = (size_t)snprintf(buf, len, "%s", pre);
  for (int i = 0; i < n; i++) o += (size_t)snprintf(buf + o, len - o, "%s", open);
  o += (size_t)snprintf(buf + o, len - o, "%s", mid);
  for (int i = 0; i < n; i++) o += (size_t)snprintf(buf + o, len - o, "%s", close);
  CHECK(o < len);
}

static void test_depth_limits(void)
{
  char buf[1024];
  struct cairn_cfg *root;

  /* 32 nested blocks parse, 33 do not. */
  nest(buf, sizeof buf, "", CAIRN_CFG_DEPTH_MAX, "b {\n", "", "}\n");
  root = parse(buf);
  CHECK(root != NULL);
  cairn_cfg_free(root);
  nest(buf, sizeof buf, "", CAIRN_CFG_DEPTH_MAX + 1, "b {\n", "", "}\n");
  BAD(buf, CAIRN_CFG_DEPTH_MAX + 1, "nesting deeper than 32");

  /* Lists and object values count as levels too. */
  nest(buf, sizeof buf, "a = ", CAIRN_CFG_DEPTH_MAX, "[", "", "]");
  root = parse(buf);
  CHECK(root != NULL);
  cairn_cfg_free(root);
  nest(buf, sizeof buf, "a = ", CAIRN_CFG_DEPTH_MAX + 1, "[", "", "]");
  BAD(buf, 1, "nesting deeper than");
  nest(buf, sizeof buf, "", CAIRN_CFG_DEPTH_MAX / 2, "x = [{", "y = 1", "}]");
  root = parse(buf);
  CHECK(root != NULL);
  cairn_cfg_free(root);
  nest(buf, sizeof buf, "", CAIRN_CFG_DEPTH_MAX / 2, "x = [{", "y = {}", "}]");
  BAD(buf, 1, "nesting deeper than");
  /* Unclosed deep nesting errors cleanly (no leak under ASan). */
  memset(buf, '[', 200);
  memcpy(buf, "a = ", 4);
  buf[200] = 0;
  BAD(buf, 1, "nesting deeper than");

  /* Labels per block. */
  BAD("b \"1\" \"2\" \"3\" \"4\" \"5\" \"6\" \"7\" \"8\" \"9\" {}", 1, "too many labels");
  root = parse("b \"1\" \"2\" \"3\" \"4\" \"5\" \"6\" \"7\" \"8\" {}");
  CHECK(root && cairn_cfg_label_count(cairn_cfg_at(root, 0)) == 8);
  cairn_cfg_free(root);
}

static void test_size_limits(void)
{
  size_t n = CAIRN_CFG_MAX + 1;
  char *big = malloc(n + 1);
  struct cairn_cfg *root = NULL;
  if (!big) return;
  /* Exactly CAIRN_CFG_MAX bytes are fine: one item and a long comment. */
  memset(big, ' ', n);
  memcpy(big, "a = 1 #", 7);
  big[n] = 0;
  CHECK_OK(cairn_cfg_parse_buf("t.conf", big, CAIRN_CFG_MAX, &root));
  CHECK_INT_EQ(cairn_cfg_count(root), 1);
  cairn_cfg_free(root);
  root = (struct cairn_cfg *)1;
  CHECK_ERR(cairn_cfg_parse_buf("t.conf", big, n, &root), CAIRN_ERR_TOO_BIG);
  CHECK(root == NULL);
  CHECK(strstr(cairn_errdetail(), "t.conf") != NULL);

  /* A string as long as the file allows. */
  memset(big, 'x', CAIRN_CFG_MAX);
  memcpy(big, "s = \"", 5);
  big[CAIRN_CFG_MAX - 1] = '"';
  CHECK_OK(cairn_cfg_parse_buf("t.conf", big, CAIRN_CFG_MAX, &root));
  CHECK_INT_EQ(strlen(cairn_cfg_str(cairn_cfg_at(root, 0))), CAIRN_CFG_MAX - 6);
  cairn_cfg_free(root);

  /* Node limit: the list node and its elements count. */
  {
    size_t o = (size_t)snprintf(big, n, "a = [");
    for (int i = 0; i < CAIRN_CFG_NODES_MAX - 1; i++) {
      big[o++] = '1';
      big[o++] = ',';
    }
    big[o++] = ']';
    big[o] = 0;
    root = parse_len(big, o);
    CHECK_INT_EQ(cairn_cfg_count(cairn_cfg_at(root, 0)), CAIRN_CFG_NODES_MAX - 1);
    cairn_cfg_free(root);
    memcpy(big + o - 1, "1]", 3);
    BADN(big, o + 1, 1, "too many items (more than 65536)");
  }
  free(big);
}

static void test_duplicates(void)
{
  BAD("a = 1\nb = 2\na = 3\n", 3, "duplicate key 'a' (first given on line 1");
  BAD("a = 1\n\"a\" = \"x\"\n", 2, "duplicate key 'a' (first given on line 1");
  BAD("a {}\na = 1\n", 2, "duplicate key 'a' (first given on line 1");
  BAD("a = 1\na {}\n", 2, "duplicate key 'a' (first given on line 1");
  BAD("a {}\na {}\na = []\na {}\n", 3, "duplicate key 'a' (first given on line 1");
  BAD("x {\n  y = 1\n  z = 2\n  y = \"s\"\n}\n", 4, "first given on line 2");
  BAD("p { plugin_data { k = 1\n k = 2 } }", 2, "duplicate key 'k' (first given on line 1");
  BAD("l = [{ k = 1, k = 2 }]", 1, "duplicate key 'k'");
  /* The earliest conflicting occurrence is reported. */
  BAD("b = 1\na = 1\na = 2\nb = 2\n", 3, "duplicate key 'a' (first given on line 2");
  {
    /* Blocks (either form) may repeat; the same key in different blocks is
     * no duplicate. */
    struct cairn_cfg *root = parse(
        "KeyManager \"disk\" {}\nKeyManager \"memory\" {}\nKeyManager = {}\n"
        "x { a = 1 }\ny { a = 1 }\n");
    CHECK(root && cairn_cfg_count(root) == 5);
    cairn_cfg_free(root);
  }
}

static void test_block_dup_scalar_line(void)
{
  /* A scalar after repeated blocks names the first block's line. */
  BAD("a {}\na {}\na = []\n", 3, "duplicate key 'a' (first given on line 1");
  /* Repeated blocks after a scalar conflict with the scalar. */
  BAD("\na = 1\na {}\na {}\n", 3, "(first given on line 2");
}

static void test_unused(void)
{
  struct cairn_cfg *root = parse(
      "known = 1\n"
      "extra = 2\n"
      "server {\n"
      "  bind_port = 1\n"
      "  typo_key = 2\n"
      "}\n"
      "ignored { deep { x = 1 } }\n");
  int64_t v;
  if (!root) return;
  CHECK_OK(cairn_cfg_get_int(root, "known", &v));
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  DETAIL(2, "unknown key 'extra' at top level");
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:2: unknown key 'extra' at top level");
  cairn_cfg_mark_used(cairn_cfg_at(root, 1));
  /* An unread block is reported itself, not its children. */
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  DETAIL(3, "unknown key 'server' at top level");
  CHECK_OK(cairn_cfg_get_int(cairn_cfg_block(root, "server"), "bind_port", &v));
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:5: unknown key 'typo_key' in block 'server'");
  /* Checking a subtree only looks below it. */
  CHECK_ERR(cairn_cfg_check_unused(cairn_cfg_block(root, "server")), CAIRN_ERR_CONFIG);
  DETAIL(5, "typo_key");
  cairn_cfg_mark_used(cairn_cfg_at(cairn_cfg_block(root, "server"), 1));
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  DETAIL(7, "unknown key 'ignored' at top level");
  /* mark_used on a block covers nothing below it... */
  cairn_cfg_mark_used(cairn_cfg_at(root, 3));
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  DETAIL(7, "unknown key 'deep' in block 'ignored'");
  /* ...mark_tree_used covers everything. */
  cairn_cfg_mark_tree_used(cairn_cfg_at(root, 3));
  CHECK_OK(cairn_cfg_check_unused(root));
  CHECK_OK(cairn_cfg_check_unused(NULL));
  cairn_cfg_free(root);

  /* Type mismatches still mark the node (the error is the mismatch). */
  root = parse("a = \"x\"\n");
  if (!root) return;
  CHECK_ERR(cairn_cfg_get_int(root, "a", &v), CAIRN_ERR_CONFIG);
  CHECK_OK(cairn_cfg_check_unused(root));
  cairn_cfg_free(root);
}

static void test_getters(void)
{
  struct cairn_cfg *root = parse(
      "s = \"str\"\n"
      "n = 5\n"
      "b = true\n"
      "l = [\"x\"]\n"
      "blk { }\n");
  const char *s = "default";
  const struct cairn_cfg *o = NULL;
  int64_t v = 99;
  double x = 1.25;
  int bv = 7;
  if (!root) return;
  /* Absent keys: NOT_FOUND, out untouched, nothing marked. */
  CHECK_ERR(cairn_cfg_get_str(root, "missing", &s), CAIRN_ERR_NOT_FOUND);
  CHECK_STR_EQ(s, "default");
  CHECK_ERR(cairn_cfg_get_int(root, "missing", &v), CAIRN_ERR_NOT_FOUND);
  CHECK_INT_EQ(v, 99);
  CHECK_ERR(cairn_cfg_get_bool(root, "missing", &bv), CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(cairn_cfg_get_num(root, "missing", &x), CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(cairn_cfg_get_duration(root, "missing", &v), CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(cairn_cfg_get_strlist(root, "missing", &o), CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(cairn_cfg_get_block(root, "missing", &o), CAIRN_ERR_NOT_FOUND);
  CHECK(cairn_cfg_block(root, "missing") == NULL);
  CHECK_ERR(cairn_cfg_get_str(NULL, "s", &s), CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(cairn_cfg_get_str(cairn_cfg_at(root, 0), "s", &s), CAIRN_ERR_NOT_FOUND);
  CHECK(cairn_cfg_block(NULL, "blk") == NULL);
  /* Type mismatches name file, line, key and both types. */
  CHECK_ERR(cairn_cfg_get_str(root, "n", &s), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:2: n: expected a string, got a number");
  CHECK_STR_EQ(s, "default");
  CHECK_ERR(cairn_cfg_get_int(root, "s", &v), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:1: s: expected an integer, got a string");
  CHECK_ERR(cairn_cfg_get_num(root, "b", &x), CAIRN_ERR_CONFIG);
  DETAIL(3, "b: expected a number, got a boolean");
  CHECK_ERR(cairn_cfg_get_bool(root, "s", &bv), CAIRN_ERR_CONFIG);
  DETAIL(1, "s: expected a boolean (true or false), got a string");
  CHECK_INT_EQ(bv, 7);
  CHECK_ERR(cairn_cfg_get_strlist(root, "s", &o), CAIRN_ERR_CONFIG);
  DETAIL(1, "s: expected a list of strings, got a string");
  CHECK_ERR(cairn_cfg_get_block(root, "l", &o), CAIRN_ERR_CONFIG);
  DETAIL(4, "l: expected a block, got a list");
  CHECK_ERR(cairn_cfg_get_str(root, "blk", &s), CAIRN_ERR_CONFIG);
  DETAIL(5, "blk: expected a string, got a block");
  CHECK_ERR(cairn_cfg_get_duration(root, "b", &v), CAIRN_ERR_CONFIG);
  DETAIL(3, "b: expected a duration, got a boolean");
  CHECK(cairn_cfg_block(root, "s") == NULL);
  /* Scalar accessors on the wrong type. */
  CHECK(cairn_cfg_str(cairn_cfg_at(root, 1)) == NULL);
  CHECK_INT_EQ(cairn_cfg_int(cairn_cfg_at(root, 0)), 0);
  CHECK(cairn_cfg_num(cairn_cfg_at(root, 0)) == 0.0);
  CHECK_INT_EQ(cairn_cfg_bool(cairn_cfg_at(root, 0)), 0);
  CHECK_INT_EQ(cairn_cfg_is_int(cairn_cfg_at(root, 0)), 0);
  CHECK_INT_EQ(cairn_cfg_count(cairn_cfg_at(root, 0)), 0);
  /* NULL-safe introspection. */
  CHECK_INT_EQ(cairn_cfg_type(NULL), 0);
  CHECK(cairn_cfg_key(NULL) == NULL);
  CHECK(cairn_cfg_file(NULL) == NULL);
  CHECK_INT_EQ(cairn_cfg_line(NULL), 0);
  CHECK_INT_EQ(cairn_cfg_count(NULL), 0);
  CHECK(cairn_cfg_at(NULL, 0) == NULL);
  CHECK_INT_EQ(cairn_cfg_label_count(NULL), 0);
  CHECK(cairn_cfg_label(NULL, 0) == NULL);
  cairn_cfg_mark_used(NULL);
  cairn_cfg_mark_tree_used(NULL);
  cairn_cfg_free(NULL);
  /* Every node carries the file name. */
  CHECK_STR_EQ(cairn_cfg_file(cairn_cfg_at(cairn_cfg_at(root, 3), 0)), "t.conf");
  /* cairn_cfg_error formats. */
  CHECK_ERR(cairn_cfg_error(cairn_cfg_at(root, 2), "bad %s %d", "thing", 3),
            CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:3: bad thing 3");
  CHECK_ERR(cairn_cfg_error(root, "server block is required"), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf: server block is required");
  CHECK_ERR(cairn_cfg_error(NULL, "plain"), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "plain");
  cairn_cfg_free(root);
}

static void test_durations(void)
{
  static const struct { const char *v; int64_t secs; } ok[] = {
    {"\"1h\"", 3600}, {"\"90s\"", 90}, {"\"1h30m\"", 5400}, {"\"24h\"", 86400},
    {"\"7d\"", 604800}, {"\"1d2h3m4s\"", 93784}, {"\"0s\"", 0}, {"\"0\"", 0},
    {"\"90\"", 90}, {"90", 90}, {"0", 0}, {"\"5m\"", 300},
    {"9223372036854775807", INT64_MAX}, {"\"2562047788015215h\"", 9223372036854774000},
  };
  static const struct { const char *v; const char *want; } bad[] = {
    {"\"\"", "d: empty duration"},
    {"\"-5s\"", "d: a duration cannot be negative"},
    {"-5", "d: a duration cannot be negative"},
    {"1.5", "d: expected a duration such as \"90s\" or a whole number"},
    {"\"1.5h\"", "d: invalid duration '1.5h'"},
    {"\"500ms\"", "sub-second units are not supported"},
    {"\"10us\"", "sub-second units"},
    {"\"10ns\"", "sub-second units"},
    {"\"1x\"", "d: invalid duration '1x'"},
    {"\"h\"", "d: invalid duration 'h'"},
    {"\"1h30\"", "number without unit"},
    {"\" 1h\"", "invalid duration"},
    {"\"1H\"", "invalid duration"},
    {"\"99999999999999999999s\"", "too large"},
    {"\"106751991167301d\"", "too large"},
    {"\"9223372036854775807s1s\"", "too large"},
    {"true", "d: expected a duration, got a boolean"},
    {"[\"1h\"]", "expected a duration, got a list"},
  };
  char text[128];
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    struct cairn_cfg *root;
    int64_t v = -1;
    snprintf(text, sizeof text, "\n d = %s\n", ok[i].v);
    root = parse(text);
    if (!root) continue;
    CHECK_OK(cairn_cfg_get_duration(root, "d", &v));
    if (v != ok[i].secs)
      test_fail(__FILE__, __LINE__, "duration %s: %lld != %lld", ok[i].v,
                (long long)v, (long long)ok[i].secs);
    cairn_cfg_free(root);
  }
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct cairn_cfg *root;
    int64_t v = 12345;
    snprintf(text, sizeof text, "\n d = %s\n", bad[i].v);
    root = parse(text);
    if (!root) continue;
    CHECK_ERR(cairn_cfg_get_duration(root, "d", &v), CAIRN_ERR_CONFIG);
    DETAIL(2, bad[i].want);
    CHECK_INT_EQ(v, 12345);
    cairn_cfg_free(root);
  }
}

static void test_files(void)
{
  const char *path = test_path("server.conf");
  struct cairn_cfg *root = (struct cairn_cfg *)1;
  const char *s = NULL;
  char want[600];

  CHECK_INT_EQ(test_write_file(path, g_spire, strlen(g_spire)), 0);
  CHECK_OK(cairn_cfg_parse_file(path, &root));
  CHECK_STR_EQ(cairn_cfg_file(root), path);
  CHECK_OK(cairn_cfg_get_str(cairn_cfg_block(root, "server"), "trust_domain", &s));
  CHECK_STR_EQ(s, "example.org");
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  snprintf(want, sizeof want, "%s:3: unknown key 'bind_address' in block 'server'", path);
  CHECK_STR_EQ(cairn_errdetail(), want);
  cairn_cfg_free(root);

  /* Parse errors name the path. */
  CHECK_INT_EQ(test_write_file(path, "a = 1\nb = [\n", 12), 0);
  CHECK_ERR(cairn_cfg_parse_file(path, &root), CAIRN_ERR_CONFIG);
  CHECK(root == NULL);
  snprintf(want, sizeof want, "%s:3: ", path);
  CHECK(strncmp(cairn_errdetail(), want, strlen(want)) == 0);

  /* Missing file, directory, too big. */
  root = (struct cairn_cfg *)1;
  CHECK_ERR(cairn_cfg_parse_file(test_path("nope.conf"), &root), CAIRN_ERR_NOT_FOUND);
  CHECK(root == NULL);
  CHECK(strstr(cairn_errdetail(), "nope.conf") != NULL);
  CHECK_ERR(cairn_cfg_parse_file(test_tmpdir(), &root), CAIRN_ERR_IO);
  CHECK(strstr(cairn_errdetail(), test_tmpdir()) != NULL);
  {
    size_t n = CAIRN_CFG_MAX + 1;
    char *big = malloc(n);
    if (big) {
      memset(big, '\n', n);
      CHECK_INT_EQ(test_write_file(path, big, n), 0);
      CHECK_ERR(cairn_cfg_parse_file(path, &root), CAIRN_ERR_TOO_BIG);
      CHECK(strstr(cairn_errdetail(), path) != NULL);
      CHECK_INT_EQ(test_write_file(path, big, n - 1), 0);
      CHECK_OK(cairn_cfg_parse_file(path, &root));
      CHECK_INT_EQ(cairn_cfg_count(root), 0);
      cairn_cfg_free(root);
      free(big);
    }
  }
  CHECK_ERR(cairn_cfg_parse_file(NULL, &root), CAIRN_ERR_INVAL);
}

/* ---- helpers for daemon loaders ---- */

static void test_where_set_str(void)
{
  struct cairn_cfg *root = parse("a = 1\nblk {\n  k = \"v\"\n  k2 = [1]\n}\n");
  const struct cairn_cfg *blk;
  char *s = NULL;
  if (!root) return;
  blk = cairn_cfg_at(root, 1);
  CHECK(cairn_cfg_where(root, "a") == cairn_cfg_at(root, 0));
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_where(blk, "k2")), 4);
  CHECK(cairn_cfg_where(blk, "missing") == blk);
  CHECK(cairn_cfg_where(NULL, "a") == NULL);
  /* cairn_cfg_where does not mark: everything is still unused. */
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:1: unknown key 'a' at top level");
  CHECK_ERR(cairn_cfg_error(cairn_cfg_where(blk, "k"), "k: bad"), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:3: k: bad");
  CHECK_ERR(cairn_cfg_error(cairn_cfg_where(blk, "x"), "x: bad"), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:2: x: bad");

  CHECK_OK(cairn_cfg_set_str(&s, "one"));
  CHECK_STR_EQ(s, "one");
  CHECK_OK(cairn_cfg_set_str(&s, "two"));  /* "one" freed (ASan would see) */
  CHECK_STR_EQ(s, "two");
  free(s);
  cairn_cfg_free(root);
}

static void test_single_block(void)
{
  struct cairn_cfg *root = parse("server {\n}\nplugins {}\nserver { a = 1 }\n"
                                 "n = 5\nsub { x {} }\n");
  const struct cairn_cfg *b = (const struct cairn_cfg *)1;
  if (!root) return;
  CHECK_ERR(cairn_cfg_single_block(root, "server", &b), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(),
               "t.conf:4: a second 'server' block (the first is at line 1)");
  CHECK(b == NULL);
  CHECK_OK(cairn_cfg_single_block(root, "plugins", &b));
  CHECK_INT_EQ(cairn_cfg_line(b), 3);
  b = (const struct cairn_cfg *)1;
  CHECK_ERR(cairn_cfg_single_block(root, "missing", &b), CAIRN_ERR_NOT_FOUND);
  CHECK(b == NULL);
  CHECK_ERR(cairn_cfg_single_block(root, "n", &b), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:5: n: expected a block, got a number");
  CHECK_ERR(cairn_cfg_single_block(NULL, "n", &b), CAIRN_ERR_NOT_FOUND);
  /* Below the root too; the found block is marked used. */
  CHECK_OK(cairn_cfg_single_block(cairn_cfg_block(root, "sub"), "x", &b));
  CHECK_INT_EQ(cairn_cfg_line(b), 6);
  cairn_cfg_free(root);

  root = parse("n = 1\nserver { }\n");
  if (!root) return;
  CHECK_OK(cairn_cfg_single_block(root, "server", &b));
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:1: unknown key 'n' at top level");
  cairn_cfg_free(root);
}

/* A string of n copies of c, in one of 6 rotating static buffers big
 * enough for the path limits. */
static const char *rep(char c, size_t n)
{
  static char buf[6][CAIRN_CFG_PATH_MAX + 16];
  static int which;
  char *b = buf[which = (which + 1) % 6];
  if (n >= sizeof buf[0]) n = sizeof buf[0] - 1;
  memset(b, c, n);
  b[n] = 0;
  return b;
}

static void test_path_join(void)
{
  char *out = NULL;
  char dir[CAIRN_CFG_PATH_MAX + 8];

  CHECK_OK(cairn_cfg_path_join("/var/lib", "keys", &out));
  CHECK_STR_EQ(out, "/var/lib/keys");
  CHECK_OK(cairn_cfg_path_join("/var/lib//", "a/b", &out));
  CHECK_STR_EQ(out, "/var/lib/a/b");
  CHECK_OK(cairn_cfg_path_join("rel", "x", &out));
  CHECK_STR_EQ(out, "rel/x");
  CHECK_OK(cairn_cfg_path_join("/", "x", &out));
  CHECK_STR_EQ(out, "//x");
  CHECK_OK(cairn_cfg_path_join("/var/lib", "/abs/x", &out));
  CHECK_STR_EQ(out, "/abs/x");
  CHECK_OK(cairn_cfg_path_join(NULL, "rel/x", &out));
  CHECK_STR_EQ(out, "rel/x");
  CHECK_ERR(cairn_cfg_path_join("/d", NULL, &out), CAIRN_ERR_INVAL);
  /* The limit counts the joined path: "/" + 4093 + "/" + "k" = 4096. */
  snprintf(dir, sizeof dir, "/%s", rep('d', CAIRN_CFG_PATH_MAX - 4));
  CHECK_OK(cairn_cfg_path_join(dir, "kk", &out));
  CHECK_INT_EQ(strlen(out), CAIRN_CFG_PATH_MAX);
  CHECK_ERR(cairn_cfg_path_join(dir, "kkk", &out), CAIRN_ERR_CONFIG);
  CHECK(strncmp(cairn_errdetail(), "path /ddd", 9) == 0);
  CHECK_INT_EQ(strlen(out), CAIRN_CFG_PATH_MAX);  /* untouched */
  /* Trailing slashes do not count. */
  snprintf(dir, sizeof dir, "/%s///", rep('d', CAIRN_CFG_PATH_MAX - 4));
  CHECK_OK(cairn_cfg_path_join(dir, "kk", &out));
  CHECK_INT_EQ(strlen(out), CAIRN_CFG_PATH_MAX);
  free(out);
}

static void test_get_path(void)
{
  char text[3 * CAIRN_CFG_PATH_MAX + 512], base[CAIRN_CFG_PATH_MAX];
  struct cairn_cfg *root;
  char *out = NULL;

  snprintf(text, sizeof text,
           "rel = \"sub/f\"\n"        /* 1 */
           "abs = \"/etc/f\"\n"       /* 2 */
           "empty = \"\"\n"           /* 3 */
           "num = 5\n"                /* 4 */
           "max = \"/%s\"\n"          /* 5 */
           "over = \"/%s\"\n"         /* 6 */
           "joined = \"%s\"\n"        /* 7 */
           "sock = \"/%s\"\n"         /* 8 */
           "sock2 = \"/%s\"\n",       /* 9 */
           rep('m', CAIRN_CFG_PATH_MAX - 1), rep('o', CAIRN_CFG_PATH_MAX),
           rep('j', 100), rep('s', CAIRN_CFG_SOCKET_PATH_MAX - 1),
           rep('t', CAIRN_CFG_SOCKET_PATH_MAX));
  root = parse(text);
  if (!root) return;

  CHECK_OK(cairn_cfg_set_str(&out, "default"));
  CHECK_ERR(cairn_cfg_get_path(root, "missing", "/base", &out),
            CAIRN_ERR_NOT_FOUND);
  CHECK_STR_EQ(out, "default");
  CHECK_OK(cairn_cfg_get_path(root, "rel", NULL, &out));
  CHECK_STR_EQ(out, "sub/f");
  CHECK_OK(cairn_cfg_get_path(root, "rel", "/base/", &out));
  CHECK_STR_EQ(out, "/base/sub/f");
  CHECK_OK(cairn_cfg_get_path(root, "abs", "/base", &out));
  CHECK_STR_EQ(out, "/etc/f");
  CHECK_ERR(cairn_cfg_get_path(root, "empty", NULL, &out), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:3: empty: empty path");
  CHECK_ERR(cairn_cfg_get_path(root, "num", NULL, &out), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:4: num: expected a string, got a number");
  CHECK_OK(cairn_cfg_get_path(root, "max", NULL, &out));
  CHECK_INT_EQ(strlen(out), CAIRN_CFG_PATH_MAX);
  CHECK_ERR(cairn_cfg_get_path(root, "over", NULL, &out), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:6: over: path longer than 4096 bytes");
  CHECK_INT_EQ(strlen(out), CAIRN_CFG_PATH_MAX);  /* untouched */
  /* Joined too long: the error names the value's line. */
  /* Joined too long: the error names the value's line. A base of only
   * slashes is "/" (and gives "//joined"). */
  snprintf(base, sizeof base, "/%s", rep('b', 3995));  /* 3996 + 1 + 100 */
  CHECK_ERR(cairn_cfg_get_path(root, "joined", base, &out), CAIRN_ERR_CONFIG);
  CHECK(strncmp(cairn_errdetail(), "t.conf:7: path /bbb", 19) == 0);
  base[3995] = 0;  /* 3995 + 1 + 100 = 4096 */
  CHECK_OK(cairn_cfg_get_path(root, "joined", base, &out));
  CHECK_INT_EQ(strlen(out), CAIRN_CFG_PATH_MAX);
  CHECK_OK(cairn_cfg_get_path(root, "joined", rep('/', 3990), &out));
  CHECK_INT_EQ(strlen(out), 2 + 100);

  CHECK_OK(cairn_cfg_get_socket_path(root, "sock", &out));
  CHECK_INT_EQ(strlen(out), CAIRN_CFG_SOCKET_PATH_MAX);
  CHECK_ERR(cairn_cfg_get_socket_path(root, "sock2", &out), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:9: sock2: 108 bytes, a Unix socket "
               "path may have at most 107");
  CHECK_ERR(cairn_cfg_get_socket_path(root, "empty", &out), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:3: empty: empty path");
  CHECK_ERR(cairn_cfg_get_socket_path(root, "over", &out), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:6: over: path longer than 4096 bytes");
  CHECK_ERR(cairn_cfg_get_socket_path(root, "missing", &out),
            CAIRN_ERR_NOT_FOUND);
  CHECK_INT_EQ(strlen(out), CAIRN_CFG_SOCKET_PATH_MAX);
  /* The getters marked what they read (including failed values). */
  CHECK_OK(cairn_cfg_check_unused(root));
  free(out);
  cairn_cfg_free(root);
}

static void test_td_log_level(void)
{
  struct cairn_cfg *root = parse(
      "td = \"example.org\"\n"            /* 1 */
      "id = \"spiffe://example.org\"\n"   /* 2 */
      "bad = \"Bad_TD\"\n"                /* 3 */
      "n = 1\n"                           /* 4 */
      "l1 = \"debug\"\n"                  /* 5 */
      "l2 = \"WARN\"\n"                   /* 6 */
      "l3 = \"verbose\"\n");              /* 7 */
  char *td = NULL;
  enum cairn_log_level lv = CAIRN_LOG_INFO;
  if (!root) return;
  CHECK_ERR(cairn_cfg_get_trust_domain(root, "missing", &td), CAIRN_ERR_NOT_FOUND);
  CHECK(td == NULL);
  CHECK_OK(cairn_cfg_get_trust_domain(root, "td", &td));
  CHECK_STR_EQ(td, "example.org");
  CHECK_ERR(cairn_cfg_get_trust_domain(root, "id", &td), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:2: id: give the bare name "
               "(\"example.org\"), not a SPIFFE ID");
  CHECK_ERR(cairn_cfg_get_trust_domain(root, "bad", &td), CAIRN_ERR_CONFIG);
  CHECK(strncmp(cairn_errdetail(), "t.conf:3: bad: invalid trust domain "
                "\"Bad_TD\": ", 46) == 0);
  CHECK(strlen(cairn_errdetail()) > 46);  /* the reason follows */
  CHECK_ERR(cairn_cfg_get_trust_domain(root, "n", &td), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:4: n: expected a string, got a number");
  CHECK_STR_EQ(td, "example.org");

  CHECK_ERR(cairn_cfg_get_log_level(root, "missing", &lv), CAIRN_ERR_NOT_FOUND);
  CHECK_INT_EQ(lv, CAIRN_LOG_INFO);
  CHECK_OK(cairn_cfg_get_log_level(root, "l1", &lv));
  CHECK_INT_EQ(lv, CAIRN_LOG_DEBUG);
  CHECK_OK(cairn_cfg_get_log_level(root, "l2", &lv));
  CHECK_INT_EQ(lv, CAIRN_LOG_WARN);
  CHECK_ERR(cairn_cfg_get_log_level(root, "l3", &lv), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:7: l3: \"verbose\" is not one of "
               "DEBUG, INFO, WARN, ERROR");
  CHECK_INT_EQ(lv, CAIRN_LOG_WARN);
  CHECK_ERR(cairn_cfg_get_log_level(root, "n", &lv), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:4: n: expected a string, got a number");
  free(td);
  cairn_cfg_free(root);
}

static void test_server_settings(void)
{
  struct cairn_cfg *root = parse(
      "a { server_address = \"10.0.0.1\" }\n"                  /* 1 */
      "b { server_address = \"-bad.example\" }\n"              /* 2 */
      "c { trust_bundle_path = \"b.pem\"\n"                    /* 3 */
      "    trust_bundle_format = \"spiffe\"\n"                 /* 4 */
      "    join_token = \"tok-1\" }\n"                         /* 5 */
      "d { insecure_bootstrap = true }\n"                      /* 6 */
      "e { trust_bundle_format = \"pem\" }\n"                  /* 7 */
      "f { trust_bundle_path = \"b.pem\"\n"                    /* 8 */
      "    insecure_bootstrap = true }\n"                      /* 9 */
      "g { trust_bundle_path = \"b.pem\"\n"                    /* 10 */
      "    trust_bundle_format = \"der\" }\n"                  /* 11 */
      "h { insecure_bootstrap = false join_token = \".\" }\n"  /* 12 */
      "i { server_address = \"host.example\" }\n");            /* 13 */
  const struct cairn_cfg *blk = NULL;
  enum cairn_cfg_bundle_format fmt = CAIRN_CFG_BUNDLE_AUTO;
  char *host = NULL, *path = NULL, *tok = NULL;
  char long_token[CAIRN_CFG_TOKEN_MAX + 2];
  int insecure = 0;
  if (!root) return;

  CHECK_OK(cairn_cfg_get_host(cairn_cfg_block(root, "a"), "server_address",
                              &host));
  CHECK_STR_EQ(host, "10.0.0.1");
  CHECK_ERR(cairn_cfg_get_host(cairn_cfg_block(root, "b"), "server_address",
                               &host), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:2: server_address: \"-bad.example\" "
               "is not an IP address or a host name");
  CHECK_STR_EQ(host, "10.0.0.1");
  CHECK_OK(cairn_cfg_get_host(cairn_cfg_block(root, "i"), "server_address",
                              &host));
  CHECK_STR_EQ(host, "host.example");
  CHECK_ERR(cairn_cfg_get_host(root, "nope", &host), CAIRN_ERR_NOT_FOUND);

  blk = cairn_cfg_block(root, "c");
  CHECK_OK(cairn_cfg_get_bootstrap(blk, &path, &fmt, &insecure));
  CHECK_STR_EQ(path, "b.pem");
  CHECK_INT_EQ(fmt, CAIRN_CFG_BUNDLE_SPIFFE);
  CHECK_INT_EQ(insecure, 0);
  CHECK_OK(cairn_cfg_get_join_token(blk, "join_token", &tok));
  CHECK_STR_EQ(tok, "tok-1");
  free(path);
  path = NULL;
  fmt = CAIRN_CFG_BUNDLE_AUTO;

  CHECK_OK(cairn_cfg_get_bootstrap(cairn_cfg_block(root, "d"), &path, &fmt,
                                   &insecure));
  CHECK(path == NULL);
  CHECK_INT_EQ(insecure, 1);
  insecure = 0;
  CHECK_ERR(cairn_cfg_get_bootstrap(cairn_cfg_block(root, "e"), &path, &fmt,
                                    &insecure), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:7: trust_bundle_format is set but "
               "trust_bundle_path is not");
  CHECK_ERR(cairn_cfg_get_bootstrap(cairn_cfg_block(root, "f"), &path, &fmt,
                                    &insecure), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:9: only one of insecure_bootstrap "
               "and trust_bundle_path can be set");
  free(path);
  path = NULL;
  insecure = 0;
  CHECK_ERR(cairn_cfg_get_bootstrap(cairn_cfg_block(root, "g"), &path, &fmt,
                                    &insecure), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:11: trust_bundle_format: \"der\" is "
               "not \"pem\" or \"spiffe\"");
  free(path);
  path = NULL;
  blk = cairn_cfg_block(root, "h");
  CHECK_ERR(cairn_cfg_get_bootstrap(blk, &path, &fmt, &insecure),
            CAIRN_ERR_NOT_FOUND);
  CHECK_ERR(cairn_cfg_get_bootstrap(NULL, &path, &fmt, &insecure),
            CAIRN_ERR_NOT_FOUND);
  CHECK(path == NULL);
  CHECK_ERR(cairn_cfg_get_join_token(blk, "join_token", &tok),
            CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:12: join_token: join token cannot "
               "be \".\" or \"..\"");
  CHECK_STR_EQ(tok, "tok-1");

  CHECK_OK(cairn_cfg_set_join_token(&tok, "flag_token"));
  CHECK_STR_EQ(tok, "flag_token");
  CHECK_ERR(cairn_cfg_set_join_token(&tok, "a b"), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "-joinToken: join token may only hold "
               "letters, digits, '-', '_' and '.'");
  CHECK_STR_EQ(tok, "flag_token");
  memset(long_token, 'x', sizeof long_token - 1);
  long_token[sizeof long_token - 1] = '\0';
  CHECK_ERR(cairn_cfg_check_token(long_token), CAIRN_ERR_INVAL);
  long_token[CAIRN_CFG_TOKEN_MAX] = '\0';
  CHECK_OK(cairn_cfg_check_token(long_token));
  CHECK_ERR(cairn_cfg_check_token(""), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_cfg_check_token(NULL), CAIRN_ERR_INVAL);
  cairn_cfg_clear_secret(&tok);
  CHECK(tok == NULL);
  cairn_cfg_clear_secret(&tok);
  cairn_cfg_clear_secret(NULL);

  free(host);
  cairn_cfg_free(root);
}

static void test_required_block(void)
{
  struct cairn_cfg *root = parse("server { }\n"       /* 1 */
                                 "plugins { }\n"      /* 2 */
                                 "plugins { }\n");    /* 3 */
  const struct cairn_cfg *b = NULL;
  if (!root) return;
  CHECK_OK(cairn_cfg_required_block(root, "server", NULL, &b));
  CHECK(b != NULL);
  CHECK_ERR(cairn_cfg_required_block(root, "agent", NULL, &b),
            CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf: missing agent { } block");
  CHECK(b == NULL);
  CHECK_ERR(cairn_cfg_required_block(root, "agent", "a thing is required", &b),
            CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf: missing agent { } block (a thing "
               "is required)");
  CHECK_ERR(cairn_cfg_required_block(root, "plugins", "x", &b),
            CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:3: a second 'plugins' block (the "
               "first is at line 2)");
  cairn_cfg_free(root);
}

struct load_seen {
  char name[256];
  int calls;
  size_t count;
  int ret;
};

static int load_cb(const char *name, const struct cairn_cfg *root, void *ctx)
{
  struct load_seen *ls = ctx;
  snprintf(ls->name, sizeof ls->name, "%s", name);
  ls->calls++;
  ls->count = cairn_cfg_count(root);
  if (ls->ret) return cairn_cfg_error(root, "rejected");
  return CAIRN_OK;
}

static void test_load_fn(void)
{
  struct load_seen ls;
  const char *path = test_path("load.conf");

  memset(&ls, 0, sizeof ls);
  CHECK_OK(cairn_cfg_load_buf("b.conf", "a = 1 b = 2", 11, load_cb, &ls));
  CHECK_STR_EQ(ls.name, "b.conf");
  CHECK_INT_EQ(ls.count, 2);
  CHECK_OK(cairn_cfg_load_buf(NULL, NULL, 0, load_cb, &ls));
  CHECK_STR_EQ(ls.name, "<config>");
  CHECK_INT_EQ(ls.count, 0);
  CHECK_INT_EQ(ls.calls, 2);
  CHECK_ERR(cairn_cfg_load_buf("b.conf", NULL, 3, load_cb, &ls), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "no data");
  CHECK_ERR(cairn_cfg_load_buf("b.conf", "a = ", 4, load_cb, &ls), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "b.conf:1: unexpected end of file, expected a value");
  CHECK_INT_EQ(ls.calls, 2);  /* not called for unparsable input */
  ls.ret = 1;
  CHECK_ERR(cairn_cfg_load_buf("b.conf", "", 0, load_cb, &ls), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "b.conf: rejected");
  ls.ret = 0;

  CHECK_INT_EQ(test_write_file(path, "x {}\n", 5), 0);
  CHECK_OK(cairn_cfg_load_file(path, load_cb, &ls));
  CHECK_STR_EQ(ls.name, path);
  CHECK_INT_EQ(ls.count, 1);
  CHECK_ERR(cairn_cfg_load_file("", load_cb, &ls), CAIRN_ERR_INVAL);
  CHECK_STR_EQ(cairn_errdetail(), "no configuration file given");
  CHECK_ERR(cairn_cfg_load_file(NULL, load_cb, &ls), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_cfg_load_file(test_path("absent.conf"), load_cb, &ls),
            CAIRN_ERR_NOT_FOUND);
  CHECK_INT_EQ(ls.calls, 4);
}

/* ---- plugins ---- */

enum { T_STORE, T_KM, T_NA, T_ANY, T__N };
static const char *const g_store_names[] = {"sql", NULL};
static const char *const g_km_names[] = {"disk", "memory", NULL};
static const char *const g_na_names[] = {"join_token", "x509pop", "tpm", NULL};
static const struct cairn_cfg_plugin_type g_types[T__N] = {
    {"DataStore", 0, g_store_names},
    {"KeyManager", 0, g_km_names},
    {"NodeAttestor", 1, g_na_names},
    {"Notifier", 0, NULL}};

/* Iterates over the plugins block of text; returns the result of the
 * first failing step (CAIRN_ERR_NOT_FOUND when all went through) and
 * writes "Type/name@line" of each plugin yielded into seen. */
static int iterate(const char *text, char *seen, size_t seenlen,
                   struct cairn_cfg **rootp, struct cairn_cfg_plugins *it)
{
  struct cairn_cfg *root = parse(text);
  struct cairn_cfg_plugin p;
  size_t o = 0;
  int r;

  seen[0] = 0;
  *rootp = root;
  if (!root) return -1;
  r = cairn_cfg_plugins_init(it, cairn_cfg_block(root, "plugins"), "prog",
                             g_types, T__N);
  if (r) return r;
  while ((r = cairn_cfg_plugins_next(it, &p)) == CAIRN_OK) {
    int k = snprintf(seen + o, seenlen - o, "%s%s/%s@%d%s", o ? " " : "",
                     p.type_name, p.name, cairn_cfg_line(p.block),
                     p.data ? "+data" : "");
    if (k > 0 && (size_t)k < seenlen - o) o += (size_t)k;
    CHECK(p.type < T__N && strcmp(g_types[p.type].name, p.type_name) == 0);
    CHECK_STR_EQ(cairn_cfg_key(p.block), p.type_name);
    CHECK_STR_EQ(cairn_cfg_label(p.block, 0), p.name);
  }
  return r;
}

/* The plugins block "plugins {\n" + body + "}\n" must fail at line with
 * exactly want. */
static void plugin_bad(const char *file, int cline, const char *body, int line,
                       const char *want)
{
  char text[2048], seen[512], full[600];
  struct cairn_cfg *root;
  struct cairn_cfg_plugins it;
  int r;

  snprintf(text, sizeof text, "plugins {\n%s}\n", body);
  r = iterate(text, seen, sizeof seen, &root, &it);
  snprintf(full, sizeof full, "t.conf:%d: %s", line, want);
  if (r != CAIRN_ERR_CONFIG)
    test_fail(file, cline, "want CONFIG, got %d [%s]", r, body);
  else if (strcmp(cairn_errdetail(), full) != 0)
    test_fail(file, cline, "detail \"%s\" != \"%s\"", cairn_errdetail(), full);
  cairn_cfg_free(root);
}
#define PBAD(body, line, want) plugin_bad(__FILE__, __LINE__, (body), (line), (want))

static void test_plugins(void)
{
  char seen[512];
  struct cairn_cfg *root;
  struct cairn_cfg_plugins it;
  struct cairn_cfg_plugin p;

  /* A valid set: file order, labels, plugin_data, multi types. */
  CHECK_ERR(iterate("plugins {\n"
                    "  KeyManager \"disk\" { plugin_data { keys = 1 } }\n"   /* 2 */
                    "  NodeAttestor \"join_token\" { enabled = true }\n"     /* 3 */
                    "  DataStore \"sql\" { plugin_data = { } }\n"            /* 4 */
                    "  NodeAttestor \"x509pop\" {}\n"                        /* 5 */
                    "  DataStore \"sql\" { enabled = false plugin_cmd = 1 }\n" /* 6 */
                    "  Notifier \"anything\" {}\n"                           /* 7 */
                    "  NodeAttestor \"join_token\" {}\n"                     /* 8 */
                    "}\n", seen, sizeof seen, &root, &it),
            CAIRN_ERR_NOT_FOUND);
  CHECK_STR_EQ(seen, "KeyManager/disk@2+data NodeAttestor/join_token@3 "
                     "DataStore/sql@4+data NodeAttestor/x509pop@5 "
                     "Notifier/anything@7 NodeAttestor/join_token@8");
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_plugins_first(&it, T_STORE)), 4);
  CHECK_INT_EQ(cairn_cfg_line(cairn_cfg_plugins_first(&it, T_NA)), 3);
  CHECK(cairn_cfg_plugins_first(&it, T__N) == NULL);
  CHECK(cairn_cfg_plugins_first(NULL, T_NA) == NULL);
  /* The end is sticky. */
  CHECK_ERR(cairn_cfg_plugins_next(&it, &p), CAIRN_ERR_NOT_FOUND);
  /* Blocks and plugin_data are marked, the disabled block wholly; what is
   * inside plugin_data is the loader's. */
  CHECK_ERR(cairn_cfg_check_unused(root), CAIRN_ERR_CONFIG);
  CHECK_STR_EQ(cairn_errdetail(), "t.conf:2: unknown key 'keys' in block "
               "'plugins.KeyManager \"disk\".plugin_data'");
  cairn_cfg_free(root);

  /* A type not seen, or a disabled one only, has no first block. */
  CHECK_ERR(iterate("plugins { DataStore \"x\" { enabled = false\n"
                    "  plugin_data { a = 1 } plugin_cmd = \"c\" } }\n", seen,
                    sizeof seen, &root, &it), CAIRN_ERR_NOT_FOUND);
  CHECK_STR_EQ(seen, "");
  CHECK(cairn_cfg_plugins_first(&it, T_STORE) == NULL);
  CHECK(cairn_cfg_plugins_first(&it, T_KM) == NULL);
  CHECK_OK(cairn_cfg_check_unused(root));
  cairn_cfg_free(root);

  /* No plugins block at all. */
  CHECK_ERR(iterate("a = 1\n", seen, sizeof seen, &root, &it), CAIRN_ERR_NOT_FOUND);
  cairn_cfg_free(root);

  /* Every check, in order, with its exact message. */
  PBAD("  Upstream \"x\" {}\n", 2, "unknown plugin type 'Upstream' (prog has "
       "DataStore, KeyManager, NodeAttestor, Notifier)");
  PBAD("  DataStore {}\n", 2, "DataStore: expected a plugin block DataStore "
       "\"<name>\" { plugin_data { ... } }");
  PBAD("  DataStore \"a\" \"b\" {}\n", 2, "DataStore: expected a plugin block "
       "DataStore \"<name>\" { plugin_data { ... } }");
  PBAD("  \n  DataStore = \"sql\"\n", 3, "DataStore: expected a plugin block "
       "DataStore \"<name>\" { plugin_data { ... } }");
  PBAD("  DataStore \"sql\" { enabled = \"no\" }\n", 2,
       "enabled: expected a boolean (true or false), got a string");
  PBAD("  DataStore \"sql\" {\n    plugin_data {}\n    plugin_checksum = \"x\"\n"
       "    plugin_cmd = \"y\"\n  }\n", 4,
       "plugin_checksum: external plugins are not supported; Cairn's plugins "
       "are built in and take plugin_data { }");
  PBAD("  KeyManager \"disk\" { plugin_data_file = \"f\" }\n", 2,
       "plugin_data_file: external plugins are not supported; Cairn's plugins "
       "are built in and take plugin_data { }");
  PBAD("  DataStore \"sql\" { plugin_data = 5 }\n", 2,
       "plugin_data: expected a block, got a number");
  PBAD("  DataStore \"sql\" {}\n  KeyManager \"memory\" {}\n"
       "  DataStore \"sql\" {}\n", 4,
       "a second DataStore plugin; only one may be enabled (the first is at "
       "line 2)");
  PBAD("  Notifier \"a\" {}\n  Notifier \"b\" {}\n", 3,
       "a second Notifier plugin; only one may be enabled (the first is at "
       "line 2)");
  /* The duplicate check comes before the name check. */
  PBAD("  DataStore \"sql\" {}\n  DataStore \"mysql\" {}\n", 3,
       "a second DataStore plugin; only one may be enabled (the first is at "
       "line 2)");
  PBAD("  DataStore \"mysql\" {}\n", 2,
       "unknown DataStore plugin \"mysql\" (Cairn has \"sql\")");
  PBAD("  KeyManager \"vault\" {}\n", 2,
       "unknown KeyManager plugin \"vault\" (Cairn has \"disk\" and \"memory\")");
  PBAD("  NodeAttestor \"k8s\" {}\n", 2, "unknown NodeAttestor plugin \"k8s\" "
       "(Cairn has \"join_token\", \"x509pop\" and \"tpm\")");
  /* Disabled blocks are checked up to "enabled" only. */
  PBAD("  Bogus \"x\" { enabled = false }\n", 2, "unknown plugin type 'Bogus' "
       "(prog has DataStore, KeyManager, NodeAttestor, Notifier)");
  PBAD("  KeyManager { enabled = false }\n", 2, "KeyManager: expected a plugin "
       "block KeyManager \"<name>\" { plugin_data { ... } }");

  /* Table checks. */
  root = parse("plugins {}\nv = 1\n");
  if (!root) return;
  CHECK_ERR(cairn_cfg_plugins_init(&it, root, "p", g_types, 0), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_cfg_plugins_init(&it, root, "p", g_types,
                                   CAIRN_CFG_PLUGIN_TYPES_MAX + 1),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_cfg_plugins_init(&it, root, NULL, g_types, T__N),
            CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_cfg_plugins_init(&it, root, "p", NULL, T__N), CAIRN_ERR_INVAL);
  CHECK_ERR(cairn_cfg_plugins_init(&it, cairn_cfg_at(root, 1), "p", g_types,
                                   T__N), CAIRN_ERR_INVAL);
  CHECK_OK(cairn_cfg_plugins_init(&it, NULL, "p", g_types, T__N));
  CHECK_ERR(cairn_cfg_plugins_next(&it, &p), CAIRN_ERR_NOT_FOUND);
  cairn_cfg_free(root);
}

int main(void)
{
  RUN(test_spire_sample);
  RUN(test_strings);
  RUN(test_numbers_bools);
  RUN(test_comments_lines);
  RUN(test_lists);
  RUN(test_blocks_separators);
  RUN(test_empty);
  RUN(test_syntax_errors);
  RUN(test_depth_limits);
  RUN(test_size_limits);
  RUN(test_duplicates);
  RUN(test_block_dup_scalar_line);
  RUN(test_unused);
  RUN(test_getters);
  RUN(test_durations);
  RUN(test_files);
  RUN(test_where_set_str);
  RUN(test_single_block);
  RUN(test_path_join);
  RUN(test_get_path);
  RUN(test_td_log_level);
  RUN(test_server_settings);
  RUN(test_required_block);
  RUN(test_load_fn);
  RUN(test_plugins);
  return test_done();
}
