package dev.lokr.math;


import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Objects;

/**
 * The LoKR weights, materialized: the delta weight, the effective (adapted) weight, and the
 * gradients of every module tensor given the gradient of the effective weight. Conv layers, merge,
 * export and the materialized reference path all use these; dense training uses
 * {@link LokrDense}, which computes the same thing without building {@code dW}.
 *
 * <p>Formulas (PyTorch layout, {@code W [out, in(, kh, kw)]}):
 * <ul>
 *   <li>{@code dW = mask * coef * kron(w1, w2)}, {@code coef = s * g * m} (without DoRA) or
 *       {@code s * g} (DoRA: {@code dW} is taken with {@code m = 1}); {@code mask} the rank-dropout
 *       row multipliers {@code [out]} (or none), {@code g} the scalar (1 unless present);</li>
 *   <li>without DoRA: {@code W' = W + dW};</li>
 *   <li>DoRA: {@code W' = (W + dW) * rho} with {@code rho = m * (magnitude / (norm(W + dW) + eps) - 1) + 1},
 *       norms per output row or per input column ({@link DoraAxis}), eps the float32 machine epsilon.</li>
 * </ul>
 */
public final class LokrWeights {

    /** The float32 machine epsilon added to DoRA norms. */
    public static final double DORA_EPS = Math.ulp(1.0f);

    private LokrWeights() {
    }

    /**
     * The factor multiplying {@code kron(w1, w2)} in {@code dW}: {@code s * g * m} or, with DoRA, {@code s * g}.
     *
     * @param params     the module tensors, not modified
     * @param multiplier the strength {@code m}, finite (every path of forward, backward and merge computes
     *                   this coefficient, so each refuses a NaN or infinite multiplier here)
     * @return the coefficient
     * @throws IllegalArgumentException if the multiplier is NaN or infinite, or {@code scale * multiplier}
     *     overflows, in double or, for FLOAT tensors, beyond {@link Float#MAX_VALUE} (the products run in
     *     the tensors' type, where it would be an infinity: NaN even where {@code dW} is zero). A learned
     *     scalar that diverged is not refused: its NaN flows into the output
     */
    public static double coefficient(LokrParams params, double multiplier) {
        if (!Double.isFinite(multiplier)) {
            throw new IllegalArgumentException("multiplier must be finite, got " + multiplier);
        }
        double configured = coefficientPerScalar(params, multiplier);
        if (!Double.isFinite(configured)) {
            throw new IllegalArgumentException("the coefficient scale * multiplier is not finite: "
                    + params.layout().scale() + " * " + multiplier + " = " + configured);
        }
        if (params.dataType() == DataType.FLOAT && Math.abs(configured) > Float.MAX_VALUE) {
            String what = params.layout().dora()
                    ? "scale = " + configured + " (DoRA leaves the multiplier out of it)"
                    : "scale * multiplier = " + params.layout().scale() + " * " + multiplier + " = " + configured;
            throw new IllegalArgumentException("the coefficient " + what + " is beyond FLOAT's range ("
                    + Float.MAX_VALUE + ") of the module's tensors");
        }
        // a learned scalar that diverged to NaN flows through, as in every other tensor: a NaN score, not a throw
        return configured * scalarValue(params);
    }

    /**
     * {@code coefficient / g}: {@code s * m}, or {@code s} with DoRA. The scalar's gradient is this
     * times the gradient with respect to the coefficient.
     *
     * @param params     the module tensors
     * @param multiplier the strength {@code m}
     * @return the coefficient without the scalar gain
     */
    static double coefficientPerScalar(LokrParams params, double multiplier) {
        LokrLayout layout = params.layout();
        return layout.scale() * (layout.dora() ? 1.0 : multiplier);
    }

    static double scalarValue(LokrParams params) {
        return params.layout().scalar() ? params.get(LokrParam.SCALAR).getDouble(0) : 1.0;
    }

    /**
     * The delta weight {@code dW = mask * coef * kron(w1, w2)}.
     *
     * @param params     the module tensors, not modified
     * @param multiplier the strength {@code m}
     * @param rowMask    rank-dropout row multipliers {@code [out]}, or null for none; not modified
     * @return a new array of the weight's shape
     */
    public static INDArray deltaWeight(LokrParams params, double multiplier, INDArray rowMask) {
        LokrLayout layout = params.layout();
        INDArray k = Kron.kron(Factors.w1(params), Factors.w2(params), coefficient(params, multiplier));
        if (rowMask != null) {
            checkMask(layout, rowMask);
            k.reshape('c', layout.outDim(), k.length() / layout.outDim()).muliColumnVector(rowMask.reshape(layout.outDim(), 1).castTo(k.dataType()));
        }
        return k.reshape('c', layout.weightShape());
    }

