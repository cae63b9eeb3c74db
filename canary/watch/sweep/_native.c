/*
 * The hot loop of a leak sweep, in C: Hyperscan over the squeezed stream, with the weak-pair
 * pre-check done in the match callback instead of a Python callback per hit.
 *
 * In a leak-like dump about one row in three holds a birth date that is also some canary's birth
 * date, and ~99 % of those rows hold none of that canary's other fields. Dropping them here (a few
 * substring tests over the record) instead of in Python makes the sweep several times faster; every hit
 * that survives goes back to Python, which does the same check again and then the exact
 * verification (canary/watch/sweep/matcher.py). The Python fallback does the same work, slower.
 *
 * Built only when the Hyperscan headers are present (Debian: libhyperscan-dev); optional.
 */
#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memrchr */
#endif
#include <Python.h>
#include <string.h>
#include <stdlib.h>
#include <stdint.h>
#include <hs/hs.h>

typedef struct {
    uint64_t key;   /* the first 8 digits of patterns, as the 64-bit word their bytes make */
    uint32_t first; /* where those patterns start in DigitIndex.found */
    uint32_t count; /* how many patterns share them; 0: an empty slot */
} DigitSlot;

typedef struct {
    uint64_t rest;   /* the bytes after its 8 anchor digits, up to 8 of them (zero-padded) */
    uint32_t id;     /* the pattern */
    uint32_t length; /* its length */
    uint32_t offset; /* where its anchor starts in it: 0 for a digit string */
} DigitPattern;

typedef struct {
    uint64_t *filter;     /* a bit per hash of an 8-digit prefix */
    DigitSlot *slots;     /* open addressing on the prefix */
    uint32_t mask;        /* slots - 1 */
    DigitPattern *found;  /* the patterns, sorted by prefix: what a slot's first/count point at */
    Py_ssize_t patterns;
} DigitIndex;

typedef struct {
    uint64_t key;   /* 8 bytes of a pattern, read as one word */
    uint32_t first; /* where its entries start in SampleIndex.entries */
    uint32_t count;
} SampleSlot;

typedef struct {
    uint32_t id;     /* the pattern */
    uint32_t offset; /* where those 8 bytes sit in it */
} SampleEntry;

typedef struct {
    uint64_t *filter;      /* a bit per hash of an 8-byte piece */
    SampleSlot *slots;     /* open addressing on the piece */
    uint32_t mask;         /* slots - 1 */
    SampleEntry *entries;  /* sorted by piece */
    Py_ssize_t stride;     /* the text is read every `stride` bytes */
    Py_ssize_t patterns;
} SampleIndex;

typedef struct {
    PyObject_HEAD
    hs_database_t *database;
    hs_scratch_t *scratch;
    Py_ssize_t count;       /* patterns */
    Py_ssize_t *lengths;    /* per pattern */
    char **patterns;        /* per pattern, pointing into pattern_blob */
    char *pattern_blob;
    Py_ssize_t *other_from; /* per pattern: first index in others_*, or -1 for a strong marker */
    Py_ssize_t *other_to;
    char **others_ptr;      /* the other halves, pointing into others_blob */
    Py_ssize_t *others_len;
    char *others_blob;
    Py_ssize_t window;
    Py_ssize_t short_line;
    DigitIndex digits;      /* the all-digit patterns, found without Hyperscan */
    SampleIndex samples;    /* the long other ones, found without Hyperscan */
    int busy;
    int ready;
} EngineObject;

typedef struct {
    const EngineObject *engine;
    const char *data;
    Py_ssize_t size;
    unsigned long long *hits; /* pairs: pattern id, end offset */
    Py_ssize_t used;
    Py_ssize_t capacity;
    int failed;
} ScanState;

static PyObject *NativeError;


#define RECORD_SEPARATOR '\x1e' /* textnorm.RECORD_SEPARATOR */
#define INDENT '\x1f'           /* textnorm.INDENT: starts the squeezed form of an indented line */

static const char *find_byte_back(const char *data, Py_ssize_t lo, Py_ssize_t hi, char byte) {
    /* Last `byte` in data[lo:hi], or NULL. */
    return hi > lo ? memrchr(data + lo, byte, (size_t)(hi - lo)) : NULL;
}

#ifdef __SSE2__
#include <emmintrin.h>
/* Whether `needle` occurs in `hay`: 16 positions at a time, comparing the needle's first and last
 * bytes (Mula's SIMD-friendly substring search); memcmp only where both agree. For these short windows
 * it beat glibc's memmem (the whole engine went from 216 to 241 MB/s on the benchmark corpus). */
static int contains(const char *hay, Py_ssize_t size, const char *needle, Py_ssize_t length) {
    if (length <= 0 || length > size)
        return length <= 0;
    const __m128i first = _mm_set1_epi8(needle[0]), last = _mm_set1_epi8(needle[length - 1]);
    Py_ssize_t i = 0, stop = size - length + 1; /* candidate start positions: [0, stop) */
    for (; i + 16 <= stop; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(hay + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(hay + i + length - 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last)));
        while (mask) {
            int bit = __builtin_ctz(mask);
            if (memcmp(hay + i + bit + 1, needle + 1, (size_t)(length - 2 > 0 ? length - 2 : 0)) == 0)
                return 1;
            mask &= mask - 1;
        }
    }
    for (; i < stop; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, (size_t)length) == 0)
            return 1;
    return 0;
}
#else
static int contains(const char *hay, Py_ssize_t size, const char *needle, Py_ssize_t length) {
    return length <= size && memmem(hay, (size_t)size, needle, (size_t)length) != NULL;
}
#endif


/* --- the digit pass --------------------------------------------------------------------------------
 *
 * Most patterns are digit strings of 8 or more digits (birth dates as ddmmyyyy and yyyymmdd, NIR,
 * phones, IPP, mutuelle numbers; a pattern with such a run after a letter is found from its run, its
 * other bytes compared after), and the squeezed text of a dump is half digits: Hyperscan spent most
 * of a sweep on them, and the 8-digit birth dates alone gave it hundreds of thousands of hits. They
 * are found here instead: every 8-digit window of every digit run (found 16 bytes at a time with SSE2)
 * is read as one 64-bit word, tested in a bit filter (256 KiB, stays in the L2 cache), and only the
 * windows that pass are looked up in a hash table of the patterns' first 8 digits, whose patterns are
 * then compared whole. Hyperscan keeps the patterns neither this pass nor the sampled one below finds.
 * Same hits, reported in the same order: by end offset, then pattern id. */

#define DIGIT_PREFIX 8
#define FILTER_BITS 21 /* 2^21 bits = 256 KiB: ~2 % of the windows pass for 50,000 patterns */

static Py_ssize_t digit_anchor(const char *bytes, Py_ssize_t length) {
    /* Where the pattern's first run of 8 digits starts (a digit string: 0), or -1 without one: the digit
     * pass finds every pattern that has one (a letter-prefixed mutuelle number too) from it. */
    Py_ssize_t run = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        run = (bytes[i] >= '0' && bytes[i] <= '9') ? run + 1 : 0;
        if (run == DIGIT_PREFIX)
            return i + 1 - DIGIT_PREFIX;
    }
    return -1;
}

static inline uint64_t load_word(const char *text) {
    uint64_t word;
    memcpy(&word, text, 8);
    return word;
}

/* Multiplicative hashes of the 8 bytes as one word (no need to read them as a number). */
static inline uint32_t filter_bit(uint64_t key) { return (uint32_t)((key * 0x9E3779B97F4A7C15ULL) >> (64 - FILTER_BITS)); }
static inline uint32_t table_slot(uint64_t key, uint32_t mask) {
    return (uint32_t)((key * 0xC2B2AE3D27D4EB4FULL) >> 29) & mask;
}

static void digit_index_free(DigitIndex *digits) {
    PyMem_Free(digits->filter);
    PyMem_Free(digits->slots);
    PyMem_Free(digits->found);
    memset(digits, 0, sizeof *digits);
}

typedef struct {
    uint64_t key;
    uint32_t id;
} KeyedId;

