package dev.lokr.math;

/** How one Kronecker factor is stored. */
public enum FactorMode {
    /** A full matrix ({@code w1 [a, c]}, or {@code w2 [b, d(, kh, kw)]}). */
    FULL,
    /** A rank-{@code r} product ({@code w1a [a, r] @ w1b [r, c]} or {@code w2a [b, r] @ w2b [r, d*kh*kw]}). */
    LOW_RANK,
    /** A Tucker core {@code t2 [r, r, kh, kw]} with {@code w2a [r, b]} and {@code w2b [r, d]} (conv {@code w2} only). */
    TUCKER
}
