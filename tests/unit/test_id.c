/* test_id.c - SPIFFE ID and trust-domain parsing against the spec table
 * and go-spiffe's error texts. */
#include <stdlib.h>
#include <string.h>

#include "cairn/err.h"
#include "cairn/id.h"
#include "test.h"

struct bad {
  const char *in;
  const char *err;
};

static void test_valid(void)
{
  static const char *ok[] = {
      "spiffe://example.org",
      "spiffe://example.org/workload",
      "spiffe://example.org/ns/default/sa/web",
      "spiffe://a.b-c_d.0/A.b-C_9",
      "spiffe://192.168.1.1/x",
      "spiffe://td/.x/..x/.../x.",
      "spiffe://td/UPPER/Case",
  };
  struct cairn_id id;
  size_t i;

  for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    CHECK_OK(cairn_id_parse_str(ok[i], &id));
    CHECK_STR_EQ(id.str, ok[i]);
    CHECK_OK(cairn_id_validate(ok[i]));
  }
  CHECK_OK(cairn_id_parse_str("spiffe://example.org/ns/a", &id));
  CHECK_INT_EQ(id.td_len, 11);
  CHECK_STR_EQ(cairn_id_path(&id), "/ns/a");
  CHECK(!cairn_id_is_td(&id));
  CHECK(cairn_id_member_of(&id, "example.org"));
  CHECK(!cairn_id_member_of(&id, "example.or"));
  CHECK(!cairn_id_member_of(&id, "example.org2"));
  {
    char td[CAIRN_TD_MAX + 1];
    cairn_id_td(&id, td);
    CHECK_STR_EQ(td, "example.org");
  }
  CHECK_OK(cairn_id_parse_str("spiffe://example.org", &id));
  CHECK(cairn_id_is_td(&id));
  CHECK_STR_EQ(cairn_id_path(&id), "");
}

static void test_invalid(void)
{
  static const struct bad bad[] = {
      {"", "cannot be empty"},
      {"example.org/x", "scheme is missing or invalid"},
      {"spiffe:/example.org", "scheme is missing or invalid"},
      {"SPIFFE://example.org", "scheme is missing or invalid"},
      {"Spiffe://example.org", "scheme is missing or invalid"},
      {"http://example.org", "scheme is missing or invalid"},
      {"spiffe://", "trust domain is missing"},
      {"spiffe:///path", "trust domain is missing"},
      {"spiffe://Example.org", "trust domain characters are limited to "
                               "lowercase letters, numbers, dots, dashes, "
                               "and underscores"},
      {"spiffe://user@td/x", "trust domain characters are limited to "
                             "lowercase letters, numbers, dots, dashes, "
                             "and underscores"},
      {"spiffe://td:443/x", "trust domain characters are limited to "
                            "lowercase letters, numbers, dots, dashes, and "
                            "underscores"},
      {"spiffe://t%64/x", "trust domain characters are limited to "
                          "lowercase letters, numbers, dots, dashes, and "
                          "underscores"},
      {"spiffe://[::1]/x", "trust domain characters are limited to "
                           "lowercase letters, numbers, dots, dashes, and "
                           "underscores"},
      {"spiffe://td?q=1", "trust domain characters are limited to "
                          "lowercase letters, numbers, dots, dashes, and "
                          "underscores"},
      {"spiffe://td/", "path cannot have a trailing slash"},
      {"spiffe://td/a/", "path cannot have a trailing slash"},
      {"spiffe://td//a", "path cannot contain empty segments"},
      {"spiffe://td/a//b", "path cannot contain empty segments"},
      {"spiffe://td/./a", "path cannot contain dot segments"},
      {"spiffe://td/a/..", "path cannot contain dot segments"},
      {"spiffe://td/a/../b", "path cannot contain dot segments"},
      {"spiffe://td/a?x=1", "path segment characters are limited to "
                            "letters, numbers, dots, dashes, and "
                            "underscores"},
      {"spiffe://td/a#frag", "path segment characters are limited to "
                             "letters, numbers, dots, dashes, and "
                             "underscores"},
      {"spiffe://td/a%20b", "path segment characters are limited to "
                            "letters, numbers, dots, dashes, and "
                            "underscores"},
      {"spiffe://td/caf\xc3\xa9", "path segment characters are limited to "
                                  "letters, numbers, dots, dashes, and "
                                  "underscores"},
      /* Left to right: the bad character comes before the empty segment. */
      {"spiffe://td/a$//", "path segment characters are limited to "
                           "letters, numbers, dots, dashes, and "
                           "underscores"},
      {"spiffe://td//a$", "path cannot contain empty segments"},
  };
  struct cairn_id id;
  size_t i;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int r = cairn_id_parse_str(bad[i].in, &id);
    CHECK_INT_EQ(r, CAIRN_ERR_PARSE);
    if (strcmp(cairn_errdetail(), bad[i].err) != 0)
      test_fail(__FILE__, __LINE__, "%s: got \"%s\" want \"%s\"", bad[i].in,
                cairn_errdetail(), bad[i].err);
    CHECK_STR_EQ(id.str, "");
  }
  /* An embedded NUL is a bad path byte, not a terminator. */
  CHECK_INT_EQ(cairn_id_parse("spiffe://td/a\0b", 15, &id), CAIRN_ERR_PARSE);
  CHECK_INT_EQ(cairn_id_parse(NULL, 3, &id), CAIRN_ERR_INVAL);
}

