package dev.lokr.math;

/**
 * The split of a dimension into two factors, as LyCORIS does it.
 *
 * <p>{@code factorize(dim, factor)} returns {@code (m, n)} with {@code m * n == dim} and
 * {@code m <= n}:
 * <ul>
 *   <li>if {@code factor > 0} and {@code dim % factor == 0}: {@code (min(factor, dim/factor),
 *       max(factor, dim/factor))};</li>
 *   <li>otherwise ({@code factor == -1} means "no limit"): starting from {@code (1, dim)}, step
 *       {@code m} to the next divisor of {@code dim} while it does not exceed {@code factor} and
 *       {@code m < n}; the last step may overshoot, so the result is sorted.</li>
 * </ul>
 * Worked values (factor -1): 4096 &rarr; (64, 64), 768 &rarr; (24, 32), 360 &rarr; (18, 20),
 * 127 &rarr; (1, 127).
 */
public final class Factorization {

    private Factorization() {
    }

    /**
     * Splits {@code dim} into {@code (m, n)}, {@code m <= n}, {@code m * n == dim}.
     *
     * @param dim    the dimension, at least 1
     * @param factor the largest allowed small factor, or -1 for no limit
     * @return a new array {@code {m, n}}
     * @throws IllegalArgumentException if {@code dim < 1}, or {@code factor} is 0 or below -1
     */
    public static int[] factorize(int dim, int factor) {
        if (dim < 1) {
            throw new IllegalArgumentException("dim must be >= 1, got " + dim);
        }
        checkFactor(factor);
        if (factor > 0 && dim % factor == 0) {
            int other = dim / factor;
            return new int[] {Math.min(factor, other), Math.max(factor, other)};
        }
        int limit = factor == -1 ? dim : factor;
        int m = 1;
        int n = dim;
        while (m < n) {
            int m2 = smallestDivisorAbove(dim, m);
            if (m2 > limit) {
                break;
            }
            m = m2;
            n = dim / m2;
        }
        return new int[] {Math.min(m, n), Math.max(m, n)};
    }

    /**
     * Validates a factor value: -1 (no limit) or a positive number.
     *
     * @param factor the value to check
     * @throws IllegalArgumentException naming the value when it is 0 or below -1
     */
    public static void checkFactor(int factor) {
        if (factor == 0 || factor < -1) {
            throw new IllegalArgumentException(
                    "factor must be -1 (no limit) or a positive number, got " + factor);
        }
    }

    private static int smallestDivisorAbove(int dim, int m) {
        for (int k = m + 1; k <= dim; k++) {
            if (dim % k == 0) {
                return k;
            }
        }
        return dim;
    }
}
