package dev.lokr.io;

/**
 * Thrown by {@link Json} when text is not valid JSON (or exceeds a limit), or when a Java value
 * cannot be written as JSON.
 *
 * <p>For parse errors the message names the position (line, column and character offset) and the
 * problem, for example {@code "line 1, column 7 (offset 6): trailing comma before '}'"}; {@link
 * #offset()} gives the character offset, or {@code -1} for errors that do not come from parsing.
 */
public final class JsonException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The character offset of the problem, or -1. */
    private final long offset;

    /** The limit of the parser the text broke, or null for a grammar error or a writer problem. */
    private final Limit limit;

    /** A limit a caller of the parser set. */
    enum Limit {
        /** The most elements of an array ({@link Json#parse(String, int)}). */
        ARRAY_LENGTH,
        /** The most heap the parsed values may take ({@link Json#parse(String, int, long)}). */
        HEAP
    }

    /**
     * Creates an exception that is not tied to a position in a text (used by the writer).
     *
     * @param message the problem
     */
    public JsonException(String message) {
        super(message);
        this.offset = -1;
        this.limit = null;
    }

    /**
     * Creates an exception for a problem at a character offset of the parsed text.
     *
     * @param message the full message, already naming the position
     * @param offset the character offset (0-based) in the parsed text
     */
    public JsonException(String message, long offset) {
        this(message, offset, null);
    }

    /** A parse problem that is either a grammar error or, with a {@code limit}, a broken limit. */
    JsonException(String message, long offset, Limit limit) {
        super(message);
        this.offset = offset;
        this.limit = limit;
    }

    /**
     * Whether the text may be valid JSON but broke a limit the caller set (such as the array length
     * of {@link Json#parse(String, int)}, or the heap budget of {@link Json#parse(String, int, long)}).
     *
     * @return true for a broken limit, false for a grammar error or a writer problem
     */
    public boolean limitExceeded() {
        return limit != null;
    }

    /**
     * Whether the parsed values would have taken more heap than {@link Json#parse(String, int, long)}
     * allowed.
     *
     * @return true for the heap budget, false otherwise
     */
    public boolean heapLimitExceeded() {
        return limit == Limit.HEAP;
    }

    /**
     * The character offset (0-based, counted in UTF-16 chars of the parsed string) where the
     * problem was found, or {@code -1} when the exception does not come from parsing.
     *
     * @return the offset or -1
     */
    public long offset() {
        return offset;
    }
}
