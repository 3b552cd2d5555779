package dev.lokr.math;

import dev.lokr.LokrAdapter;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * The factor plan of one LoKR module for one target weight: the splits {@code out = a * b},
 * {@code in = c * d}, how each factor is stored, the rank, the scale and the DoRA axis.
 *
 * <p>Shapes (PyTorch layout): the weight is {@code [out, in]} or {@code [out, in, kh, kw]};
 * {@code w1} is {@code [a, c]}, {@code w2} is {@code [b, d]} (conv {@code [b, d, kh, kw]}), and
 * {@code kron(w1, w2)[i*b + j, k*d + l] = w1[i, k] * w2[j, l]}.
 *
 * <p>Immutable. Made by {@link #plan(LokrAdapter, long...)} from options, or by
 * {@link #explicit} from what an adapter file holds.
 */
public final class LokrLayout {

    private final long[] weightShape;
    private final int a;
    private final int b;
    private final int c;
    private final int d;
    private final int rank;
    private final FactorMode w1Mode;
    private final FactorMode w2Mode;
    private final double scale;
    private final boolean scalar;
    private final DoraAxis doraAxis;
    private final boolean detachNorm;

    private LokrLayout(long[] weightShape, int a, int b, int c, int d, int rank, FactorMode w1Mode,
                       FactorMode w2Mode, double scale, boolean scalar, DoraAxis doraAxis,
                       boolean detachNorm) {
        this.weightShape = weightShape.clone();
        this.a = a;
        this.b = b;
        this.c = c;
        this.d = d;
        this.rank = rank;
        this.w1Mode = w1Mode;
        this.w2Mode = w2Mode;
        this.scale = scale;
        this.scalar = scalar;
        this.doraAxis = doraAxis;
        this.detachNorm = detachNorm;
        for (LokrParam p : params()) {
            long n = 1;
            for (long v : shapeOf(p)) {
                n = v > Integer.MAX_VALUE / Math.max(n, 1) ? Long.MAX_VALUE : n * v;
            }
            if (n > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(p.key() + " would be " + Arrays.toString(shapeOf(p))
                        + ", more than 2^31 - 1 values: rank " + rank + " is too large for weight "
                        + Arrays.toString(weightShape));
            }
        }
    }

    /**
     * Plans the factors of {@code options} for a weight, following the LoKR spec: factorization of
     * both dims by {@code factor}, {@code w1} low-rank iff {@code decomposeBoth && r < max(a, c)/2},
     * {@code w2} low-rank iff {@code r < max(b, d)/2} (Tucker for conv kernels larger than 1x1 when
     * asked), neither with {@code fullMatrix}; scale {@code alpha / r} ({@code alpha / sqrt(r)} with
     * rsLora, {@code alpha = r} when alpha is 0), and 1 when both factors are full.
     *
     * @param options     the adapter options
     * @param weightShape {@code [out, in]} or {@code [out, in, kh, kw]}
     * @return the plan
     * @throws IllegalArgumentException if the shape is not 2-D or 4-D with dims in [1, 2^31)
     */
    public static LokrLayout plan(LokrAdapter options, long... weightShape) {
        Objects.requireNonNull(options, "options");
        checkWeightShape(weightShape);
        int out = (int) weightShape[0];
        int in = (int) weightShape[1];
        int[] outSplit = Factorization.factorize(out, options.factor());
        int[] inSplit = Factorization.factorize(in, options.factor());
        int a = outSplit[0];
        int b = outSplit[1];
        if (options.unbalancedFactorization()) {
            a = outSplit[1];
            b = outSplit[0];
        }
        int c = inSplit[0];
        int d = inSplit[1];
        int r = options.rank();
        boolean conv = weightShape.length == 4;
        boolean bigKernel = conv && weightShape[2] * weightShape[3] > 1;

        FactorMode w1Mode = options.decomposeBoth() && r < Math.max(a, c) / 2.0 && !options.fullMatrix()
                ? FactorMode.LOW_RANK : FactorMode.FULL;
        FactorMode w2Mode;
        if (r >= Math.max(b, d) / 2.0 || options.fullMatrix()) {
            w2Mode = FactorMode.FULL;
        } else if (options.tucker() && bigKernel) {
            w2Mode = FactorMode.TUCKER;
        } else {
            w2Mode = FactorMode.LOW_RANK;
        }
        double alpha = options.alpha() == 0 ? r : options.alpha();
        double scale;
        if (w1Mode == FactorMode.FULL && w2Mode == FactorMode.FULL) {
            scale = 1.0;
        } else {
            scale = options.rsLora() ? alpha / Math.sqrt(r) : alpha / r;
        }
        DoraAxis axis = !options.dora() ? DoraAxis.NONE
                : options.doraOnInput() ? DoraAxis.INPUT : DoraAxis.OUTPUT;
        return new LokrLayout(weightShape, a, b, c, d, r, w1Mode, w2Mode, scale, options.scalar(),
                axis, options.detachNorm());
    }

    /**
     * A layout given piece by piece, as an adapter file describes it.
     *
     * @param weightShape {@code [out, in]} or {@code [out, in, kh, kw]}
     * @param a           rows of {@code w1}; {@code a * b == out}
     * @param b           rows of {@code w2}
     * @param c           columns of {@code w1}; {@code c * d == in}
     * @param d           columns of {@code w2}
     * @param rank        rank of the low-rank / Tucker factors (ignored when both are full, but must be >= 1)
     * @param w1Mode      {@code FULL} or {@code LOW_RANK}
     * @param w2Mode      {@code FULL}, {@code LOW_RANK} or {@code TUCKER} (Tucker only for 4-D weights)
     * @param scale       the scale {@code s}, finite
     * @param scalar      whether a learned scalar gain is present
     * @param doraAxis    the DoRA axis
     * @param detachNorm  whether the DoRA norm is detached in backward
     * @return the layout
     * @throws IllegalArgumentException naming the inconsistent value
     */
    public static LokrLayout explicit(long[] weightShape, int a, int b, int c, int d, int rank,
                                      FactorMode w1Mode, FactorMode w2Mode, double scale,
                                      boolean scalar, DoraAxis doraAxis, boolean detachNorm) {
        checkWeightShape(weightShape);
        Objects.requireNonNull(w1Mode, "w1Mode");
        Objects.requireNonNull(w2Mode, "w2Mode");
        Objects.requireNonNull(doraAxis, "doraAxis");
        if (a < 1 || b < 1 || c < 1 || d < 1) {
            throw new IllegalArgumentException("factor dims must be >= 1, got a=" + a + ", b=" + b
                    + ", c=" + c + ", d=" + d);
        }
        if ((long) a * b != weightShape[0] || (long) c * d != weightShape[1]) {
            throw new IllegalArgumentException("factor dims do not multiply out to the weight: a*b=" + a + "*" + b
                    + ", c*d=" + c + "*" + d + ", weight " + Arrays.toString(weightShape));
        }
        if (rank < 1) {
            throw new IllegalArgumentException("rank must be >= 1, got " + rank);
        }
        if (w1Mode == FactorMode.TUCKER) {
            throw new IllegalArgumentException("w1 cannot be TUCKER");
        }
        if (w2Mode == FactorMode.TUCKER && weightShape.length != 4) {
            throw new IllegalArgumentException("w2 TUCKER needs a 4-D conv weight, got " + Arrays.toString(weightShape));
        }
        if (Double.isNaN(scale) || Double.isInfinite(scale)) {
            throw new IllegalArgumentException("scale must be finite, got " + scale);
        }
        return new LokrLayout(weightShape, a, b, c, d, rank, w1Mode, w2Mode, scale, scalar, doraAxis,
                detachNorm);
    }

    private static void checkWeightShape(long[] shape) {
        Objects.requireNonNull(shape, "weightShape");
        if (shape.length != 2 && shape.length != 4) {
            throw new IllegalArgumentException("weight shape must be [out, in] or [out, in, kh, kw], got "
                    + Arrays.toString(shape));
        }
        for (long s : shape) {
            if (s < 1 || s > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("weight dims must be in [1, 2^31), got " + Arrays.toString(shape));
            }
        }
        long elements = 1;
        for (long dim : shape) {
            elements *= dim;   // each dim < 2^31 and the running product stays <= 2^31 - 1: no overflow
            if (elements > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("weight has more than 2^31 - 1 elements: " + Arrays.toString(shape));
            }
        }
    }

    /** @return a copy of the target weight shape, PyTorch layout */
    public long[] weightShape() {
        return weightShape.clone();
    }

    /** @return {@code out = a * b} */
    public int outDim() {
        return (int) weightShape[0];
    }

    /** @return {@code in = c * d} */
    public int inDim() {
        return (int) weightShape[1];
    }

    /** @return whether the target is a 4-D conv weight */
    public boolean isConv() {
        return weightShape.length == 4;
    }

    /** @return {@code kh * kw}, 1 for dense */
    public int kernelSize() {
        return isConv() ? (int) (weightShape[2] * weightShape[3]) : 1;
    }

    /** @return the kernel dims {@code [kh, kw]}, empty for dense */
    public long[] kernel() {
        return isConv() ? new long[] {weightShape[2], weightShape[3]} : new long[0];
    }

    /** @return rows of {@code w1} */
    public int a() {
        return a;
    }

    /** @return rows of {@code w2} */
    public int b() {
        return b;
    }

    /** @return columns of {@code w1} */
    public int c() {
        return c;
    }

    /** @return columns of {@code w2} (without kernel dims) */
    public int d() {
        return d;
    }

    /** @return the rank {@code r} */
    public int rank() {
        return rank;
    }

    /** @return how {@code w1} is stored */
    public FactorMode w1Mode() {
        return w1Mode;
    }

    /** @return how {@code w2} is stored */
    public FactorMode w2Mode() {
        return w2Mode;
    }

    /** @return the scale {@code s} */
    public double scale() {
        return scale;
    }

    /** @return whether a learned scalar gain is present */
    public boolean scalar() {
        return scalar;
    }

    /** @return the DoRA axis, {@link DoraAxis#NONE} without DoRA */
    public DoraAxis doraAxis() {
        return doraAxis;
    }

    /** @return whether DoRA is on */
    public boolean dora() {
        return doraAxis != DoraAxis.NONE;
    }

    /** @return whether the DoRA norm is detached in backward */
    public boolean detachNorm() {
        return detachNorm;
    }

    /** @return the shape of {@code w1}: {@code [a, c]} */
    public long[] w1Shape() {
        return new long[] {a, c};
    }

    /** @return the shape of {@code w2}: {@code [b, d]} or {@code [b, d, kh, kw]} */
    public long[] w2Shape() {
        return isConv() ? new long[] {b, d, weightShape[2], weightShape[3]} : new long[] {b, d};
    }

    /** @return the tensors this module trains, in canonical order */
    public List<LokrParam> params() {
        List<LokrParam> list = new ArrayList<>();
        if (w1Mode == FactorMode.FULL) {
            list.add(LokrParam.W1);
        } else {
            list.add(LokrParam.W1_A);
            list.add(LokrParam.W1_B);
        }
        if (w2Mode == FactorMode.FULL) {
            list.add(LokrParam.W2);
        } else if (w2Mode == FactorMode.TUCKER) {
            list.add(LokrParam.T2);
            list.add(LokrParam.W2_A);
            list.add(LokrParam.W2_B);
        } else {
            list.add(LokrParam.W2_A);
            list.add(LokrParam.W2_B);
        }
        if (scalar) {
            list.add(LokrParam.SCALAR);
        }
        if (dora()) {
            list.add(LokrParam.MAGNITUDE);
        }
        return Collections.unmodifiableList(list);
    }

    /**
     * @param p a parameter of this layout
     * @return its shape
     * @throws IllegalArgumentException if the layout has no such parameter
     */
    public long[] shapeOf(LokrParam p) {
        if (!params().contains(p)) {
            throw new IllegalArgumentException("layout has no parameter " + p.key() + "; it has " + params());
        }
        long k = kernelSize();
        switch (p) {
            case W1: return new long[] {a, c};
            case W1_A: return new long[] {a, rank};
            case W1_B: return new long[] {rank, c};
            case W2: return w2Shape();
            case W2_A: return w2Mode == FactorMode.TUCKER ? new long[] {rank, b} : new long[] {b, rank};
            case W2_B: return w2Mode == FactorMode.TUCKER ? new long[] {rank, d} : new long[] {rank, d * k};
            case T2: return new long[] {rank, rank, weightShape[2], weightShape[3]};
            case SCALAR: return new long[] {1};
            case MAGNITUDE: return new long[] {doraAxis == DoraAxis.OUTPUT ? outDim() : inDim()};
            default: throw new IllegalStateException(p.toString());
        }
    }

    /** @return the number of trainable values of this module */
    public long numParams() {
        long n = 0;
        for (LokrParam p : params()) {
            long[] s = shapeOf(p);
            long m = 1;
            for (long v : s) {
                m *= v;
            }
            n += m;
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof LokrLayout)) {
            return false;
        }
        LokrLayout t = (LokrLayout) o;
        return Arrays.equals(weightShape, t.weightShape) && a == t.a && b == t.b && c == t.c && d == t.d
                && rank == t.rank && w1Mode == t.w1Mode && w2Mode == t.w2Mode
                && Double.compare(scale, t.scale) == 0 && scalar == t.scalar && doraAxis == t.doraAxis
                && detachNorm == t.detachNorm;
    }

    @Override
    public int hashCode() {
        return Objects.hash(Arrays.hashCode(weightShape), a, b, c, d, rank, w1Mode, w2Mode, scale, scalar,
                doraAxis, detachNorm);
    }

    @Override
    public String toString() {
        return "LokrLayout{weight=" + Arrays.toString(weightShape) + ", w1=" + w1Mode + " [" + a + ", " + c
                + "], w2=" + w2Mode + " " + Arrays.toString(w2Shape()) + ", rank=" + rank + ", scale=" + scale
                + ", scalar=" + scalar + ", dora=" + doraAxis + (detachNorm ? " (detached)" : "") + "}";
    }
}
