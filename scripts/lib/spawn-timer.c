/* spawn-timer RESULT PROG [ARGS...]: runs PROG once (stdio inherited) and
   writes "<wall ns> <peak RSS KiB> <exit code>" to RESULT.

   A stopwatch for benchmarks (scripts/bench-df): CLOCK_MONOTONIC around
   fork+exec..wait4, and the child's own ru_maxrss. It is C, not Python:
   Linux starts a child's ru_maxrss at the RSS of the process that forked it,
   so a child forked from Python would report no figure under Python's own
   ~8 MiB; this forker is ~100 KiB. (scripts/bench-doctor has the same
   program inline.) */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
    struct timespec t0, t1;
    struct rusage ru;
    int status;
    if (argc < 3) { fputs("usage: spawn-timer RESULT PROG [ARGS...]\n", stderr); return 127; }
    FILE *out = fopen(argv[1], "w");
    if (!out) { perror(argv[1]); return 127; }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 127; }
    if (pid == 0) { execv(argv[2], argv + 2); perror(argv[2]); _exit(127); }
    if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); return 127; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(out, "%lld %ld %d\n",
            (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec),
            ru.ru_maxrss,
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return fclose(out) == 0 ? 0 : 127;
}