static int by_key_then_id(const void *a, const void *b) {
    const KeyedId *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int digit_index_build(DigitIndex *digits, char **patterns, const Py_ssize_t *lengths, Py_ssize_t count) {
    /* 0, or -1 with a Python error set. */
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < count; i++)
        n += digit_anchor(patterns[i], lengths[i]) >= 0;
    digits->filter = PyMem_Calloc((size_t)1 << (FILTER_BITS - 6), sizeof(uint64_t));
    KeyedId *keyed = PyMem_Calloc((size_t)n + 1, sizeof(KeyedId));
    digits->found = PyMem_Calloc((size_t)n + 1, sizeof(DigitPattern));
    uint32_t capacity = 16;
    while (capacity < 2 * (uint32_t)n + 16)
        capacity *= 2;
    digits->mask = capacity - 1;
    digits->slots = PyMem_Calloc((size_t)capacity, sizeof(DigitSlot));
    if (!digits->filter || !keyed || !digits->found || !digits->slots) {
        PyMem_Free(keyed);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < count; i++)
        if (digit_anchor(patterns[i], lengths[i]) >= 0)
            keyed[k++] = (KeyedId){load_word(patterns[i] + digit_anchor(patterns[i], lengths[i])), (uint32_t)i};
    qsort(keyed, (size_t)n, sizeof *keyed, by_key_then_id);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t key = keyed[i].key;
        uint32_t id = keyed[i].id;
        Py_ssize_t offset = digit_anchor(patterns[id], lengths[id]), rest = lengths[id] - offset - DIGIT_PREFIX;
        digits->found[i] = (DigitPattern){0, id, (uint32_t)lengths[id], (uint32_t)offset};
        memcpy(&digits->found[i].rest, patterns[id] + offset + DIGIT_PREFIX, (size_t)(rest < 8 ? rest : 8));
        digits->filter[filter_bit(key) >> 6] |= 1ULL << (filter_bit(key) & 63);
        uint32_t slot = table_slot(key, digits->mask);
        while (digits->slots[slot].count && digits->slots[slot].key != key)
            slot = (slot + 1) & digits->mask;
        if (!digits->slots[slot].count) {
            digits->slots[slot].key = key;
            digits->slots[slot].first = (uint32_t)i;
        }
        digits->slots[slot].count++;
    }
    digits->patterns = n;
    PyMem_Free(keyed);
    return 0;
}


/* --- the sampled pass -------------------------------------------------------------------------------
 *
 * The other long patterns (callback tokens of 20 characters, e-mail addresses, hostnames: SAMPLED_MIN
 * bytes or more) need no look at every position: with the shortest of them m bytes long, any
 * occurrence holds a whole 8-byte piece starting at a multiple of stride = m - 7. The text is read
 * there only, each 8-byte word through a bit filter and a hash table of the patterns' pieces at offsets
 * 0..stride-1 (so each occurrence is found once, from the first sample inside it), and the candidates
 * compared whole. Hyperscan is left with the short ones, if any. */

#define SAMPLED_MIN 10
#define SAMPLE_FILTER_BITS 21

static int is_sampled_pattern(const char *bytes, Py_ssize_t length) {
    return length >= SAMPLED_MIN && digit_anchor(bytes, length) < 0;
}

static inline uint32_t sample_bit(uint64_t key) { return (uint32_t)((key * 0x9E3779B97F4A7C15ULL) >> (64 - SAMPLE_FILTER_BITS)); }
static inline uint32_t sample_slot(uint64_t key, uint32_t mask) {
    return (uint32_t)((key * 0xC2B2AE3D27D4EB4FULL) >> 29) & mask;
}

static void sample_index_free(SampleIndex *samples) {
    PyMem_Free(samples->filter);
    PyMem_Free(samples->slots);
    PyMem_Free(samples->entries);
    memset(samples, 0, sizeof *samples);
}

typedef struct {
    uint64_t key;
    SampleEntry entry;
} KeyedEntry;

static int by_piece(const void *a, const void *b) {
    const KeyedEntry *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->entry.id != y->entry.id)
        return x->entry.id < y->entry.id ? -1 : 1;
    return x->entry.offset < y->entry.offset ? -1 : x->entry.offset > y->entry.offset;
}

static int sample_index_build(SampleIndex *samples, char **patterns, const Py_ssize_t *lengths, Py_ssize_t count) {
    /* 0, or -1 with a Python error set. */
    Py_ssize_t shortest = 0;
    for (Py_ssize_t i = 0; i < count; i++)
        if (is_sampled_pattern(patterns[i], lengths[i])) {
            samples->patterns++;
            if (!shortest || lengths[i] < shortest)
                shortest = lengths[i];
        }
    if (!samples->patterns)
        return 0;
    samples->stride = shortest - 7;
    Py_ssize_t n = samples->patterns * samples->stride;
    samples->filter = PyMem_Calloc((size_t)1 << (SAMPLE_FILTER_BITS - 6), sizeof(uint64_t));
    KeyedEntry *keyed = PyMem_Calloc((size_t)n + 1, sizeof(KeyedEntry));
    samples->entries = PyMem_Calloc((size_t)n + 1, sizeof(SampleEntry));
    uint32_t capacity = 16;
    while (capacity < 2 * (uint32_t)n + 16)
        capacity *= 2;
    samples->mask = capacity - 1;
    samples->slots = PyMem_Calloc((size_t)capacity, sizeof(SampleSlot));
    if (!samples->filter || !keyed || !samples->entries || !samples->slots) {
        PyMem_Free(keyed);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < count; i++)
        if (is_sampled_pattern(patterns[i], lengths[i]))
            for (Py_ssize_t offset = 0; offset < samples->stride; offset++)
                keyed[k++] = (KeyedEntry){load_word(patterns[i] + offset), {(uint32_t)i, (uint32_t)offset}};
    qsort(keyed, (size_t)n, sizeof *keyed, by_piece);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t key = keyed[i].key;
        samples->entries[i] = keyed[i].entry;
        samples->filter[sample_bit(key) >> 6] |= 1ULL << (sample_bit(key) & 63);
        uint32_t slot = sample_slot(key, samples->mask);
        while (samples->slots[slot].count && samples->slots[slot].key != key)
            slot = (slot + 1) & samples->mask;
        if (!samples->slots[slot].count) {
            samples->slots[slot].key = key;
            samples->slots[slot].first = (uint32_t)i;
        }
        samples->slots[slot].count++;
    }
    PyMem_Free(keyed);
    return 0;
}

static int other_half_near(const EngineObject *engine, const char *data, Py_ssize_t size, unsigned int id,
                           Py_ssize_t end) {
    /* The same window as search.pair_window in Python: the squeezed line or tuple, or +/- window bytes
     * around the anchor when the line is short and indented (a field of a pretty-printed record). */
    Py_ssize_t window = engine->window;
    Py_ssize_t start = end - engine->lengths[id];
    Py_ssize_t wide_lo = start > window ? start - window : 0;
    /* A record ends at a newline or at the record separator squeezing writes between the tuples
     * of an SQL extended insert or the objects of a JSON array (textnorm.RECORD_REWRITES). */
    const char *newline = find_byte_back(data, wide_lo, start, '\n');
    const char *separator = find_byte_back(data, newline ? newline - data + 1 : wide_lo, start, RECORD_SEPARATOR);
    Py_ssize_t lo = separator ? (separator - data) + 1 : newline ? (newline - data) + 1 : 0;
    Py_ssize_t hi_limit = end + window < size ? end + window : size;
    const char *after = end < hi_limit ? memchr(data + end, '\n', (size_t)(hi_limit - end)) : NULL;
    Py_ssize_t record_end = after ? after - data : hi_limit;
    const char *next = end < record_end ? memchr(data + end, RECORD_SEPARATOR, (size_t)(record_end - end)) : NULL;
    Py_ssize_t hi = next ? next - data : after ? after - data : -1;
    if (lo == 0)
        lo = wide_lo;
    if (hi < 0)
        hi = end + window;
    /* A short line is a field of a pretty-printed record only when it is indented (or where it starts
     * is not known): a short CSV row or a short tuple is a whole record and is not widened. */
    int indented = !newline || (lo < size && (data[lo] == INDENT || data[lo] == '\t'));
    if (hi - lo < engine->short_line && !separator && !next && indented) {
        lo = wide_lo;
        hi = end + window;
    }
    if (hi > size)
        hi = size;
    for (Py_ssize_t k = engine->other_from[id]; k < engine->other_to[id]; k++) {
        Py_ssize_t length = engine->others_len[k];
        if (contains(data + lo, hi - lo, engine->others_ptr[k], length))
            return 1;
    }
    return 0;
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
                    void *context) {
    (void)from;
    (void)flags;
    ScanState *state = context;
    const EngineObject *engine = state->engine;
    if ((Py_ssize_t)id >= engine->count)
        return 0; /* cannot happen with a database compiled from the same patterns; never read past the plan */
    if (engine->other_from[id] >= 0 && !other_half_near(engine, state->data, state->size, id, (Py_ssize_t)to))
        return 0;
    if (state->used + 2 > state->capacity) {
        Py_ssize_t capacity = state->capacity ? state->capacity * 2 : 4096;
        unsigned long long *grown = realloc(state->hits, (size_t)capacity * sizeof(*grown));
        if (!grown) {
            state->failed = 1;
            return 1; /* stops the scan */
        }
        state->hits = grown;
        state->capacity = capacity;
    }
    state->hits[state->used++] = id;
    state->hits[state->used++] = to;
    return 0;
}


