/* zei: give back the resident pages of the binary's read-only segments once start-up is over.
 *
 * The kernel maps the 64 KiB around every page a process faults in from a cached file
 * (fault-around), so by the end of start-up most of zei's code and read-only data is
 * resident in PID 1 (~5.6 MB of the binary's ~13 MB RSS), though the idle daemon runs a few
 * dozen pages of it. madvise(MADV_DONTNEED) on those segments drops them from the process
 * (they stay in the page cache, shared and clean, and fault back in when code runs
 * again): the same pages the kernel itself would reclaim first under memory pressure.
 *
 * Only the main program's PT_LOAD segments without PF_W are released, page-aligned inward:
 * code, read-only data, the ELF/dynamic-linker tables. Never a writable segment, and never
 * the PT_GNU_RELRO range (written by the dynamic linker before it was made read-only: its
 * pages are private copies, and dropping them would lose the relocations). Nothing the
 * program wrote is in a released range, so the call cannot change what the program reads.
 *
 * Python sees it as builtins.__zei_release_startup_pages() (registered by
 * zeiRegisterRelease(), called from zei_lazy_inspect.c's hook in Nuitka's main(), before any
 * zei code runs); zei.shell.residency takes it out of builtins and calls it once, when
 * the daemon has started its services and is idle. It returns the bytes advised.
 */
#include "nuitka/prelude.h"

#include <errno.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

struct zeiReleased {
    size_t bytes;
    int error;
};

static int zeiReleaseMain(struct dl_phdr_info *info, size_t size, void *data) {
    struct zeiReleased *released = data;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t relro_start = 0, relro_end = 0;

    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        ElfW(Phdr) const *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_GNU_RELRO) {
            relro_start = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
            relro_end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + page - 1) & ~(page - 1);
        }
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        ElfW(Phdr) const *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W)) {
            continue;
        }
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr + page - 1) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_filesz) & ~(page - 1);
        if (relro_end > relro_start && start < relro_end && end > relro_start) {
            continue;                   /* overlaps RELRO: not ours to drop (never seen) */
        }
        if (end > start) {
            if (madvise((void *)start, end - start, MADV_DONTNEED) == 0) {
                released->bytes += end - start;
            } else {
                released->error = errno;
            }
        }
    }
    return 1; /* the first object is the main program: stop there */
}

static PyObject *zeiReleaseStartupPages(PyObject *self, PyObject *unused) {
    struct zeiReleased released = {0, 0};

    dl_iterate_phdr(zeiReleaseMain, &released);
    if (released.error != 0 && released.bytes == 0) {
        errno = released.error;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromSize_t(released.bytes);
}

static PyMethodDef zeiReleaseDef = {"__zei_release_startup_pages", zeiReleaseStartupPages, METH_NOARGS, NULL};

void zeiRegisterRelease(PyObject *builtins) {
    PyObject *function = PyCFunction_New(&zeiReleaseDef, NULL);

    if (function == NULL || PyObject_SetAttrString(builtins, "__zei_release_startup_pages", function) != 0) {
        PyErr_PrintEx(0);
        Py_Exit(1);
    }
    Py_DECREF(function);
}
