package dev.lokr.io;

/**
 * The heap the JVM can still allocate, and JSON parsing of untrusted text within it: what lets the
 * readers refuse a hostile file with a format error instead of an {@link OutOfMemoryError}.
 */
final class Heap {

    /** The share of the free heap that parsed JSON values may take; the rest is for what is built from them. */
    private static final double PARSE_SHARE = 0.75;

    private Heap() {
    }

    /** @return the heap the JVM can still allocate: its maximum minus what is in use (garbage included) */
    static long free() {
        Runtime rt = Runtime.getRuntime();
        return rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
    }

    /**
     * {@link Json#parse(String, int, long)} with three quarters of the free heap as the budget. When the
     * budget is broken, what looked used may be garbage: it parses once more after a collection, with the
     * budget measured again.
     *
     * @param text the JSON text
     * @param maxArrayLength the most elements any array may hold
     * @return the parsed value
     * @throws JsonException as {@link Json#parse(String, int, long)}
     */
    static Object parseJson(String text, int maxArrayLength) {
        try {
            return Json.parse(text, maxArrayLength, budget());
        } catch (JsonException e) {
            if (!e.heapLimitExceeded()) {
                throw e;
            }
        }
        System.gc();
        return Json.parse(text, maxArrayLength, budget());
    }

    private static long budget() {
        return (long) (Math.max(0, free()) * PARSE_SHARE);
    }
}