static inline int may_start_pattern(const DigitIndex *digits, uint64_t key) {
    uint32_t bit = filter_bit(key);
    return (digits->filter[bit >> 6] >> (bit & 63)) & 1;
}

static inline int is_digit(char c) { return (unsigned char)(c - '0') < 10; }

#ifdef __SSE2__
static inline unsigned digit_mask16(const char *text) {
    /* Bit i set when text[i] is an ASCII digit. */
    __m128i v = _mm_loadu_si128((const __m128i *)text);
    __m128i shifted = _mm_sub_epi8(v, _mm_set1_epi8((char)('0' + 128))); /* '0'..'9' -> -128..-119 */
    return (unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(shifted, _mm_set1_epi8(-128 + 10)));
}
#endif

/* A growable array of 64-bit words (the digit pass works in batches, see scan_digits). */
typedef struct {
    uint64_t *items;
    size_t used, capacity;
} Words;

static int words_push(Words *words, uint64_t value) {
    if (words->used == words->capacity) {
        size_t capacity = words->capacity ? words->capacity * 2 : 4096;
        uint64_t *grown = realloc(words->items, capacity * sizeof *grown);
        if (!grown)
            return -1;
        words->items = grown;
        words->capacity = capacity;
    }
    words->items[words->used++] = value;
    return 0;
}

#define AHEAD 16 /* prefetch distance, in batch entries */

static int scan_digits(ScanState *state) {
    /* Every 8-digit window of the text through the filter; nonzero when the scan was stopped.
     *
     * The tables do not fit the L1 cache and most of the time would go to waiting for them, so the
     * work goes in batches, each prefetching the memory the next one reads a few entries ahead:
     * windows that pass the filter, then the patterns of their prefix, then the pre-check of those
     * whose digits match whole. */
    const EngineObject *engine = state->engine;
    const DigitIndex *digits = &engine->digits;
    const char *data = state->data;
    Py_ssize_t size = state->size, p = 0;
    if (!digits->patterns)
        return 0;
    Words windows = {0}, candidates = {0};
    int stopped = 0;
#ifdef __SSE2__
    /* 16 window starts at a time: a start needs 8 digits, read from a 32-byte digit mask. */
    unsigned next = size >= 16 ? digit_mask16(data) : 0;
    for (; p + 32 <= size; p += 16) {
        unsigned here = next;
        next = digit_mask16(data + p + 16);
        uint32_t both = here | (next << 16);
        both &= both >> 1;
        both &= both >> 2;
        both &= both >> 4;
        unsigned starts = both & 0xFFFF;
        while (starts) {
            Py_ssize_t at = p + __builtin_ctz(starts);
            if (may_start_pattern(digits, load_word(data + at)) && words_push(&windows, (uint64_t)at) < 0)
                goto out_of_memory;
            starts &= starts - 1;
        }
    }
#endif
    for (; p + DIGIT_PREFIX <= size; p++) { /* the last starts, one by one */
        int all = 1;
        for (int k = 0; k < DIGIT_PREFIX && all; k++)
            all = is_digit(data[p + k]);
        if (all && may_start_pattern(digits, load_word(data + p)) && words_push(&windows, (uint64_t)p) < 0)
            goto out_of_memory;
    }
    /* The prefixes' patterns: (window start, index in digits->found). */
    for (size_t i = 0; i < windows.used; i++) {
        if (i + AHEAD < windows.used)
            __builtin_prefetch(&digits->slots[table_slot(load_word(data + windows.items[i + AHEAD]), digits->mask)]);
        uint64_t key = load_word(data + windows.items[i]);
        uint32_t slot = table_slot(key, digits->mask);
        while (digits->slots[slot].count && digits->slots[slot].key != key)
            slot = (slot + 1) & digits->mask;
        if (!digits->slots[slot].count)
            continue;
        for (uint32_t k = digits->slots[slot].first; k < digits->slots[slot].first + digits->slots[slot].count; k++)
            if (words_push(&candidates, windows.items[i] << 32 | k) < 0)
                goto out_of_memory;
    }
    /* Whole patterns, then their pre-check (on_match). */
    windows.used = 0;
    for (size_t i = 0; i < candidates.used; i++) {
        if (i + AHEAD < candidates.used)
            __builtin_prefetch(&digits->found[(uint32_t)candidates.items[i + AHEAD]]);
        const DigitPattern *pattern = &digits->found[(uint32_t)candidates.items[i]];
        Py_ssize_t at = (Py_ssize_t)(candidates.items[i] >> 32) - pattern->offset; /* where it would start */
        Py_ssize_t length = pattern->length, rest = length - pattern->offset - DIGIT_PREFIX;
        if (at < 0 || at + length > size)
            continue;
        const char *after = data + at + pattern->offset + DIGIT_PREFIX;
        if (rest > 0) { /* the next up to 8 bytes against the packed ones, then any beyond */
            uint64_t word = 0;
            memcpy(&word, after, (size_t)(rest < 8 ? rest : 8));
            if (word != pattern->rest || (rest > 8 && memcmp(after + 8, engine->patterns[pattern->id] + pattern->offset + 16,
                                                             (size_t)(rest - 8)) != 0))
                continue;
        }
        if (pattern->offset && memcmp(data + at, engine->patterns[pattern->id], pattern->offset) != 0)
            continue; /* the bytes before its anchor */
        __builtin_prefetch(&engine->other_from[pattern->id]);
        __builtin_prefetch(&engine->other_to[pattern->id]);
        __builtin_prefetch(&engine->lengths[pattern->id]);
        if (words_push(&windows, (uint64_t)(at + length) << 32 | pattern->id) < 0)
            goto out_of_memory;
    }
    for (size_t i = 0; i < windows.used && !stopped; i++) {
        if (i + AHEAD / 2 < windows.used) {
            Py_ssize_t from = engine->other_from[(uint32_t)windows.items[i + AHEAD / 2]];
            if (from >= 0) {
                __builtin_prefetch(&engine->others_ptr[from]);
                __builtin_prefetch(&engine->others_len[from]);
            }
        }
        if (i + AHEAD / 4 < windows.used) { /* the other halves themselves, their pointers fetched by now */
            uint32_t id = (uint32_t)windows.items[i + AHEAD / 4];
            for (Py_ssize_t k = engine->other_from[id]; k >= 0 && k < engine->other_to[id] && k < engine->other_from[id] + 4; k++)
                __builtin_prefetch(engine->others_ptr[k]);
        }
        stopped = on_match((uint32_t)windows.items[i], 0, windows.items[i] >> 32, 0, state);
    }
    free(windows.items);
    free(candidates.items);
    return stopped;
out_of_memory:
    free(windows.items);
    free(candidates.items);
    state->failed = 1;
    return 1;
}


