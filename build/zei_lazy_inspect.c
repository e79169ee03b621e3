/* zei: patch "inspect" when it is first imported, not at every start-up.
 *
 * Nuitka 4.3.3's main() imports "inspect" (and with it ast, dis, tokenize, enum, re, ...)
 * before any user code, only to wrap inspect.getgeneratorstate/getcoroutinestate and
 * types.coroutine for compiled generators. That import is ~20 ms of every start of zei.
 * build/zei_plugin.py replaces that call in Nuitka's MainProgram.c (pinned version, exact
 * text, failing loudly otherwise) by zeiDeferInspectPatch(), and adds "postLoad" code to
 * the inspect module that calls back here, so the same patch happens right after
 * "inspect" is imported, before anyone can use it.
 */
#include "nuitka/prelude.h"

static PyObject *zeiPatchInspectNow(PyObject *self, PyObject *unused) {
    patchInspectModule(PyThreadState_GET());
    Py_INCREF(Py_None);
    return Py_None;
}

static PyMethodDef zeiPatchInspectDef = {"__zei_patch_inspect", zeiPatchInspectNow, METH_NOARGS, NULL};

extern void zeiRegisterRelease(PyObject *builtins);   /* zei_release.c */

void zeiDeferInspectPatch(PyThreadState *tstate) {
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *builtins = PyDict_GetItemString(modules, "builtins");

    if (builtins == NULL) {
        PyErr_PrintEx(0);
        Py_Exit(1);
    }
    zeiRegisterRelease(builtins);   /* this hook runs before any zei code: register it here too */
    if (PyDict_GetItemString(modules, "inspect") != NULL) {
        patchInspectModule(tstate);
        return;
    }

    PyObject *function = PyCFunction_New(&zeiPatchInspectDef, NULL);

    if (function == NULL || PyObject_SetAttrString(builtins, "__zei_patch_inspect", function) != 0) {
        PyErr_PrintEx(0);
        Py_Exit(1);
    }
    Py_DECREF(function);
}
