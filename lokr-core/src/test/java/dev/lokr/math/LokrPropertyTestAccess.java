package dev.lokr.math;

/** Exposes the brute-force factorization reference of {@link LokrPropertyTest} to other test packages. */
public final class LokrPropertyTestAccess {
    private LokrPropertyTestAccess() {
    }

    /** @see LokrPropertyTest#bruteFactor(int, int) */
    public static int[] bruteFactor(int dim, int factor) {
        return LokrPropertyTest.bruteFactor(dim, factor);
    }
}