static int scan_samples(ScanState *state) {
    /* The long non-digit patterns, from a sample every `stride` bytes; nonzero when the scan was stopped. */
    const EngineObject *engine = state->engine;
    const SampleIndex *samples = &engine->samples;
    const char *data = state->data;
    Py_ssize_t size = state->size;
    if (!samples->patterns)
        return 0;
    Words passed = {0};
    int stopped = 0;
    for (Py_ssize_t p = 0; p + 8 <= size; p += samples->stride) {
        uint32_t bit = sample_bit(load_word(data + p));
        if (((samples->filter[bit >> 6] >> (bit & 63)) & 1) && words_push(&passed, (uint64_t)p) < 0) {
            state->failed = 1;
            free(passed.items);
            return 1;
        }
    }
    for (size_t i = 0; i < passed.used && !stopped; i++) {
        if (i + AHEAD < passed.used)
            __builtin_prefetch(&samples->slots[sample_slot(load_word(data + passed.items[i + AHEAD]), samples->mask)]);
        Py_ssize_t p = (Py_ssize_t)passed.items[i];
        uint64_t key = load_word(data + p);
        uint32_t slot = sample_slot(key, samples->mask);
        while (samples->slots[slot].count && samples->slots[slot].key != key)
            slot = (slot + 1) & samples->mask;
        for (uint32_t k = samples->slots[slot].first; k < samples->slots[slot].first + samples->slots[slot].count; k++) {
            uint32_t id = samples->entries[k].id;
            Py_ssize_t start = p - (Py_ssize_t)samples->entries[k].offset, length = engine->lengths[id];
            if (start >= 0 && start + length <= size && memcmp(data + start, engine->patterns[id], (size_t)length) == 0 &&
                (stopped = on_match(id, (unsigned long long)start, (unsigned long long)(start + length), 0, state)))
                break;
        }
    }
    free(passed.items);
    return stopped;
}

static void engine_free_fields(EngineObject *self) {
    if (self->scratch)
        hs_free_scratch(self->scratch);
    if (self->database)
        hs_free_database(self->database);
    PyMem_Free(self->lengths);
    PyMem_Free(self->patterns);
    PyMem_Free(self->pattern_blob);
    digit_index_free(&self->digits);
    sample_index_free(&self->samples);
    PyMem_Free(self->other_from);
    PyMem_Free(self->other_to);
    PyMem_Free(self->others_ptr);
    PyMem_Free(self->others_len);
    PyMem_Free(self->others_blob);
    self->scratch = NULL;
    self->database = NULL;
    self->lengths = self->other_from = self->other_to = self->others_len = NULL;
    self->others_ptr = NULL;
    self->others_blob = NULL;
    self->patterns = NULL;
    self->pattern_blob = NULL;
    self->ready = 0;
}

static void engine_dealloc(EngineObject *self) {
    engine_free_fields(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int engine_init(EngineObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"serialized", "patterns", "others", "window", "short_line", NULL};
    Py_buffer blob;
    PyObject *lengths, *others;
    Py_ssize_t window, short_line;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*OOnn", keywords, &blob, &lengths, &others, &window,
                                     &short_line))
        return -1;
    if (self->busy) {
        PyBuffer_Release(&blob);
        PyErr_SetString(NativeError, "engine is scanning");
        return -1;
    }
    engine_free_fields(self);
    int result = -1;
    PyObject *lengths_seq = PySequence_Fast(lengths, "patterns must be a sequence of bytes");
    PyObject *others_seq = lengths_seq ? PySequence_Fast(others, "others must be a sequence") : NULL;
    if (!others_seq)
        goto done;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(lengths_seq);
    if (PySequence_Fast_GET_SIZE(others_seq) != count) {
        PyErr_SetString(PyExc_ValueError, "patterns and others differ in length");
        goto done;
    }
    self->count = count;
    self->window = window;
    self->short_line = short_line;
    self->lengths = PyMem_Calloc((size_t)count + 1, sizeof(Py_ssize_t));
    self->other_from = PyMem_Calloc((size_t)count + 1, sizeof(Py_ssize_t));
    self->other_to = PyMem_Calloc((size_t)count + 1, sizeof(Py_ssize_t));
    self->patterns = PyMem_Calloc((size_t)count + 1, sizeof(char *));
    if (!self->lengths || !self->other_from || !self->other_to || !self->patterns) {
        PyErr_NoMemory();
        goto done;
    }
    /* First pass: sizes. */
    Py_ssize_t total_others = 0, total_bytes = 0, total_pattern_bytes = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pattern = PySequence_Fast_GET_ITEM(lengths_seq, i);
        if (!PyBytes_Check(pattern) || PyBytes_GET_SIZE(pattern) == 0) {
            PyErr_SetString(PyExc_TypeError, "patterns must be non-empty bytes");
            goto done;
        }
        self->lengths[i] = PyBytes_GET_SIZE(pattern);
        total_pattern_bytes += self->lengths[i];
        PyObject *item = PySequence_Fast_GET_ITEM(others_seq, i);
        if (item == Py_None)
            continue;
        if (!PyTuple_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "others must hold tuples of bytes or None");
            goto done;
        }
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(item); k++) {
            PyObject *other = PyTuple_GET_ITEM(item, k);
            if (!PyBytes_Check(other)) {
                PyErr_SetString(PyExc_TypeError, "others must hold tuples of bytes or None");
                goto done;
            }
            total_others++;
            total_bytes += PyBytes_GET_SIZE(other);
        }
    }
    self->others_ptr = PyMem_Calloc((size_t)total_others + 1, sizeof(char *));
    self->others_len = PyMem_Calloc((size_t)total_others + 1, sizeof(Py_ssize_t));
    self->others_blob = PyMem_Malloc((size_t)total_bytes + 1);
    if (!self->others_ptr || !self->others_len || !self->others_blob) {
        PyErr_NoMemory();
        goto done;
    }
    self->pattern_blob = PyMem_Malloc((size_t)total_pattern_bytes + 1);
    if (!self->pattern_blob) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0, at = 0; i < count; i++) {
        memcpy(self->pattern_blob + at, PyBytes_AS_STRING(PySequence_Fast_GET_ITEM(lengths_seq, i)),
               (size_t)self->lengths[i]);
        self->patterns[i] = self->pattern_blob + at;
        at += self->lengths[i];
    }
    if (digit_index_build(&self->digits, self->patterns, self->lengths, count) < 0 ||
        sample_index_build(&self->samples, self->patterns, self->lengths, count) < 0)
        goto done;
    /* Second pass: copy. */
    Py_ssize_t k_all = 0, offset = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(others_seq, i);
        if (item == Py_None) {
            self->other_from[i] = self->other_to[i] = -1;
            continue;
        }
        self->other_from[i] = k_all;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(item); k++) {
            PyObject *other = PyTuple_GET_ITEM(item, k);
            Py_ssize_t length = PyBytes_GET_SIZE(other);
            memcpy(self->others_blob + offset, PyBytes_AS_STRING(other), (size_t)length);
            self->others_ptr[k_all] = self->others_blob + offset;
            self->others_len[k_all] = length;
            offset += length;
            k_all++;
        }
        self->other_to[i] = k_all;
    }
    /* An empty database: every pattern is a digit string (native.compile left them all out). */
    if (blob.len > 0 && hs_deserialize_database(blob.buf, (size_t)blob.len, &self->database) != HS_SUCCESS) {
        PyErr_SetString(NativeError, "cannot load the compiled search (stale or corrupt cache)");
        goto done;
    }
    if (self->database && hs_alloc_scratch(self->database, &self->scratch) != HS_SUCCESS) {
        PyErr_SetString(NativeError, "cannot allocate Hyperscan scratch space");
        goto done;
    }
    self->ready = 1;
    result = 0;
done:
    Py_XDECREF(lengths_seq);
    Py_XDECREF(others_seq);
    PyBuffer_Release(&blob);
    if (result < 0)
        engine_free_fields(self);
    return result;
}

static int by_end_then_id(const void *a, const void *b) {
    const unsigned long long *x = a, *y = b;
    if (x[1] != y[1])
        return x[1] < y[1] ? -1 : 1;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static PyObject *engine_scan(EngineObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data))
        return NULL;
    if (!self->ready) {
        PyBuffer_Release(&data);
        PyErr_SetString(NativeError, "engine not initialised");
        return NULL;
    }
    if (self->busy) {
        PyBuffer_Release(&data);
        PyErr_SetString(NativeError, "engine already scanning (one engine per thread)");
        return NULL;
    }
    if (data.len > (Py_ssize_t)UINT_MAX) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "block larger than 4 GiB");
        return NULL;
    }
    ScanState state = {self, data.buf, data.len, NULL, 0, 0, 0};
    hs_error_t error = HS_SUCCESS;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    if (self->database)
        error = hs_scan(self->database, data.buf, (unsigned int)data.len, 0, self->scratch, on_match, &state);
    if (error == HS_SUCCESS && !state.failed && !scan_digits(&state))
        scan_samples(&state);
    /* Hyperscan reports by end offset; the digit pass by start: one order for both, (end, id). */
    if (!state.failed)
        qsort(state.hits, (size_t)state.used / 2, 2 * sizeof *state.hits, by_end_then_id);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    PyBuffer_Release(&data);
    PyObject *hits = NULL;
    if (state.failed) {
        PyErr_NoMemory();
    } else if (error != HS_SUCCESS) {
        PyErr_Format(NativeError, "Hyperscan scan failed (error %d)", (int)error);
    } else {
        hits = PyList_New(state.used / 2);
        for (Py_ssize_t i = 0; hits && i < state.used / 2; i++) {
            PyObject *pair = Py_BuildValue("(KK)", state.hits[2 * i], state.hits[2 * i + 1]);
            if (!pair) {
                Py_CLEAR(hits);
                break;
            }
            PyList_SET_ITEM(hits, i, pair);
        }
    }
    free(state.hits);
    return hits;
}

