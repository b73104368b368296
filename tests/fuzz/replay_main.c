/* tests/fuzz/replay_main.c - runs a fuzz target over every file of a
 * corpus directory (or over the files named on the command line), so the
 * checked-in corpus is exercised under ctest in every build, sanitizers
 * included. Exits non-zero when the corpus is empty or unreadable. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  uint8_t *buf;
  long n;
  if (!f) {
    perror(path);
    return -1;
  }
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return -1;
  }
  buf = malloc(n ? (size_t)n : 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    fclose(f);
    return -1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, (size_t)n);
  free(buf);
  return 0;
}

int main(int argc, char **argv)
{
  int files = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      return 2;
    }
    if (S_ISDIR(st.st_mode)) {
      struct dirent **ents;
      int n = scandir(argv[i], &ents, NULL, alphasort);
      if (n < 0) {
        perror(argv[i]);
        return 2;
      }
      for (int j = 0; j < n; j++) {
        char p[4096];
        if (ents[j]->d_name[0] != '.') {
          snprintf(p, sizeof p, "%s/%s", argv[i], ents[j]->d_name);
          if (run_file(p) != 0) return 2;
          files++;
        }
        free(ents[j]);
      }
      free(ents);
    } else {
      if (run_file(argv[i]) != 0) return 2;
      files++;
    }
  }
  printf("replayed %d corpus files\n", files);
  return files > 0 ? 0 : 1;
}
