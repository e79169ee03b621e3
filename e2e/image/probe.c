/* probe: the e2e suite's test service (the image has no shell or Python of its own).
 *
 * Prints one line describing how it was started, read from the kernel:
 *   ready pid=N ppid=N pgid=N sid=N uid=R/E/S gid=R/E/S groups=A,B blocked=HEX ignored=HEX
 *         caught=HEX cwd=PATH home=H user=U
 * then `got SIGNAME` for every catchable signal it receives (one line each, in order).
 * On SIGTERM it exits 0 (or --exit-on-term N); --ignore-term keeps it running.
 * --exit N exits with N right after the ready line.
 *
 * Signals are received with sigwaitinfo() after the ready line, so the line reports the
 * mask and dispositions inherited from zei, untouched.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static const char *status_field(const char *name, char *buf, size_t len)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[512];
    size_t n = strlen(name);
    snprintf(buf, len, "?");
    if (!f)
        return buf;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            char *v = line + n + 1;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = 0;
            for (char *p = v; *p; p++)
                if (*p == '\t' || *p == ' ')
                    *p = '/';
            snprintf(buf, len, "%s", v);
            break;
        }
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    int ignore_term = 0, term_code = 0, exit_now = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ignore-term"))
            ignore_term = 1;
        else if (!strcmp(argv[i], "--exit-on-term") && i + 1 < argc)
            term_code = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--exit") && i + 1 < argc)
            exit_now = atoi(argv[++i]);
        else {
            fprintf(stderr, "probe: unknown argument %s\n", argv[i]);
            return 64;
        }
    }

    char blk[64], ign[64], cgt[64], uid[64], gid[64], cwd[PATH_MAX];
    status_field("SigBlk", blk, sizeof blk);
    status_field("SigIgn", ign, sizeof ign);
    status_field("SigCgt", cgt, sizeof cgt);
    status_field("Uid", uid, sizeof uid);
    status_field("Gid", gid, sizeof gid);
    gid_t groups[256];
    int ng = getgroups(256, groups);
    char gl[2048] = "";
    for (int i = 0; i < ng; i++) {
        size_t l = strlen(gl);
        snprintf(gl + l, sizeof gl - l, "%s%u", i ? "," : "", (unsigned)groups[i]);
    }
    if (!getcwd(cwd, sizeof cwd))
        strcpy(cwd, "?");
    const char *home = getenv("HOME"), *user = getenv("USER");
    printf("ready pid=%d ppid=%d pgid=%d sid=%d uid=%s gid=%s groups=%s blocked=%s ignored=%s "
           "caught=%s cwd=%s home=%s user=%s\n",
           getpid(), getppid(), getpgrp(), getsid(0), uid, gid, ng ? gl : "-", blk, ign, cgt, cwd,
           home ? home : "-", user ? user : "-");
    fflush(stdout);
    if (exit_now >= 0)
        return exit_now;

    static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGWINCH,
                               SIGCONT, SIGALRM, SIGPIPE};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    printf("waiting\n");
    fflush(stdout);
    for (;;) {
        siginfo_t info;
        int s = sigwaitinfo(&set, &info);
        if (s < 0)
            continue;
        printf("got SIG%s from=%d\n", sigabbrev_np(s), (int)info.si_pid);
        fflush(stdout);
        if (s == SIGTERM && !ignore_term)
            return term_code;
    }
}