static void test_lengths(void)
{
  char *s = malloc(CAIRN_ID_MAX + 64);
  struct cairn_id id;
  size_t n;

  /* Trust domain of exactly 255 bytes is fine, 256 is not. */
  memcpy(s, "spiffe://", 9);
  memset(s + 9, 'a', 256);
  s[9 + 255] = '\0';
  CHECK_OK(cairn_id_parse_str(s, &id));
  CHECK_OK(cairn_td_validate(s + 9));
  s[9 + 255] = 'a';
  s[9 + 256] = '\0';
  CHECK_ERR(cairn_id_parse_str(s, &id), CAIRN_ERR_PARSE);
  CHECK_STR_EQ(cairn_errdetail(), "trust domain is longer than 255 bytes");
  CHECK_ERR(cairn_td_validate(s + 9), CAIRN_ERR_PARSE);

  /* Whole ID of exactly 2048 bytes is fine, 2049 is not. */
  memcpy(s, "spiffe://td/", 12);
  memset(s + 12, 'x', CAIRN_ID_MAX - 12);
  s[CAIRN_ID_MAX] = '\0';
  n = strlen(s);
  CHECK_INT_EQ(n, CAIRN_ID_MAX);
  CHECK_OK(cairn_id_parse_str(s, &id));
  CHECK_INT_EQ(strlen(id.str), CAIRN_ID_MAX);
  s[CAIRN_ID_MAX] = 'x';
  s[CAIRN_ID_MAX + 1] = '\0';
  CHECK_ERR(cairn_id_parse_str(s, &id), CAIRN_ERR_PARSE);
  CHECK_STR_EQ(cairn_errdetail(), "SPIFFE ID is longer than 2048 bytes");
  CHECK_ERR(cairn_id_from_parts("td", s + 11, &id), CAIRN_ERR_PARSE);
  free(s);
}

static void test_parts_and_td(void)
{
  struct cairn_id id, id2;
  char td[CAIRN_TD_MAX + 1];

  CHECK_OK(cairn_id_from_parts("example.org", "/a/b", &id));
  CHECK_STR_EQ(id.str, "spiffe://example.org/a/b");
  CHECK_OK(cairn_id_parse_str("spiffe://example.org/a/b", &id2));
  CHECK(cairn_id_equal(&id, &id2));
  CHECK_OK(cairn_id_parse_str("spiffe://example.org/a/B", &id2));
  CHECK(!cairn_id_equal(&id, &id2));
  CHECK_OK(cairn_id_from_parts("example.org", NULL, &id));
  CHECK_STR_EQ(id.str, "spiffe://example.org");
  CHECK(cairn_id_is_td(&id));
  CHECK_OK(cairn_id_from_parts("example.org", "", &id));
  CHECK_ERR(cairn_id_from_parts("example.org", "a", &id), CAIRN_ERR_PARSE);
  CHECK_STR_EQ(cairn_errdetail(), "path must have a leading slash");
  CHECK_ERR(cairn_id_from_parts("Example.org", "/a", &id), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_id_from_parts("", "/a", &id), CAIRN_ERR_PARSE);
  CHECK_STR_EQ(cairn_errdetail(), "trust domain is missing");
  CHECK_ERR(cairn_id_from_parts("td", "/a/", &id), CAIRN_ERR_PARSE);

  CHECK_OK(cairn_td_parse("example.org", td));
  CHECK_STR_EQ(td, "example.org");
  CHECK_OK(cairn_td_parse("spiffe://example.org/x/y", td));
  CHECK_STR_EQ(td, "example.org");
  CHECK_OK(cairn_td_parse("spiffe://example.org", td));
  CHECK_STR_EQ(td, "example.org");
  CHECK_ERR(cairn_td_parse("", td), CAIRN_ERR_PARSE);
  CHECK_STR_EQ(cairn_errdetail(), "trust domain is missing");
  CHECK_ERR(cairn_td_parse("spiffe://", td), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_td_parse("http://example.org", td), CAIRN_ERR_PARSE);
  CHECK_STR_EQ(cairn_errdetail(), "scheme is missing or invalid");
  CHECK_ERR(cairn_td_parse("example.org/x", td), CAIRN_ERR_PARSE);
  CHECK_STR_EQ(td, "");
}

