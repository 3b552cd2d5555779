package dev.lokr;

import dev.lokr.math.Factorization;
import dev.lokr.math.LokrLayout;

import java.util.Objects;

/**
 * The options of a LoKR adapter: an immutable, validated configuration.
 *
 * <p>A LoKR adapter adds {@code dW = multiplier * scale * scalar * kron(w1, w2)} to a frozen
 * weight. Build one with {@link #builder()}; every option has LyCORIS's module default:
 * <pre>{@code
 * LokrAdapter adapter = LokrAdapter.builder()
 *         .rank(8).alpha(8)
 *         .decomposeBoth(true)
 *         .build();
 * LokrLayout layout = adapter.layoutFor(768, 3072);   // factor shapes for a [768, 3072] weight
 * }</pre>
 * {@link Builder#build()} refuses bad values with a message naming the option, the rule and the
 * value, so no forward pass ever fails on a bad configuration.
 */
public final class LokrAdapter {

    private final int rank;
    private final double alpha;
    private final int factor;
    private final boolean decomposeBoth;
    private final boolean tucker;
    private final boolean scalar;
    private final boolean dora;
    private final boolean doraOnInput;
    private final boolean detachNorm;
    private final boolean rsLora;
    private final boolean fullMatrix;
    private final boolean unbalancedFactorization;
    private final double rankDropout;
    private final boolean rankDropoutScale;
    private final double moduleDropout;
    private final double multiplier;
    private final long seed;

    private LokrAdapter(Builder b) {
        this.rank = b.rank;
        this.alpha = b.alpha;
        this.factor = b.factor;
        this.decomposeBoth = b.decomposeBoth;
        this.tucker = b.tucker;
        this.scalar = b.scalar;
        this.dora = b.dora;
        this.doraOnInput = b.doraOnInput;
        this.detachNorm = b.detachNorm;
        this.rsLora = b.rsLora;
        this.fullMatrix = b.fullMatrix;
        this.unbalancedFactorization = b.unbalancedFactorization;
        this.rankDropout = b.rankDropout;
        this.rankDropoutScale = b.rankDropoutScale;
        this.moduleDropout = b.moduleDropout;
        this.multiplier = b.multiplier;
        this.seed = b.seed;
    }

    /** @return a builder with every option at its default */
    public static Builder builder() {
        return new Builder();
    }