    /**
     * The effective weight {@code W'} that the adapted layer computes with.
     *
     * @param params     the module tensors, not modified
     * @param base       the frozen weight {@code [out, in(, kh, kw)]} (any shape with {@code out} rows and that
     *                   many values, read in C order), not modified
     * @param multiplier the strength {@code m}
     * @param rowMask    rank-dropout row multipliers {@code [out]}, or null; not modified
     * @return a new array of the layout's weight shape ({@link LokrLayout#weightShape()}) and the parameters'
     *         data type
     * @throws IllegalArgumentException if {@code base} has another number of rows or values
     */
    public static INDArray effectiveWeight(LokrParams params, INDArray base, double multiplier, INDArray rowMask) {
        LokrLayout layout = params.layout();
        checkBase(layout, base);
        INDArray v = deltaWeight(params, multiplier, rowMask).addi(base.castTo(params.dataType()).reshape(layout.weightShape()));
        if (!layout.dora()) {
            return v;
        }
        DoraState st = dora(params, v, multiplier);
        return scaleAxis(layout, v, vector(st.rho, params.dataType()));   // v is this method's own 'c' array
    }

    /**
     * Gradients of every module tensor, given the gradient {@code gradEff} of the loss with respect
     * to the effective weight {@link #effectiveWeight}. Chain rule through DoRA (unless the norm is
     * detached), the rank-dropout mask, the scalar, the Kronecker product and the factor storage.
     *
     * @param params     the module tensors, not modified
     * @param base       the frozen weight, not modified
     * @param multiplier the strength {@code m}
     * @param rowMask    the row multipliers used in forward, or null
     * @param gradEff    {@code dL/dW'}, the base's shape, not modified
     * @param grads      receives the gradients (overwritten), same layout
     */
    public static void backward(LokrParams params, INDArray base, double multiplier, INDArray rowMask,
                                INDArray gradEff, LokrParams grads) {
        LokrLayout layout = params.layout();
        checkBase(layout, base);
        if (!Arrays.equals(gradEff.shape(), layout.weightShape())) {
            throw new IllegalArgumentException("weight gradient must be " + Arrays.toString(layout.weightShape())
                    + ", got " + Arrays.toString(gradEff.shape()));
        }
        grads.zero();
        INDArray w1 = Factors.w1(params);
        INDArray w2 = Factors.w2(params);
        INDArray gDelta = gradEff.castTo(params.dataType());
        if (layout.dora() || rowMask != null) {
            gDelta = gDelta.dup('c');   // scaled in place below: never the caller's array
        }
        if (layout.dora()) {
            INDArray v = deltaWeight(params, multiplier, rowMask).addi(base.castTo(params.dataType()).reshape(layout.weightShape()));
            DoraState st = dora(params, v, multiplier);
            // dL/drho = sum over the normalised dims of gradEff * V
            double[] dRho = HostArrays.toDoubles(reduceAxis(layout, gDelta.mul(v)));
            double[] dMag = new double[dRho.length];
            double[] normCoef = new double[dRho.length];
            ratioBackward(dRho, HostArrays.toDoubles(params.get(LokrParam.MAGNITUDE)), st.norm, multiplier, dMag,
                    normCoef);
            HostArrays.write(dMag, grads.get(LokrParam.MAGNITUDE));
            scaleAxis(layout, gDelta, vector(st.rho, params.dataType()));
            if (!layout.detachNorm()) {
                // dn/dV = V / n
                gDelta.addi(scaleAxis(layout, v, vector(normCoef, params.dataType())));
            }
        }
        if (rowMask != null) {
            checkMask(layout, rowMask);
            gDelta.reshape('c', layout.outDim(), gDelta.length() / layout.outDim())
                    .muliColumnVector(rowMask.reshape(layout.outDim(), 1).castTo(gDelta.dataType()));
        }
        INDArray[] dk = Kron.adjoint(gDelta.reshape('c', layout.outDim(), layout.inDim(), layout.kernelSize())
                .reshape('c', kronGradShape(layout)), w1, w2);
        double coef = coefficient(params, multiplier);
        if (layout.scalar()) {
            double dCoef = dk[0].mul(w1).sumNumber().doubleValue();
            grads.get(LokrParam.SCALAR).putScalar(0, dCoef * coefficientPerScalar(params, multiplier));
        }
        Factors.addW1Grad(params, dk[0].muli(coef), grads);
        Factors.addW2Grad(params, dk[1].muli(coef), grads);
    }