static void test_scope(void)
{
  CHECK(cairn_id_path_in_scope("/site/a", "/site/a"));
  CHECK(cairn_id_path_in_scope("/site/a/x", "/site/a"));
  CHECK(cairn_id_path_in_scope("/site/a/x/y", "/site/a"));
  CHECK(!cairn_id_path_in_scope("/site/ab", "/site/a"));
  CHECK(!cairn_id_path_in_scope("/site", "/site/a"));
  CHECK(!cairn_id_path_in_scope("", "/site/a"));
  CHECK(!cairn_id_path_in_scope("/site/a", "/site/a/*"));
  CHECK(cairn_id_path_in_scope("/site/a/x", "/site/a/*"));
  CHECK(!cairn_id_path_in_scope("/site/ab/x", "/site/a/*"));
  CHECK(cairn_id_path_in_scope("/anything", ""));
  CHECK(cairn_id_path_in_scope("", ""));
  CHECK(cairn_id_path_in_scope("/anything", "/*"));
}

static void test_scope_validate_and_match(void)
{
  char big[CAIRN_ID_MAX + 8];

  CHECK_OK(cairn_scope_validate(""));
  CHECK_OK(cairn_scope_validate("/*"));
  CHECK_OK(cairn_scope_validate("/site/a"));
  CHECK_OK(cairn_scope_validate("/site/a/*"));
  CHECK_OK(cairn_scope_validate("/Site_1/a.b-c"));
  CHECK_ERR(cairn_scope_validate("site/a"), CAIRN_ERR_PARSE);
  CHECK_STR_EQ(cairn_errdetail(), "path must have a leading slash");
  CHECK_ERR(cairn_scope_validate("/site/a/"), CAIRN_ERR_PARSE);
  CHECK_STR_EQ(cairn_errdetail(), "path cannot have a trailing slash");
  CHECK_ERR(cairn_scope_validate("/site//a"), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_scope_validate("/site/../a"), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_scope_validate("/site/*/a"), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_scope_validate("/site/a*"), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_scope_validate("*"), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_scope_validate("/site/a/**"), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_scope_validate("/site/a/*/*"), CAIRN_ERR_PARSE);
  CHECK_ERR(cairn_scope_validate(NULL), CAIRN_ERR_INVAL);
  /* Longer than any ID path ("spiffe://x" + path <= 2048 bytes). */
  memset(big, 'a', sizeof big);
  big[0] = '/';
  big[CAIRN_ID_MAX - 10] = '\0';
  CHECK_OK(cairn_scope_validate(big));
  big[CAIRN_ID_MAX - 10] = 'a';
  big[CAIRN_ID_MAX - 9] = '\0';
  CHECK_ERR(cairn_scope_validate(big), CAIRN_ERR_PARSE);

  CHECK(cairn_scope_match("/site/a", "spiffe://example.org/site/a"));
  CHECK(cairn_scope_match("/site/a", "spiffe://example.org/site/a/web"));
  CHECK(!cairn_scope_match("/site/a", "spiffe://example.org/site/ab"));
  CHECK(!cairn_scope_match("/site/a", "spiffe://example.org/site"));
  CHECK(!cairn_scope_match("/site/a", "spiffe://example.org"));
  CHECK(!cairn_scope_match("/site/a/*", "spiffe://example.org/site/a"));
  CHECK(cairn_scope_match("/site/a/*", "spiffe://example.org/site/a/x/y"));
  CHECK(!cairn_scope_match("/site/a/*", "spiffe://example.org/other/a/x"));
  CHECK(cairn_scope_match("", "spiffe://example.org"));
  CHECK(cairn_scope_match("/*", "spiffe://example.org/x"));
  /* The trust domain is not compared. */
  CHECK(cairn_scope_match("/site/a", "spiffe://other.org/site/a/x"));
  /* Malformed IDs and scopes match nothing; case matters in paths. */
  CHECK(!cairn_scope_match("/site/a", "spiffe://example.org/site/a/"));
  CHECK(!cairn_scope_match("/site/a", "spiffe://example.org/site/a/../b"));
  CHECK(!cairn_scope_match("/site/a", "spiffe://EXAMPLE.org/site/a"));
  CHECK(!cairn_scope_match("/site/a", "spiffe://example.org/Site/a"));
  CHECK(!cairn_scope_match("/site/a/", "spiffe://example.org/site/a/x"));
  CHECK(!cairn_scope_match("site", "spiffe://example.org/site"));
  CHECK(!cairn_scope_match(NULL, "spiffe://example.org/site"));
  CHECK(!cairn_scope_match("/site", NULL));
}

int main(void)
{
  RUN(test_valid);
  RUN(test_invalid);
  RUN(test_lengths);
  RUN(test_parts_and_td);
  RUN(test_scope);
  RUN(test_scope_validate_and_match);
  return test_done();
}