    /** @return a builder holding this configuration's values */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.rank = rank;
        b.alpha = alpha;
        b.factor = factor;
        b.decomposeBoth = decomposeBoth;
        b.tucker = tucker;
        b.scalar = scalar;
        b.dora = dora;
        b.doraOnInput = doraOnInput;
        b.detachNorm = detachNorm;
        b.rsLora = rsLora;
        b.fullMatrix = fullMatrix;
        b.unbalancedFactorization = unbalancedFactorization;
        b.rankDropout = rankDropout;
        b.rankDropoutScale = rankDropoutScale;
        b.moduleDropout = moduleDropout;
        b.multiplier = multiplier;
        b.seed = seed;
        return b;
    }

    /**
     * Plans the factor shapes of this adapter for one weight.
     *
     * @param weightShape {@code [out, in]} (dense) or {@code [out, in, kh, kw]} (conv), PyTorch layout
     * @return the layout: factor splits, storage modes, scale
     * @throws IllegalArgumentException if the shape is not 2-D or 4-D with positive dims
     */
    public LokrLayout layoutFor(long... weightShape) {
        return LokrLayout.plan(this, weightShape);
    }

    /** @return the rank {@code r} of the low-rank factors (default 4) */
    public int rank() {
        return rank;
    }

    /** @return {@code alpha}; the scale is {@code alpha / rank}; 0 means {@code alpha = rank} (default 1) */
    public double alpha() {
        return alpha;
    }

    /** @return the factorization limit; -1 means no limit (default -1) */
    public int factor() {
        return factor;
    }

    /** @return whether {@code w1} is also stored low-rank when that is smaller (default false) */
    public boolean decomposeBoth() {
        return decomposeBoth;
    }

    /** @return whether conv kernels larger than 1x1 use a Tucker core for {@code w2} (default false) */
    public boolean tucker() {
        return tucker;
    }

    /** @return whether a learned scalar gain multiplies the delta (default false) */
    public boolean scalar() {
        return scalar;
    }

    /** @return whether DoRA weight decomposition is on (default false) */
    public boolean dora() {
        return dora;
    }

    /** @return whether DoRA normalises per input column instead of per output row (default false) */
    public boolean doraOnInput() {
        return doraOnInput;
    }

    /** @return whether the DoRA norm is treated as a constant in backward (DoRA paper, PEFT; default false) */
    public boolean detachNorm() {
        return detachNorm;
    }

    /** @return whether the scale is {@code alpha / sqrt(rank)} (default false) */
    public boolean rsLora() {
        return rsLora;
    }

    /** @return whether both factors are always full matrices (default false) */
    public boolean fullMatrix() {
        return fullMatrix;
    }

    /** @return whether the output split is swapped so that {@code w1} takes the larger output factor (default false) */
    public boolean unbalancedFactorization() {
        return unbalancedFactorization;
    }

    /** @return the rank-dropout probability per output row of {@code dW}, training only (default 0) */
    public double rankDropout() {
        return rankDropout;
    }

    /** @return whether the kept rank-dropout mask is divided by its mean (default false) */
    public boolean rankDropoutScale() {
        return rankDropoutScale;
    }

    /** @return the probability of skipping the whole adapter for one training step (default 0) */
    public double moduleDropout() {
        return moduleDropout;
    }

    /** @return the default strength at use time (default 1) */
    public double multiplier() {
        return multiplier;
    }

    /** @return the seed of the initialisation (default 0) */
    public long seed() {
        return seed;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof LokrAdapter)) {
            return false;
        }
        LokrAdapter that = (LokrAdapter) o;
        return rank == that.rank
                && Double.compare(alpha, that.alpha) == 0
                && factor == that.factor
                && decomposeBoth == that.decomposeBoth
                && tucker == that.tucker
                && scalar == that.scalar
                && dora == that.dora
                && doraOnInput == that.doraOnInput
                && detachNorm == that.detachNorm
                && rsLora == that.rsLora
                && fullMatrix == that.fullMatrix
                && unbalancedFactorization == that.unbalancedFactorization
                && Double.compare(rankDropout, that.rankDropout) == 0
                && rankDropoutScale == that.rankDropoutScale
                && Double.compare(moduleDropout, that.moduleDropout) == 0
                && Double.compare(multiplier, that.multiplier) == 0
                && seed == that.seed;
    }

    @Override
    public int hashCode() {
        return Objects.hash(rank, alpha, factor, decomposeBoth, tucker, scalar, dora, doraOnInput,
                detachNorm, rsLora, fullMatrix, unbalancedFactorization, rankDropout,
                rankDropoutScale, moduleDropout, multiplier, seed);
    }

    @Override
    public String toString() {
        return "LokrAdapter{rank=" + rank + ", alpha=" + alpha + ", factor=" + factor
                + ", decomposeBoth=" + decomposeBoth + ", tucker=" + tucker + ", scalar=" + scalar
                + ", dora=" + dora + ", doraOnInput=" + doraOnInput + ", detachNorm=" + detachNorm
                + ", rsLora=" + rsLora + ", fullMatrix=" + fullMatrix
                + ", unbalancedFactorization=" + unbalancedFactorization
                + ", rankDropout=" + rankDropout + ", rankDropoutScale=" + rankDropoutScale
                + ", moduleDropout=" + moduleDropout + ", multiplier=" + multiplier
                + ", seed=" + seed + "}";
    }

    /** Mutable builder of {@link LokrAdapter}; {@link #build()} validates every value. */
    public static final class Builder {
        private int rank = 4;
        private double alpha = 1.0;
        private int factor = -1;
        private boolean decomposeBoth;
        private boolean tucker;
        private boolean scalar;
        private boolean dora;
        private boolean doraOnInput;
        private boolean detachNorm;
        private boolean rsLora;
        private boolean fullMatrix;
        private boolean unbalancedFactorization;
        private double rankDropout;
        private boolean rankDropoutScale;
        private double moduleDropout;
        private double multiplier = 1.0;
        private long seed;

        private Builder() {
        }

        /**
         * @param rank rank {@code r} of the low-rank factors, at least 1
         * @return this
         */
        public Builder rank(int rank) {
            this.rank = rank;
            return this;
        }

        /**
         * @param alpha scale numerator, finite and {@code >= 0}; 0 means {@code alpha = rank}
         * @return this
         */
        public Builder alpha(double alpha) {
            this.alpha = alpha + 0.0;   // -0.0 is 0.0 (alpha = rank), and equal to it
            return this;
        }

        /**
         * @param factor factorization limit, -1 or positive
         * @return this
         */
        public Builder factor(int factor) {
            this.factor = factor;
            return this;
        }

        /**
         * @param on store {@code w1} low-rank too
         * @return this
         */
        public Builder decomposeBoth(boolean on) {
            this.decomposeBoth = on;
            return this;
        }

        /**
         * @param on use a Tucker core for conv kernels larger than 1x1
         * @return this
         */
        public Builder tucker(boolean on) {
            this.tucker = on;
            return this;
        }

        /**
         * @param on learn a scalar output gain (initialised to 0)
         * @return this
         */
        public Builder scalar(boolean on) {
            this.scalar = on;
            return this;
        }

        /**
         * @param on use DoRA weight decomposition
         * @return this
         */
        public Builder dora(boolean on) {
            this.dora = on;
            return this;
        }

        /**
         * @param on with DoRA, normalise per input column instead of per output row
         * @return this
         */
        public Builder doraOnInput(boolean on) {
            this.doraOnInput = on;
            return this;
        }

        /**
         * @param on with DoRA, stop gradients through the norm
         * @return this
         */
        public Builder detachNorm(boolean on) {
            this.detachNorm = on;
            return this;
        }

        /**
         * @param on scale by {@code alpha / sqrt(rank)}
         * @return this
         */
        public Builder rsLora(boolean on) {
            this.rsLora = on;
            return this;
        }

        /**
         * @param on always store both factors full
         * @return this
         */
        public Builder fullMatrix(boolean on) {
            this.fullMatrix = on;
            return this;
        }

        /**
         * @param on swap the output split
         * @return this
         */
        public Builder unbalancedFactorization(boolean on) {
            this.unbalancedFactorization = on;
            return this;
        }

        /**
         * @param p rank-dropout probability in [0, 1)
         * @return this
         */
        public Builder rankDropout(double p) {
            this.rankDropout = p;
            return this;
        }

        /**
         * @param on divide the kept rank-dropout mask by its mean
         * @return this
         */
        public Builder rankDropoutScale(boolean on) {
            this.rankDropoutScale = on;
            return this;
        }

        /**
         * @param p module-dropout probability in [0, 1)
         * @return this
         */
        public Builder moduleDropout(double p) {
            this.moduleDropout = p;
            return this;
        }

        /**
         * @param multiplier default strength at use time, finite
         * @return this
         */
        public Builder multiplier(double multiplier) {
            this.multiplier = multiplier + 0.0;   // -0.0 is 0.0
            return this;
        }

        /**
         * @param seed seed of the initialisation
         * @return this
         */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the immutable configuration
         * @throws IllegalArgumentException naming the option, the rule and the value
         */
        public LokrAdapter build() {
            if (rank < 1) {
                throw new IllegalArgumentException("rank must be >= 1, got " + rank);
            }
            Factorization.checkFactor(factor);
            if (Double.isNaN(alpha) || Double.isInfinite(alpha) || alpha < 0) {
                throw new IllegalArgumentException("alpha must be finite and >= 0, got " + alpha);
            }
            checkProbability("rankDropout", rankDropout);
            checkProbability("moduleDropout", moduleDropout);
            if (Double.isNaN(multiplier) || Double.isInfinite(multiplier)) {
                throw new IllegalArgumentException("multiplier must be finite, got " + multiplier);
            }
            if ((doraOnInput || detachNorm) && !dora) {
                throw new IllegalArgumentException("doraOnInput and detachNorm need dora(true), got dora=false with "
                        + (doraOnInput ? "doraOnInput=true" : "detachNorm=true"));
            }
            return new LokrAdapter(this);
        }

        private static void checkProbability(String name, double p) {
            if (!(p >= 0 && p < 1)) {
                throw new IllegalArgumentException(name + " must be in [0, 1), got " + p);
            }
        }
    }
}