static PyMethodDef engine_methods[] = {
    {"scan", (PyCFunction)engine_scan, METH_VARARGS,
     "scan(squeezed) -> [(pattern id, end offset)]: strong hits and weak anchors whose other half is near."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "canary.watch.sweep._native.Engine",
    .tp_basicsize = sizeof(EngineObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Engine(serialized, patterns, others, window, short_line): a loaded search and its pair plan.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)engine_init,
    .tp_dealloc = (destructor)engine_dealloc,
    .tp_methods = engine_methods,
};

static PyObject *native_compile(PyObject *module, PyObject *arg) {
    /* compile(patterns: list[bytes]) -> bytes: a serialized literal database, pattern i with id i, of the
     * patterns the digit pass does not find (empty bytes when it finds them all). */
    (void)module;
    PyObject *seq = PySequence_Fast(arg, "patterns must be a sequence of bytes");
    if (!seq)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    const char **expressions = PyMem_Calloc((size_t)count + 1, sizeof(char *));
    size_t *lengths = PyMem_Calloc((size_t)count + 1, sizeof(size_t));
    unsigned int *flags = PyMem_Calloc((size_t)count + 1, sizeof(unsigned int));
    unsigned int *ids = PyMem_Calloc((size_t)count + 1, sizeof(unsigned int));
    PyObject *result = NULL;
    if (!expressions || !lengths || !flags || !ids) {
        PyErr_NoMemory();
        goto done;
    }
    unsigned int kept = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyBytes_Check(item) || PyBytes_GET_SIZE(item) == 0) {
            PyErr_SetString(PyExc_TypeError, "patterns must be non-empty bytes");
            goto done;
        }
        if (digit_anchor(PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item)) >= 0 ||
            is_sampled_pattern(PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item)))
            continue; /* the engine's digit and sampled passes find them */
        expressions[kept] = PyBytes_AS_STRING(item);
        lengths[kept] = (size_t)PyBytes_GET_SIZE(item);
        ids[kept++] = (unsigned int)i;
    }
    if (kept == 0) {
        result = PyBytes_FromStringAndSize("", 0);
        goto done;
    }
    hs_database_t *database = NULL;
    hs_compile_error_t *error = NULL;
    hs_error_t status;
    Py_BEGIN_ALLOW_THREADS
    status = hs_compile_lit_multi(expressions, flags, ids, lengths, kept, HS_MODE_BLOCK, NULL,
                                  &database, &error);
    Py_END_ALLOW_THREADS
    if (status != HS_SUCCESS) {
        PyErr_Format(NativeError, "Hyperscan compile failed: %s", error && error->message ? error->message : "?");
        hs_free_compile_error(error);
        goto done;
    }
    char *bytes = NULL;
    size_t size = 0;
    if (hs_serialize_database(database, &bytes, &size) != HS_SUCCESS) {
        hs_free_database(database);
        PyErr_SetString(NativeError, "Hyperscan serialize failed");
        goto done;
    }
    hs_free_database(database);
    result = PyBytes_FromStringAndSize(bytes, (Py_ssize_t)size);
    free(bytes);
done:
    PyMem_Free(expressions);
    PyMem_Free(lengths);
    PyMem_Free(flags);
    PyMem_Free(ids);
    Py_DECREF(seq);
    return result;
}

/* --- squeeze ------------------------------------------------------------------------------------ */

typedef struct {
    unsigned char old[4];
    Py_ssize_t old_len;
    unsigned char out[4]; /* the new bytes already translated, deleted ones left out */
    Py_ssize_t out_len;
    Py_ssize_t newlines; /* in out: counted like the newlines of the text */
} Rewrite;

/* The ASCII part of the squeeze tables, as textnorm builds them: letters upper-cased, digits and a few
 * separators kept, everything else deleted. When the tables passed in agree (checked per call), runs of
 * 16 ASCII bytes with no rewrite in them are squeezed with SSSE3 (classify, upper-case, left-pack). */
static int fast_keep(unsigned c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '@' || c == '\n' ||
           c == ';' || c == '|' || c == '\t' || c == (unsigned char)RECORD_SEPARATOR || c == (unsigned char)INDENT;
}

static int tables_allow_simd(const unsigned char *keep, const unsigned char *map, const Rewrite *rewrites,
                             Py_ssize_t rewrite_count) {
    for (unsigned c = 0; c < 128; c++) {
        unsigned upper = (c >= 'a' && c <= 'z') ? c - 32 : c;
        if (keep[c] != fast_keep(c) || (keep[c] && map[c] != upper))
            return 0;
    }
    /* The vector test below only looks for "),", "}," and "\n ": every ASCII rewrite must start so. */
    for (Py_ssize_t r = 0; r < rewrite_count; r++) {
        const unsigned char *old = rewrites[r].old;
        if (old[0] < 0x80 && !(rewrites[r].old_len >= 2 && (((old[0] == ')' || old[0] == '}') && old[1] == ',') ||
                                                           (old[0] == '\n' && old[1] == ' '))))
            return 0;
    }
    return 1;
}

#if defined(__x86_64__) || defined(__i386__)
#include <tmmintrin.h>
static unsigned char pack_shuffles[256][8]; /* for an 8-bit keep mask: the kept byte indexes, in order */
static unsigned char bit_count[256]; /* a table: __builtin_popcount is a libgcc call without -mpopcnt */

static void init_pack_shuffles(void) {
    for (unsigned mask = 0; mask < 256; mask++) {
        unsigned n = 0;
        for (unsigned bit = 0; bit < 8; bit++)
            if (mask & (1u << bit))
                pack_shuffles[mask][n++] = (unsigned char)bit;
        bit_count[mask] = (unsigned char)n;
        while (n < 8)
            pack_shuffles[mask][n++] = 0x80; /* pshufb writes 0 */
    }
}

/* Squeezes in[0:n] 16 bytes at a time while a chunk is plain ASCII holding no "),", "}," or "\n " (where
 * a rewrite could start); returns the bytes consumed (a multiple of 16) and advances *dst and *lines.
 * Reads one byte past each chunk, so in[n] must be readable; *dst needs n bytes of room. */