    /**
     * Merges the adapter into a base weight: {@code base <- W'}. A DOUBLE weight is merged in double
     * even when the tensors are FLOAT, so it is never rounded to float.
     *
     * @param params     the module tensors, not modified
     * @param base       the weight, modified in place; of a floating-point type
     * @param multiplier the strength {@code m}, finite
     * @throws IllegalArgumentException if the weight does not fit the layout or is not floating-point, or the
     *         multiplier is NaN or infinite
     */
    public static void merge(LokrParams params, INDArray base, double multiplier) {
        Objects.requireNonNull(base, "base");
        requireFloatingPoint(base, "its merged values would be truncated");
        LokrParams p = atLeastAsWide(params, base);
        base.assign(effectiveWeight(p, base, multiplier, null).reshape(base.shape()));
    }

    /** {@code params} in DOUBLE when the weight is DOUBLE and they are not, so a merge never rounds the weight to float. */
    private static LokrParams atLeastAsWide(LokrParams params, INDArray weight) {
        return weight.dataType() == DataType.DOUBLE && params.dataType() != DataType.DOUBLE
                ? params.castTo(DataType.DOUBLE) : params;
    }

    /**
     * Undoes {@link #merge}: {@code base <- base - dW}. DoRA merges cannot be undone (the norm of
     * {@code W + dW} is lost once it is normalised): keep a copy of the base instead.
     *
     * @param params     the module tensors, not modified
     * @param merged     the merged weight, modified in place
     * @param multiplier the strength used to merge
     * @throws UnsupportedOperationException for DoRA modules
     * @throws IllegalArgumentException if the weight does not fit the layout or is not floating-point
     */
    public static void unmerge(LokrParams params, INDArray merged, double multiplier) {
        if (params.layout().dora()) {
            throw new UnsupportedOperationException("a DoRA merge cannot be undone: the norm of W + dW is lost "
                    + "when it is normalised to the magnitude; keep a copy of the base weight instead");
        }
        Objects.requireNonNull(merged, "merged");
        requireFloatingPoint(merged, "its unmerged values would be truncated");
        checkBase(params.layout(), merged);
        LokrParams p = atLeastAsWide(params, merged);
        merged.subi(deltaWeight(p, multiplier, null).castTo(merged.dataType()).reshape(merged.shape()));
    }

    private static long[] kronGradShape(LokrLayout layout) {
        return layout.isConv() ? layout.weightShape() : new long[] {layout.outDim(), layout.inDim()};
    }

    /** Norms and ratios of DoRA for a materialized {@code V = W + dW}. */
    static final class DoraState {
        final double[] norm;
        final double[] rho;

        DoraState(double[] norm, double[] rho) {
            this.norm = norm;
            this.rho = rho;
        }
    }

    static DoraState dora(LokrParams params, INDArray v, double multiplier) {
        double[] norm = squaredNorms(params.layout(), v);
        for (int u = 0; u < norm.length; u++) {
            norm[u] = Math.sqrt(norm[u]);
        }
        double[] rho = ratio(params, norm, multiplier);
        return new DoraState(norm, rho);
    }

    /**
     * The sums of squares of {@code v} over the dims that DoRA normalises, in double whatever {@code v}'s type: a
     * float sum over a row of {@code n} values errs by up to {@code n} float roundings (ND4J's was 2e-5 of the norm at
     * 2^18 values), and float squares overflow beyond 1.8e19 where the norm is finite.
     *
     * @param layout the layout, with DoRA
     * @param v      weight-shaped, not modified
     * @return {@code [out]} or {@code [in]} sums
     */
    static double[] squaredNorms(LokrLayout layout, INDArray v) {
        int out = layout.outDim();
        int in = layout.inDim();
        int kernel = layout.kernelSize();
        boolean onOut = layout.doraAxis() == DoraAxis.OUTPUT;
        if (!HostArrays.direct(v) || !Kron.inOneHostBuffer(v.length(), v.dataType())) {
            INDArray wide = v.castTo(DataType.DOUBLE);
            return HostArrays.toDoubles(reduceAxis(layout, wide.mul(wide)));
        }
        double[] sq = new double[onOut ? out : in];
        int row = in * kernel;
        boolean isFloat = v.dataType() == DataType.FLOAT;
        java.nio.FloatBuffer fb = isFloat ? HostArrays.floats(v) : null;
        java.nio.DoubleBuffer db = isFloat ? null : HostArrays.doubles(v);
        float[] floats = isFloat ? new float[row] : null;
        double[] values = new double[row];
        for (int o = 0; o < out; o++) {
            if (isFloat) {
                fb.get(o * row, floats);
                for (int j = 0; j < row; j++) {
                    values[j] = floats[j];
                }
            } else {
                db.get(o * row, values);
            }
            if (onOut) {
                double s = 0;
                for (int j = 0; j < row; j++) {
                    s += values[j] * values[j];
                }
                sq[o] = s;
            } else {
                for (int j = 0; j < row; j++) {
                    sq[j / kernel] += values[j] * values[j];
                }
            }
        }
        return sq;
    }

