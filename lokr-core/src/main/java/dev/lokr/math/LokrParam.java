package dev.lokr.math;

/**
 * The named tensors of one LoKR module. Which of them a module has depends on its
 * {@link LokrLayout}; {@link LokrLayout#params()} lists them in canonical order.
 * Shapes use {@code out = a * b}, {@code in = c * d}, kernel {@code kh x kw} and rank {@code r}.
 */
public enum LokrParam {
    /** Full small factor {@code w1 [a, c]}. */
    W1("w1"),
    /** Low-rank small factor, left part {@code w1a [a, r]}. */
    W1_A("w1a"),
    /** Low-rank small factor, right part {@code w1b [r, c]}. */
    W1_B("w1b"),
    /** Full big factor {@code w2 [b, d]} (conv: {@code [b, d, kh, kw]}). */
    W2("w2"),
    /** Big factor, left part: {@code [b, r]} (low-rank) or {@code [r, b]} (Tucker). */
    W2_A("w2a"),
    /** Big factor, right part: {@code [r, d*kh*kw]} (low-rank) or {@code [r, d]} (Tucker). */
    W2_B("w2b"),
    /** Tucker core {@code t2 [r, r, kh, kw]}. */
    T2("t2"),
    /** Learned scalar gain {@code [1]}, initialised to 0. */
    SCALAR("scalar"),
    /** DoRA magnitude: {@code [out]} (output axis) or {@code [in]} (input axis). */
    MAGNITUDE("magnitude");

    private final String key;

    LokrParam(String key) {
        this.key = key;
    }

    /** @return the short name used as a parameter key (for example in DL4J) */
    public String key() {
        return key;
    }

    /**
     * @param key a name returned by {@link #key()}
     * @return the matching parameter
     * @throws IllegalArgumentException naming the key when there is none
     */
    public static LokrParam fromKey(String key) {
        for (LokrParam p : values()) {
            if (p.key.equals(key)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown LoKR parameter key '" + key + "'");
    }
}