__attribute__((target("ssse3"))) static Py_ssize_t squeeze_ascii_run(const unsigned char *in, Py_ssize_t n,
                                                                      unsigned char **dst, Py_ssize_t *lines) {
    const __m128i paren = _mm_set1_epi8(')'), brace = _mm_set1_epi8('}'), comma = _mm_set1_epi8(',');
    const __m128i space = _mm_set1_epi8(' ');
    const __m128i upper_a = _mm_set1_epi8('A' - 1), upper_z = _mm_set1_epi8('Z' + 1);
    const __m128i lower_a = _mm_set1_epi8('a' - 1), lower_z = _mm_set1_epi8('z' + 1);
    const __m128i digit_0 = _mm_set1_epi8('0' - 1), digit_9 = _mm_set1_epi8('9' + 1);
    const __m128i newline_byte = _mm_set1_epi8('\n'), at = _mm_set1_epi8('@'), semicolon = _mm_set1_epi8(';');
    const __m128i pipe = _mm_set1_epi8('|'), tab = _mm_set1_epi8('\t'), separator = _mm_set1_epi8(RECORD_SEPARATOR);
    const __m128i case_bit = _mm_set1_epi8(0x20), indent = _mm_set1_epi8(INDENT);
    unsigned char *out = *dst;
    Py_ssize_t count = *lines, i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(in + i));
        __m128i next = _mm_loadu_si128((const __m128i *)(in + i + 1));
        __m128i newline = _mm_cmpeq_epi8(v, newline_byte);
        __m128i lead = _mm_or_si128(
            _mm_and_si128(_mm_or_si128(_mm_cmpeq_epi8(v, paren), _mm_cmpeq_epi8(v, brace)), _mm_cmpeq_epi8(next, comma)),
            _mm_and_si128(newline, _mm_cmpeq_epi8(next, space)));
        if (_mm_movemask_epi8(_mm_or_si128(v, lead)))
            break; /* a byte >= 0x80 (its sign bit) or a possible rewrite: the scalar loop takes it */
        __m128i lower = _mm_and_si128(_mm_cmpgt_epi8(v, lower_a), _mm_cmplt_epi8(v, lower_z));
        __m128i keep = _mm_or_si128(_mm_and_si128(_mm_cmpgt_epi8(v, upper_a), _mm_cmplt_epi8(v, upper_z)), lower);
        keep = _mm_or_si128(keep, _mm_and_si128(_mm_cmpgt_epi8(v, digit_0), _mm_cmplt_epi8(v, digit_9)));
        keep = _mm_or_si128(keep, _mm_or_si128(newline, _mm_cmpeq_epi8(v, at)));
        keep = _mm_or_si128(keep, _mm_or_si128(_mm_cmpeq_epi8(v, semicolon), _mm_cmpeq_epi8(v, pipe)));
        keep = _mm_or_si128(keep, _mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, separator)));
        keep = _mm_or_si128(keep, _mm_cmpeq_epi8(v, indent));
        __m128i upper = _mm_sub_epi8(v, _mm_and_si128(lower, case_bit));
        unsigned mask = (unsigned)_mm_movemask_epi8(keep);
        unsigned newlines = (unsigned)_mm_movemask_epi8(newline);
        count += bit_count[newlines & 0xFF] + bit_count[newlines >> 8];
        unsigned low = mask & 0xFF, high = mask >> 8;
        _mm_storel_epi64((__m128i *)out,
                         _mm_shuffle_epi8(upper, _mm_loadl_epi64((const __m128i *)pack_shuffles[low])));
        out += bit_count[low];
        _mm_storel_epi64((__m128i *)out, _mm_shuffle_epi8(_mm_srli_si128(upper, 8),
                                                          _mm_loadl_epi64((const __m128i *)pack_shuffles[high])));
        out += bit_count[high];
    }
    *dst = out;
    *lines = count;
    return i;
}

static int cpu_has_ssse3(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("ssse3");
}
#else
static void init_pack_shuffles(void) {}
static Py_ssize_t squeeze_ascii_run(const unsigned char *in, Py_ssize_t n, unsigned char **dst, Py_ssize_t *lines) {
    (void)in; (void)n; (void)dst; (void)lines;
    return 0;
}
static int cpu_has_ssse3(void) { return 0; }
#endif

static int simd_squeeze_ready;

static PyObject *native_squeeze_slices(PyObject *module, PyObject *args) {
    /* squeeze_slices(data, table, delete, rewrites, cuts) -> (squeezed, starts, newlines_before)
     *
     * Exactly textnorm.squeeze applied to each slice data[cuts[i]:cuts[i+1]] (the last one to the
     * end) and joined: in each slice the rewrites are applied (their lead bytes never occur inside
     * another rewrite, so one left-to-right pass equals Python's chain of bytes.replace), then
     * bytes.translate(table, delete). starts[i]: where slice i begins in the squeezed output;
     * newlines_before[i]: newlines in the slices before i (one more entry: the total). Newlines are
     * kept one for one by the tables. cuts must start at 0 and increase. */
    (void)module;
    Py_buffer data, table, delete;
    PyObject *rewrites_arg, *cuts_arg;
    if (!PyArg_ParseTuple(args, "y*y*y*OO", &data, &table, &delete, &rewrites_arg, &cuts_arg))
        return NULL;
    PyObject *result = NULL, *out = NULL, *starts = NULL, *newlines = NULL, *rewrites_seq = NULL, *cuts_seq = NULL;
    Py_ssize_t *cuts = NULL;
    Rewrite rewrites[16];
    Py_ssize_t rewrite_count = 0;
    unsigned char keep[256], map[256], lead[256];
    if (table.len != 256) {
        PyErr_SetString(PyExc_ValueError, "table must have 256 bytes");
        goto done;
    }
    memset(keep, 1, sizeof keep);
    memset(lead, 0, sizeof lead);
    for (Py_ssize_t i = 0; i < delete.len; i++)
        keep[((unsigned char *)delete.buf)[i]] = 0;
    memcpy(map, table.buf, 256);
    rewrites_seq = PySequence_Fast(rewrites_arg, "rewrites must be a sequence of (old, new) pairs");
    if (!rewrites_seq)
        goto done;
    rewrite_count = PySequence_Fast_GET_SIZE(rewrites_seq);
    if (rewrite_count > 16) {
        PyErr_SetString(PyExc_ValueError, "at most 16 rewrites");
        goto done;
    }
    for (Py_ssize_t r = 0; r < rewrite_count; r++) {
        const char *old, *new;
        Py_ssize_t old_len, new_len;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(rewrites_seq, r), "y#y#", &old, &old_len, &new, &new_len))
            goto done;
        if (old_len < 1 || old_len > 4 || new_len > 4) {
            PyErr_SetString(PyExc_ValueError, "rewrites: 1 to 4 bytes each");
            goto done;
        }
        memcpy(rewrites[r].old, old, (size_t)old_len);
        rewrites[r].old_len = old_len;
        rewrites[r].out_len = 0;
        rewrites[r].newlines = 0;
        for (Py_ssize_t k = 0; k < new_len; k++) {
            unsigned char byte = (unsigned char)new[k];
            if (keep[byte]) {
                rewrites[r].out[rewrites[r].out_len++] = map[byte];
                rewrites[r].newlines += map[byte] == '\n';
            }
        }
        lead[(unsigned char)old[0]] = 1;
    }
    Py_ssize_t size = data.len;
    cuts_seq = PySequence_Fast(cuts_arg, "cuts must be a sequence of offsets");
    if (!cuts_seq)
        goto done;
    Py_ssize_t blocks = PySequence_Fast_GET_SIZE(cuts_seq);
    cuts = PyMem_Calloc((size_t)blocks + 1, sizeof(Py_ssize_t));
    if (!cuts) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t b = 0; b < blocks; b++) {
        cuts[b] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(cuts_seq, b));
        if (cuts[b] == -1 && PyErr_Occurred())
            goto done;
        if ((b == 0 && cuts[b] != 0) || (b > 0 && cuts[b] < cuts[b - 1]) || cuts[b] > size) {
            PyErr_SetString(PyExc_ValueError, "cuts must start at 0, increase and stay within the data");
            goto done;
        }
    }
    cuts[blocks] = size;
    out = PyBytes_FromStringAndSize(NULL, size * 2); /* a rewrite turns at most 1 byte into 2 */
    starts = PyList_New(blocks);
    newlines = PyList_New(blocks + 1);
    if (!out || !starts || !newlines)
        goto done;
    const unsigned char *in = data.buf;
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out), *base = dst;
    Py_ssize_t lines = 0;
    int simd = simd_squeeze_ready && tables_allow_simd(keep, map, rewrites, rewrite_count);
    for (Py_ssize_t b = 0; b < blocks; b++) {
        PyObject *start = PyLong_FromSsize_t(dst - base), *before = PyLong_FromSsize_t(lines);
        if (!start || !before) {
            Py_XDECREF(start);
            Py_XDECREF(before);
            goto done;
        }
        PyList_SET_ITEM(starts, b, start);
        PyList_SET_ITEM(newlines, b, before);
        Py_ssize_t end = cuts[b + 1];
        Py_ssize_t first = cuts[b];
        if (first > 0 && first < end && in[first - 1] == '\n' && in[first] == ' ' && keep[(unsigned char)INDENT]) {
            *dst = map[(unsigned char)INDENT]; /* an indented line whose newline ended the slice before */
            dst++;
            first++;
        }
        Py_ssize_t scalar_until = first; /* the scalar loop owns [i, scalar_until) */
        for (Py_ssize_t i = first; i < end; i++) {
            if (simd && i >= scalar_until && i + 17 <= end) {
                /* Vector runs stop one byte short of the slice end: each chunk peeks at the next byte. */
                i += squeeze_ascii_run(in + i, end - i - 1, &dst, &lines);
                scalar_until = i + 16; /* the chunk that stopped the run, byte by byte */
                if (i >= end)
                    break;
            }
            unsigned char byte = in[i];
            if (lead[byte]) {
                Py_ssize_t r = 0;
                for (; r < rewrite_count; r++) {
                    Py_ssize_t n = rewrites[r].old_len;
                    if (i + n <= end && memcmp(in + i, rewrites[r].old, (size_t)n) == 0)
                        break;
                }
                if (r < rewrite_count) {
                    memcpy(dst, rewrites[r].out, (size_t)rewrites[r].out_len);
                    dst += rewrites[r].out_len;
                    lines += rewrites[r].newlines;
                    i += rewrites[r].old_len - 1;
                    continue;
                }
            }
            *dst = map[byte];
            dst += keep[byte];
            lines += byte == '\n';
        }
    }
    PyObject *total = PyLong_FromSsize_t(lines);
    if (!total)
        goto done;
    PyList_SET_ITEM(newlines, blocks, total);
    if (_PyBytes_Resize(&out, dst - base) < 0)
        goto done;
    result = PyTuple_Pack(3, out, starts, newlines);
