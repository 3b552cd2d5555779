package dev.lokr.benchmarks;

import dev.lokr.LokrAdapter;

/**
 * The adapter options the benchmarks compare. Each is plain LoKR plus at most one option.
 */
public enum Variant {
    /** Plain LoKR: {@code w1} full, {@code w2} low-rank when the rank allows. */
    PLAIN,
    /** Both factors low-rank when the rank allows ({@code decomposeBoth}). */
    DECOMPOSE_BOTH,
    /** A learned scalar gain ({@code scalar}). */
    SCALAR,
    /** DoRA, norms per output row ({@code dora}). */
    DORA,
    /** Tucker {@code w2} for conv kernels larger than 1x1 ({@code tucker}); plain LoKR on dense weights. */
    TUCKER;

    /**
     * The options of this variant.
     *
     * @param rank   the rank, at least 1
     * @param alpha  the alpha (scale {@code alpha / rank} when a factor is low-rank)
     * @param factor the factorization limit, -1 for none
     * @return the options
     */
    public LokrAdapter options(int rank, double alpha, int factor) {
        LokrAdapter.Builder b = LokrAdapter.builder().rank(rank).alpha(alpha).factor(factor);
        switch (this) {
            case DECOMPOSE_BOTH:
                b.decomposeBoth(true);
                break;
            case SCALAR:
                b.scalar(true);
                break;
            case DORA:
                b.dora(true);
                break;
            case TUCKER:
                b.tucker(true);
                break;
            default:
                break;
        }
        return b.build();
    }

    /** @return the lower-case name used in tables, e.g. {@code decomposeBoth} */
    public String label() {
        switch (this) {
            case DECOMPOSE_BOTH:
                return "decomposeBoth";
            default:
                return name().toLowerCase(java.util.Locale.ROOT);
        }
    }
}
