package dev.lokr.dl4j.conf;

import dev.lokr.math.DoraAxis;
import dev.lokr.math.FactorMode;
import dev.lokr.math.LokrLayout;

import java.io.Serializable;
import java.util.Objects;

/**
 * An explicit factor plan for a {@link LokrLayer}, used instead of the plan its options would give: the
 * {@code w1} dims {@code [a, c]}, the rank, the factor modes, the scale, the scalar gain and the DoRA axis.
 * {@code b = out / a} and {@code d = in / c} follow from the layer's weight. Adapters loaded from a file
 * (whose factorization, scale or modes need not match any option set) carry one. Mutable bean (for JSON);
 * {@link #of(LokrLayout)} and {@link #layout(long[])} convert. A {@link LokrLayer} keeps its own copy:
 * it copies a plan when it is set, returned or cloned, so changing a plan object never changes a layer.
 */
public class LokrPlan implements Serializable {

    private static final long serialVersionUID = 1L;

    private int a;
    private int c;
    private int rank;
    private FactorMode w1Mode;
    private FactorMode w2Mode;
    private double scale;
    private boolean scalar;
    private DoraAxis doraAxis;
    private boolean detachNorm;

    /** For JSON only; use {@link #of(LokrLayout)}. */
    public LokrPlan() {
    }

    /**
     * @param layout a layout (for example of tensors read from an adapter file)
     * @return its plan (the weight shape is not kept)
     */
    public static LokrPlan of(LokrLayout layout) {
        Objects.requireNonNull(layout, "layout");
        LokrPlan p = new LokrPlan();
        p.a = layout.a();
        p.c = layout.c();
        p.rank = layout.rank();
        p.w1Mode = layout.w1Mode();
        p.w2Mode = layout.w2Mode();
        p.scale = layout.scale();
        p.scalar = layout.scalar();
        p.doraAxis = layout.doraAxis();
        p.detachNorm = layout.detachNorm();
        return p;
    }

    /** @return a new plan with the same values */
    public LokrPlan copy() {
        LokrPlan p = new LokrPlan();
        p.a = a;
        p.c = c;
        p.rank = rank;
        p.w1Mode = w1Mode;
        p.w2Mode = w2Mode;
        p.scale = scale;
        p.scalar = scalar;
        p.doraAxis = doraAxis;
        p.detachNorm = detachNorm;
        return p;
    }

    /**
     * The layout of this plan for a weight.
     *
     * @param weightShape PyTorch layout {@code [out, in]} or {@code [out, in, kh, kw]}
     * @return the layout, with {@code b = out / a}, {@code d = in / c}
     * @throws IllegalArgumentException if {@code a} does not divide {@code out} or {@code c} does not divide
     *                                  {@code in}, or the plan is otherwise inconsistent with the weight
     */
    public LokrLayout layout(long[] weightShape) {
        if (a < 1 || c < 1 || weightShape[0] % a != 0 || weightShape[1] % c != 0) {
            throw new IllegalArgumentException("plan w1 [" + a + ", " + c + "] must divide the weight's [out, in] = ["
                    + weightShape[0] + ", " + weightShape[1] + "]");
        }
        return LokrLayout.explicit(weightShape, a, (int) (weightShape[0] / a), c, (int) (weightShape[1] / c), rank,
                w1Mode, w2Mode, scale, scalar, doraAxis == null ? DoraAxis.NONE : doraAxis, detachNorm);
    }

    /** @return the rows of {@code w1} */
    public int getA() {
        return a;
    }

    /** @param a the rows of {@code w1} */
    public void setA(int a) {
        this.a = a;
    }

    /** @return the columns of {@code w1} */
    public int getC() {
        return c;
    }

    /** @param c the columns of {@code w1} */
    public void setC(int c) {
        this.c = c;
    }

    /** @return the rank */
    public int getRank() {
        return rank;
    }

    /** @param rank the rank */
    public void setRank(int rank) {
        this.rank = rank;
    }

    /** @return how {@code w1} is stored */
    public FactorMode getW1Mode() {
        return w1Mode;
    }

    /** @param w1Mode how {@code w1} is stored */
    public void setW1Mode(FactorMode w1Mode) {
        this.w1Mode = w1Mode;
    }

    /** @return how {@code w2} is stored */
    public FactorMode getW2Mode() {
        return w2Mode;
    }

    /** @param w2Mode how {@code w2} is stored */
    public void setW2Mode(FactorMode w2Mode) {
        this.w2Mode = w2Mode;
    }

    /** @return the scale {@code s} */
    public double getScale() {
        return scale;
    }

    /** @param scale the scale {@code s} */
    public void setScale(double scale) {
        this.scale = scale;
    }

    /** @return whether a learned scalar gain is present */
    public boolean isScalar() {
        return scalar;
    }

    /** @param scalar whether a learned scalar gain is present */
    public void setScalar(boolean scalar) {
        this.scalar = scalar;
    }

    /** @return the DoRA axis */
    public DoraAxis getDoraAxis() {
        return doraAxis;
    }

    /** @param doraAxis the DoRA axis */
    public void setDoraAxis(DoraAxis doraAxis) {
        this.doraAxis = doraAxis;
    }

    /** @return whether the DoRA norm is detached in backward */
    public boolean isDetachNorm() {
        return detachNorm;
    }

    /** @param detachNorm whether the DoRA norm is detached in backward */
    public void setDetachNorm(boolean detachNorm) {
        this.detachNorm = detachNorm;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof LokrPlan)) {
            return false;
        }
        LokrPlan p = (LokrPlan) o;
        return a == p.a && c == p.c && rank == p.rank && w1Mode == p.w1Mode && w2Mode == p.w2Mode
                && Double.compare(scale, p.scale) == 0 && scalar == p.scalar && doraAxis == p.doraAxis
                && detachNorm == p.detachNorm;
    }

    @Override
    public int hashCode() {
        return Objects.hash(a, c, rank, w1Mode, w2Mode, scale, scalar, doraAxis, detachNorm);
    }

    @Override
    public String toString() {
        return "LokrPlan{w1=[" + a + ", " + c + "], rank=" + rank + ", w1Mode=" + w1Mode + ", w2Mode=" + w2Mode
                + ", scale=" + scale + ", scalar=" + scalar + ", doraAxis=" + doraAxis + ", detachNorm=" + detachNorm
                + "}";
    }
}
