/* zei: find the embedded bytecode of every uncompiled module without reading it.
 *
 * Nuitka 4.3.3 keeps the marshal data of all uncompiled modules (stdlib, PyYAML, docopt)
 * in the ".bytecode" record of its constants blob, as a uint16 count followed by one
 * (tag byte, variable-length size, data) entry per module, and at every start
 * loadConstantsBlob() walks all entries to fill bytecode_data[] with their addresses.
 * Touching each entry's header makes the kernel map the 64 KiB around it (fault-around,
 * more with large page-cache folios), so the whole record, ~2-3 MB, became resident in
 * every zei process whether or not a module was ever imported.
 *
 * build/zei_plugin.py knows every entry's size at code generation time (it records what
 * Nuitka puts into that record) and replaces, in the generated loader code, that one
 * loadConstantsBlob() call by this function, which computes the addresses from the
 * sizes. It reads only the record's header and its last byte, and it checks the layout
 * it assumed: the record is the blob's first, its count and total length match, and it
 * ends with the end tag. If any of that does not hold it falls back to Nuitka's own walk,
 * so a mismatch costs memory, never correctness.
 */
#include "nuitka/prelude.h"
#include "nuitka/constants_blob.h"

extern unsigned char const *getconstant_binData(void);

static unsigned int zeiVariableLengthSize(uint32_t value) {
    unsigned int result = 1;

    while (value >= 128) {
        value >>= 7;
        result += 1;
    }
    return result;
}

int zei_bytecode_blob_fallback = 0; /* for a debugger or a test: 1 if the walk was needed */

void zeiLoadBytecodeBlob(PyThreadState *tstate, unsigned char **output, uint32_t const *sizes,
                         int count) {
    unsigned char const *w = getconstant_binData();

    if (strcmp((char const *)w, ".bytecode") == 0) {
        w += sizeof(".bytecode");

        uint32_t record_size;
        memcpy(&record_size, w, sizeof(record_size));
        w += sizeof(record_size);

        unsigned char const *end = w + record_size;
        uint16_t stored_count;
        memcpy(&stored_count, w, sizeof(stored_count));
        w += sizeof(stored_count);

        if (stored_count == count) {
            for (int i = 0; i < count; i++) {
                w += 1 + zeiVariableLengthSize(sizes[i]);
                output[i] = (unsigned char *)w;
                w += sizes[i];
            }
            if (w + 1 == end && *w == NUITKA_CONSTANT_BLOB_TAG_END) {
                return;
            }
        }
    }

    zei_bytecode_blob_fallback = 1;
    loadConstantsBlob(tstate, output, ".bytecode");
}