done:
    Py_XDECREF(out);
    Py_XDECREF(starts);
    Py_XDECREF(newlines);
    Py_XDECREF(rewrites_seq);
    Py_XDECREF(cuts_seq);
    PyMem_Free(cuts);
    PyBuffer_Release(&data);
    PyBuffer_Release(&table);
    PyBuffer_Release(&delete);
    return result;
}

static PyObject *native_contains(PyObject *module, PyObject *args) {
    /* contains(haystack, needle) -> bool: `needle in haystack`, several times faster on squeezed text
     * (CPython's search stalls on its many upper-case letters; this one compares first and last bytes). */
    (void)module;
    Py_buffer haystack, needle;
    if (!PyArg_ParseTuple(args, "y*y*", &haystack, &needle))
        return NULL;
    int found;
    Py_BEGIN_ALLOW_THREADS
    found = contains(haystack.buf, haystack.len, needle.buf, needle.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&haystack);
    PyBuffer_Release(&needle);
    return PyBool_FromLong(found);
}

/* --- what a block of text may hide: the region reader's fast-path test (regions.py) --------------- */

#define FLAG_NUL 1          /* a NUL byte: UTF-16/32 text, or padding */
#define FLAG_BOM16 2        /* an FF or FE byte: a UTF-16/32 byte-order mark, never in UTF-8 */
#define FLAG_NOT_UTF8 4     /* a byte sequence UTF-8 does not allow: a legacy single-byte stretch */
#define FLAG_BOM8 8         /* EF BB BF: a UTF-8 byte-order mark */
#define FLAG_RUN 16         /* 32 bytes or more of the base64 alphabet in a row: base64 or hex */
#define FLAG_PERCENT 32     /* %XX: URL-encoding */
#define FLAG_QP 64          /* =XX or a soft line break: quoted-printable */
#define FLAG_ESCAPE 128     /* \n or \u: a JSON string holding the text */
#define FLAG_HEXDUMP 256    /* hhhhh0: hh, the offset of an xxd line (16 bytes a line) and its first byte */

static inline int is_hex(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

/* The flag a %, = or backslash at data[at] raises, if it starts an escape. */
static inline int mark_flags(const unsigned char *data, Py_ssize_t at, Py_ssize_t size) {
    if (at + 1 >= size) return 0;
    unsigned char c = data[at], a = data[at + 1], b = at + 2 < size ? data[at + 2] : 0;
    if (c == '%') return is_hex(a) && is_hex(b) ? FLAG_PERCENT : 0;
    if (c == '=') return (is_hex(a) && is_hex(b) && a < 'a' && b < 'a') || a == '\n' || (a == '\r' && b == '\n')
                         ? FLAG_QP : 0;
    if (c == '\\') return a == 'n' || a == 'u' ? FLAG_ESCAPE : 0;
    if (c == ':') {
        if (at < 6 || data[at - 1] != '0' || a != ' ' || !is_hex(b) || at + 3 >= size || !is_hex(data[at + 3]))
            return 0;
        for (Py_ssize_t k = 2; k <= 6; k++)
            if (!is_hex(data[at - k])) return 0;
        return FLAG_HEXDUMP;
    }
    return 0;
}

/* One UTF-8 sequence at p[0] (non-ASCII): its length, 0 when invalid, -1 when cut by the end. */
static Py_ssize_t utf8_sequence(const unsigned char *p, Py_ssize_t left) {
    unsigned char c = p[0];
    Py_ssize_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 0;
    for (Py_ssize_t k = 1; k <= need; k++) {
        if (k >= left) return -1;
        unsigned char d = p[k];
        if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) return 0;
    }
    return need + 1;
}

/* Byte by byte: the first bytes of a block (whose earlier neighbours are not there) and its tail. */
static int text_flags_scalar(const unsigned char *data, Py_ssize_t from, Py_ssize_t to, Py_ssize_t size,
                             Py_ssize_t *end) {
    int flags = 0;
    Py_ssize_t i = from;
    while (i < to) {
        unsigned char c = data[i];
        if (c < 0x80) {
            if (c == 0) flags |= FLAG_NUL;
            if (c == '%' || c == '=' || c == '\\' || c == ':') flags |= mark_flags(data, i, size);
            i++;
            continue;
        }
        if (c == 0xFF || c == 0xFE) flags |= FLAG_BOM16;
        if (c == 0xEF && i + 2 < size && data[i + 1] == 0xBB && data[i + 2] == 0xBF) flags |= FLAG_BOM8;
        Py_ssize_t n = utf8_sequence(data + i, size - i);
        if (n == 0) { flags |= FLAG_NOT_UTF8; i++; }
        else if (n < 0) i = size;
        else i += n;
    }
    if (end) *end = i;
    return flags;
}

/* One branch-free pass of 16 bytes at a time. UTF-8 is checked by its structure: each byte after a lead
 * (1, 2 or 3 places back, by the lead's length) must be a continuation byte and no other may be; C0, C1
 * and F5..FF never appear. (Overlong and surrogate forms pass: a legacy single-byte text does not make them.) */
