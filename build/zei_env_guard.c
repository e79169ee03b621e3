/* zei: environment guard (and reserved signals), compiled into dist/zei by build/zei_plugin.py.
 *
 * zei is installed suid-root, so whoever runs it chooses its environment. The CPython
 * start-up inside a Nuitka binary reads that environment (Nuitka leaves
 * Py_IgnoreEnvironmentFlag at 0 and pre-initialises with the "python" config), and
 * Nuitka's own C start-up aborts when LANG/LC_* name a locale that cannot be loaded.
 * This constructor runs before Nuitka's main(), i.e. before either of them looks:
 *
 *  - PYTHON* and _PYTHON* variables: taken out of the environment. In secure mode
 *    (AT_SECURE: suid/sgid exec) they are dropped; otherwise they are renamed to
 *    __ZEI_HIDDEN_<name> and put back into os.environ by the main module's pre-load code
 *    (build/zei_plugin.py), so services still inherit e.g. PYTHONUNBUFFERED.
 *  - LANG and LC_*: always renamed the same way (also in secure mode; they are not
 *    dangerous to children). The interpreter therefore always starts in the C locale,
 *    which Nuitka turns into Python's UTF-8 mode: no locale files needed, no abort, and no
 *    codec module looked up by the name of a locale's codeset.
 *  - NUITKA_* variables steer only Nuitka's runtime: dropped.
 *  - __ZEI_HIDDEN_* variables that were already there: dropped (only ours come back).
 *
 * Nothing else is touched. The new array is malloc'ed and never freed (one per process).
 *
 * When zei is not PID 1 it becomes a child subreaper here (prctl(PR_SET_CHILD_SUBREAPER):
 * the standard library has no prctl) and says so to zei.shell.subreaper with
 * __ZEI_SUBREAPER=1 (or the error text); a __ZEI_SUBREAPER the caller set is dropped.
 *
 * It also resets signals 32 and 33 to SIG_DFL when they arrive ignored: glibc reserves them
 * (NPTL's SIGCANCEL/SIGSETXID), its posix_spawn() hands them to the child as SIG_IGN (so
 * they arrive ignored under make, runc, ...), and its sigaction() refuses to touch them, so
 * neither Python nor zei could clean them for the services, which inherit dispositions.
 */
#define _GNU_SOURCE 1  /* syscall() under -std=c11 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

#define ZEI_HIDDEN_PREFIX "__ZEI_HIDDEN_"

static int zeiStartsWith(char const *s, char const *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int zeiIsPythonVariable(char const *entry) {
    return zeiStartsWith(entry, "PYTHON") || zeiStartsWith(entry, "_PYTHON");
}

static int zeiIsLocaleVariable(char const *entry) {
    return zeiStartsWith(entry, "LANG=") || zeiStartsWith(entry, "LC_");
}

static char *zeiHide(char const *entry) {
    size_t size = strlen(ZEI_HIDDEN_PREFIX) + strlen(entry) + 1;
    char *hidden = malloc(size);

    if (hidden == NULL) {
        abort();
    }
    strcpy(hidden, ZEI_HIDDEN_PREFIX);
    strcat(hidden, entry);
    return hidden;
}

#if defined(__x86_64__)
struct zeiKernelSigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

static void zeiDefaultReservedSignals(void) {
    for (int sig = 32; sig <= 33; sig++) {
        struct zeiKernelSigaction old, dfl = {SIG_DFL, 0, NULL, 0};

        if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(unsigned long)) == 0 && old.handler == SIG_IGN) {
            syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(unsigned long));
        }
    }
}
#else
#error "zei_env_guard.c: the kernel sigaction layout is only written down for x86_64"
#endif

__attribute__((constructor)) static void zeiGuardEnvironment(void) {
    zeiDefaultReservedSignals();

    int secure = getauxval(AT_SECURE) != 0;
    size_t count = 0;

    if (environ == NULL) {
        return;
    }
    while (environ[count] != NULL) {
        count++;
    }

    char **cleaned = malloc((count + 2) * sizeof(char *));
    if (cleaned == NULL) {
        abort();
    }

    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        char *entry = environ[i];

        if (zeiStartsWith(entry, ZEI_HIDDEN_PREFIX) || zeiStartsWith(entry, "NUITKA_")
            || zeiStartsWith(entry, "__ZEI_SUBREAPER=")) {
            continue;
        }
        if (zeiIsPythonVariable(entry)) {
            if (!secure) {
                cleaned[kept++] = zeiHide(entry);
            }
            continue;
        }
        if (zeiIsLocaleVariable(entry)) {
            cleaned[kept++] = zeiHide(entry);
            continue;
        }
        cleaned[kept++] = entry;
    }
    if (getpid() != 1) {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0) {
            cleaned[kept++] = "__ZEI_SUBREAPER=1";
        } else {
            char const *why = strerror(errno);
            char *mark = malloc(strlen("__ZEI_SUBREAPER=") + strlen(why) + 1);
            if (mark == NULL) {
                abort();
            }
            strcpy(mark, "__ZEI_SUBREAPER=");
            strcat(mark, why);
            cleaned[kept++] = mark;
        }
    }
    cleaned[kept] = NULL;
    environ = cleaned;
}