    /**
     * The DoRA ratio per unit: {@code rho = m * (magnitude / (norm + eps) - 1) + 1}.
     *
     * @param params     the module tensors, whose {@code magnitude} is read, not modified
     * @param norm       per-unit norms of {@code W + dW}, not modified
     * @param multiplier {@code m}
     * @return a new array of ratios
     */
    static double[] ratio(LokrParams params, double[] norm, double multiplier) {
        double[] magnitude = HostArrays.toDoubles(params.get(LokrParam.MAGNITUDE));
        double[] rho = new double[norm.length];
        for (int u = 0; u < rho.length; u++) {
            double r = magnitude[u] / (norm[u] + DORA_EPS);
            rho[u] = multiplier == 1.0 ? r : multiplier * (r - 1) + 1;
        }
        return rho;
    }

    /**
     * Backward of {@link #ratio}: given {@code dRho = dL/drho}, writes
     * {@code dMag = dRho * m / (n + eps)} and {@code normCoef = (dL/dn) / n} with
     * {@code dL/dn = -dRho * m * magnitude / (n + eps)^2} (0 where {@code n == 0}), the factor by which
     * {@code V} enters the gradient through the norm ({@code dn/dV = V / n}).
     *
     * @param dRho       per-unit {@code dL/drho}, not modified
     * @param magnitude  per-unit magnitudes, not modified
     * @param norm       per-unit norms, not modified
     * @param multiplier {@code m}
     * @param dMag       receives the magnitude gradient
     * @param normCoef   receives {@code (dL/dn) / n}
     */
    static void ratioBackward(double[] dRho, double[] magnitude, double[] norm, double multiplier, double[] dMag,
                              double[] normCoef) {
        for (int u = 0; u < dRho.length; u++) {
            double denom = norm[u] + DORA_EPS;
            dMag[u] = dRho[u] * multiplier / denom;
            double dn = -dRho[u] * multiplier * magnitude[u] / (denom * denom);
            normCoef[u] = norm[u] == 0 ? 0.0 : dn / norm[u];
        }
    }

    /** A 1-D array of {@code type} holding {@code values}. */
    static INDArray vector(double[] values, DataType type) {
        return HostArrays.fromDoubles(values, type, values.length);
    }

    /** Sum of {@code x} over the dims that DoRA normalises: gives {@code [out]} or {@code [in]}. */
    static INDArray reduceAxis(LokrLayout layout, INDArray x) {
        INDArray x3 = x.reshape('c', layout.outDim(), layout.inDim(), layout.kernelSize());   // a copy only if it must
        return layout.doraAxis() == DoraAxis.OUTPUT ? x3.sum(1, 2) : x3.sum(0, 2);
    }

    /** Multiplies {@code x} (weight-shaped, 'c'-order) in place along the DoRA axis by {@code v}; returns {@code x}. */
    static INDArray scaleAxis(LokrLayout layout, INDArray x, INDArray v) {
        INDArray x3 = x.reshape('c', layout.outDim(), layout.inDim(), layout.kernelSize());
        int dim = layout.doraAxis() == DoraAxis.OUTPUT ? 0 : 1;
        INDArray vec = v.reshape(v.length()).castTo(x.dataType());
        Nd4j.getExecutioner().exec(new BroadcastMulOp(x3, vec, x3, dim));
        return x;
    }

    static void checkMask(LokrLayout layout, INDArray rowMask) {
        if (rowMask.length() != layout.outDim()) {
            throw new IllegalArgumentException("rank-dropout mask must have " + layout.outDim() + " values (one per output), got "
                    + Arrays.toString(rowMask.shape()));
        }
    }

    /** Refuses a weight that is not of a floating-point type, saying why with {@code why}. */
    static void requireFloatingPoint(INDArray base, String why) {
        if (!base.dataType().isFPType()) {
            throw new IllegalArgumentException("the base weight must be of a floating-point type, got "
                    + base.dataType() + " (" + why + ")");
        }
    }

    static void checkBase(LokrLayout layout, INDArray base) {
        if (base.length() != layout.outDim() * (long) layout.inDim() * layout.kernelSize()
                || base.size(0) != layout.outDim()) {
            throw new IllegalArgumentException("base weight must be " + Arrays.toString(layout.weightShape()) + ", got "
                    + Arrays.toString(base.shape()));
        }
    }
}