static int text_flags(const unsigned char *data, Py_ssize_t size) {
    int flags = 0;
    Py_ssize_t i = 0, run = 0;
    const __m128i zero = _mm_setzero_si128();
    const __m128i percent = _mm_set1_epi8('%'), equal = _mm_set1_epi8('='), backslash = _mm_set1_epi8('\\');
    const __m128i colon = _mm_set1_epi8(':');
    const __m128i case_bit = _mm_set1_epi8(0x20), lower_a = _mm_set1_epi8('a'), twenty_five = _mm_set1_epi8(25);
    const __m128i zero_digit = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
    const __m128i plus = _mm_set1_epi8('+'), slash = _mm_set1_epi8('/');
    /* Signed views of the UTF-8 byte classes: 80..BF = -128..-65, C2..DF = -62..-33, E0..EF = -32..-17,
     * F0..F4 = -16..-12. */
    const __m128i c0 = _mm_set1_epi8((char)0xC0), c1 = _mm_set1_epi8((char)0xC1);
    const __m128i e0_1 = _mm_set1_epi8((char)0xDF), f0_1 = _mm_set1_epi8((char)0xEF), f5_1 = _mm_set1_epi8((char)0xF4);
    const __m128i ff = _mm_set1_epi8((char)0xFF), fe = _mm_set1_epi8((char)0xFE);
    const __m128i ef = _mm_set1_epi8((char)0xEF), bb = _mm_set1_epi8((char)0xBB), bf = _mm_set1_epi8((char)0xBF);
    __m128i bad_acc = zero, nul_acc = zero, bom16_acc = zero, bom8_acc = zero;
    Py_ssize_t head = size < 16 ? size : 16;
    flags |= text_flags_scalar(data, 0, head, size, &i); /* i: past the last sequence begun in the head */
    Py_ssize_t last_lead_cut = size; /* a sequence cut by the end of the block is no error */
    for (Py_ssize_t k = size - 1; k >= 0 && k >= size - 3; k--) {
        if (data[k] >= 0xC0) { last_lead_cut = k; break; }
        if (data[k] < 0x80) break;
    }
    Py_ssize_t stop = last_lead_cut < size ? last_lead_cut : size;
    while (i + 16 <= stop) {
        __m128i v = _mm_loadu_si128((const __m128i *)(data + i));
        nul_acc = _mm_or_si128(nul_acc, _mm_cmpeq_epi8(v, zero));
        int high = _mm_movemask_epi8(v);
        int marks = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, percent), _mm_cmpeq_epi8(v, equal)),
                                                   _mm_or_si128(_mm_cmpeq_epi8(v, backslash), _mm_cmpeq_epi8(v, colon))));
        while (marks) {
            int j = __builtin_ctz(marks);
            marks &= marks - 1;
            flags |= mark_flags(data, i + j, size);
        }
        if (high) {
            __m128i p1 = _mm_loadu_si128((const __m128i *)(data + i - 1));
            __m128i p2 = _mm_loadu_si128((const __m128i *)(data + i - 2));
            __m128i p3 = _mm_loadu_si128((const __m128i *)(data + i - 3));
            __m128i cont = _mm_cmplt_epi8(v, c0);
            /* leads of 2+, 3+ and 4 bytes (signed: above C1, above DF, above EF; below F5 everywhere) */
            __m128i lead2_1 = _mm_and_si128(_mm_cmpgt_epi8(p1, c1), _mm_cmplt_epi8(p1, _mm_set1_epi8((char)0xF5)));
            __m128i lead3_2 = _mm_and_si128(_mm_cmpgt_epi8(p2, e0_1), _mm_cmplt_epi8(p2, _mm_set1_epi8((char)0xF5)));
            __m128i lead4_3 = _mm_and_si128(_mm_cmpgt_epi8(p3, f0_1), _mm_cmplt_epi8(p3, _mm_set1_epi8((char)0xF5)));
            __m128i need = _mm_or_si128(lead2_1, _mm_or_si128(lead3_2, lead4_3));
            __m128i bad = _mm_xor_si128(need, cont); /* a continuation where none is due, or none where one is */
            bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpeq_epi8(v, c0), _mm_cmpeq_epi8(v, c1)));
            bad = _mm_or_si128(bad, _mm_and_si128(_mm_cmpgt_epi8(v, f5_1), _mm_cmplt_epi8(v, zero))); /* F5..FF */
            bad_acc = _mm_or_si128(bad_acc, bad);
            bom16_acc = _mm_or_si128(bom16_acc, _mm_or_si128(_mm_cmpeq_epi8(v, ff), _mm_cmpeq_epi8(v, fe)));
            bom8_acc = _mm_or_si128(bom8_acc, _mm_and_si128(_mm_cmpeq_epi8(p2, ef),
                                                            _mm_and_si128(_mm_cmpeq_epi8(p1, bb), _mm_cmpeq_epi8(v, bf))));
            run = 0;
        } else {
            /* letters: (v | 0x20) - 'a' <= 25, digits: v - '0' <= 9 (unsigned), then + / = */
            __m128i letter = _mm_sub_epi8(_mm_or_si128(v, case_bit), lower_a);
            __m128i digit = _mm_sub_epi8(v, zero_digit);
            __m128i alpha = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(letter, twenty_five), letter),
                             _mm_cmpeq_epi8(_mm_min_epu8(digit, nine), digit)),
                _mm_or_si128(_mm_cmpeq_epi8(v, plus), _mm_or_si128(_mm_cmpeq_epi8(v, slash), _mm_cmpeq_epi8(v, equal))));
            if (_mm_movemask_epi8(alpha) == 0xFFFF) {
                run += 16;
                if (run >= 32) flags |= FLAG_RUN;
            } else {
                run = 0;
            }
            /* continuation bytes due here after a lead at the end of the previous block are checked below */
            if (data[i - 1] >= 0xC0 || data[i - 2] >= 0xE0 || data[i - 3] >= 0xF0) {
                __m128i p1 = _mm_loadu_si128((const __m128i *)(data + i - 1));
                __m128i p2 = _mm_loadu_si128((const __m128i *)(data + i - 2));
                __m128i p3 = _mm_loadu_si128((const __m128i *)(data + i - 3));
                __m128i need = _mm_or_si128(_mm_and_si128(_mm_cmpgt_epi8(p1, c1), _mm_cmplt_epi8(p1, _mm_set1_epi8((char)0xF5))),
                               _mm_or_si128(_mm_and_si128(_mm_cmpgt_epi8(p2, e0_1), _mm_cmplt_epi8(p2, _mm_set1_epi8((char)0xF5))),
                                            _mm_and_si128(_mm_cmpgt_epi8(p3, f0_1), _mm_cmplt_epi8(p3, _mm_set1_epi8((char)0xF5)))));
                bad_acc = _mm_or_si128(bad_acc, need); /* ASCII where a continuation is due */
            }
        }
        i += 16;
    }
    if (_mm_movemask_epi8(nul_acc)) flags |= FLAG_NUL;
    if (_mm_movemask_epi8(bad_acc)) flags |= FLAG_NOT_UTF8;
    if (_mm_movemask_epi8(bom16_acc)) flags |= FLAG_BOM16;
    if (_mm_movemask_epi8(bom8_acc)) flags |= FLAG_BOM8;
    if (i < size) {
        /* The tail, from the start of a sequence: back up over continuation bytes. */
        Py_ssize_t from = i;
        for (Py_ssize_t k = i - 1; k >= 16 && k >= i - 3; k--) {
            if (data[k] >= 0xC0) { from = k; break; }
            if (data[k] < 0x80) break;
        }
        flags |= text_flags_scalar(data, from, size, size, NULL) & ~FLAG_RUN;
        /* a base64 run ending in the tail */
        if (run >= 16) {
            Py_ssize_t k = i;
            while (k < size && ((data[k] >= 'A' && data[k] <= 'Z') || (data[k] >= 'a' && data[k] <= 'z') ||
                                (data[k] >= '0' && data[k] <= '9') || data[k] == '+' || data[k] == '/' || data[k] == '='))
                k++;
            if (run + (k - i) >= 32) flags |= FLAG_RUN;
        }
    }
    return flags;
}

static PyObject *native_text_flags(PyObject *module, PyObject *arg) {
    /* text_flags(data) -> int: what the region reader must look at (regions.py, FLAG_*). */
    (void)module;
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    int flags;
    Py_BEGIN_ALLOW_THREADS
    flags = text_flags((const unsigned char *)data.buf, data.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyLong_FromLong(flags);
}

static PyObject *native_version(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return PyUnicode_FromString(hs_version());
}

static PyMethodDef module_methods[] = {
    {"compile", native_compile, METH_O,
     "compile(patterns) -> bytes: a serialized literal Hyperscan database of the patterns that are not digit "
     "strings of 8 digits or more (the engine's digit pass finds those); pattern i keeps id i."},
    {"squeeze_slices", native_squeeze_slices, METH_VARARGS,
     "squeeze_slices(data, table, delete, rewrites, cuts) -> (squeezed, starts, newlines_before)."},
    {"contains", native_contains, METH_VARARGS, "contains(haystack, needle) -> bool: needle in haystack."},
    {"text_flags", native_text_flags, METH_O,
     "text_flags(data) -> int: NUL, FF/FE, invalid UTF-8, UTF-8 BOM, base64-alphabet runs, %XX, =XX, \\\\n or \\\\u, "
     "an xxd offset (regions.py)."},
    {"version", native_version, METH_NOARGS, "The Hyperscan library version this module runs on."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_native",
    .m_doc = "Native hot loop of leak sweeps (Hyperscan, C).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (hs_valid_platform() != HS_SUCCESS) {
        PyErr_SetString(PyExc_ImportError, "this CPU cannot run Hyperscan (needs SSSE3)");
        return NULL;
    }
    if (PyType_Ready(&EngineType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&native_module);
    if (!module)
        return NULL;
    NativeError = PyErr_NewException("canary.watch.sweep._native.NativeError", PyExc_RuntimeError, NULL);
    if (!NativeError || PyModule_AddObject(module, "NativeError", NativeError) < 0) {
        Py_XDECREF(NativeError);
        Py_DECREF(module);
        return NULL;
    }
    /* Which patterns the core finds itself and leaves out of the Hyperscan database: part of the
     * cached database's identity (search._digest). */
    if (PyModule_AddStringConstant(module, "OWN_PASSES", "digit-runs>=" Py_STRINGIFY(DIGIT_PREFIX)
                                   " sampled>=" Py_STRINGIFY(SAMPLED_MIN)) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    init_pack_shuffles();
    simd_squeeze_ready = cpu_has_ssse3();
    Py_INCREF(&EngineType);
    if (PyModule_AddObject(module, "Engine", (PyObject *)&EngineType) < 0) {
        Py_DECREF(&EngineType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
