package dev.lokr.math;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

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
     * @param multiplier the strength {@code m}
     * @return the coefficient
     */
    public static double coefficient(LokrParams params, double multiplier) {
        return coefficientPerScalar(params, multiplier) * scalarValue(params);
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
        INDArray k = Kron.kron(Factors.w1(params), Factors.w2(params));
        k.muli(coefficient(params, multiplier));
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
     * @param base       the frozen weight {@code [out, in(, kh, kw)]}, not modified
     * @param multiplier the strength {@code m}
     * @param rowMask    rank-dropout row multipliers {@code [out]}, or null; not modified
     * @return a new array, the base's shape and the parameters' data type
     */
    public static INDArray effectiveWeight(LokrParams params, INDArray base, double multiplier, INDArray rowMask) {
        LokrLayout layout = params.layout();
        checkBase(layout, base);
        INDArray v = deltaWeight(params, multiplier, rowMask).addi(base.castTo(params.dataType()).reshape(layout.weightShape()));
        if (!layout.dora()) {
            return v;
        }
        DoraState st = dora(params, v, multiplier);
        return scaleAxis(layout, v.dup('c'), st.rho);
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
        INDArray gDelta = gradEff.castTo(params.dataType()).dup('c');
        if (layout.dora()) {
            INDArray v = deltaWeight(params, multiplier, rowMask).addi(base.castTo(params.dataType()).reshape(layout.weightShape()));
            DoraState st = dora(params, v, multiplier);
            // dL/drho = sum over the normalised dims of gradEff * V
            INDArray dRho = reduceAxis(layout, gDelta.mul(v));
            INDArray denom = st.norm.add(DORA_EPS);
            INDArray mag = params.get(LokrParam.MAGNITUDE);
            grads.get(LokrParam.MAGNITUDE).assign(dRho.mul(multiplier).divi(denom));
            scaleAxis(layout, gDelta, st.rho);
            if (!layout.detachNorm()) {
                // dL/dn = -dL/drho * m * mag / (n + eps)^2 ; dn/dV = V / n
                INDArray dn = dRho.mul(mag).muli(-multiplier).divi(denom).divi(denom);
                INDArray perUnit = safeDivide(dn, st.norm);
                gDelta.addi(scaleAxis(layout, v, perUnit));
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
            grads.get(LokrParam.SCALAR).assign(dCoef * coefficientPerScalar(params, multiplier));
        }
        Factors.addW1Grad(params, dk[0].muli(coef), grads);
        Factors.addW2Grad(params, dk[1].muli(coef), grads);
    }

    /**
     * Merges the adapter into a base weight: {@code base <- W'}.
     *
     * @param params     the module tensors, not modified
     * @param base       the weight, modified in place
     * @param multiplier the strength {@code m}
     */
    public static void merge(LokrParams params, INDArray base, double multiplier) {
        base.assign(effectiveWeight(params, base, multiplier, null).reshape(base.shape()));
    }

    /**
     * Undoes {@link #merge}: {@code base <- base - dW}. DoRA merges cannot be undone (the norm of
     * {@code W + dW} is lost once it is normalised): keep a copy of the base instead.
     *
     * @param params     the module tensors, not modified
     * @param merged     the merged weight, modified in place
     * @param multiplier the strength used to merge
     * @throws UnsupportedOperationException for DoRA modules
     */
    public static void unmerge(LokrParams params, INDArray merged, double multiplier) {
        if (params.layout().dora()) {
            throw new UnsupportedOperationException("a DoRA merge cannot be undone: the norm of W + dW is lost "
                    + "when it is normalised to the magnitude; keep a copy of the base weight instead");
        }
        checkBase(params.layout(), merged);
        merged.subi(deltaWeight(params, multiplier, null).castTo(merged.dataType()).reshape(merged.shape()));
    }

    private static long[] kronGradShape(LokrLayout layout) {
        return layout.isConv() ? layout.weightShape() : new long[] {layout.outDim(), layout.inDim()};
    }

    /** Norms and ratios of DoRA for a materialized {@code V = W + dW}. */
    static final class DoraState {
        final INDArray norm;
        final INDArray rho;

        DoraState(INDArray norm, INDArray rho) {
            this.norm = norm;
            this.rho = rho;
        }
    }

    static DoraState dora(LokrParams params, INDArray v, double multiplier) {
        LokrLayout layout = params.layout();
        INDArray norm = Nd4j.math().sqrt(reduceAxis(layout, v.mul(v)));
        INDArray rho = ratio(params.get(LokrParam.MAGNITUDE), norm, multiplier);
        return new DoraState(norm, rho);
    }

    /**
     * {@code rho = m * (magnitude / (norm + eps) - 1) + 1}.
     *
     * @param magnitude  {@code [n]}, not modified
     * @param norm       {@code [n]}, not modified
     * @param multiplier {@code m}
     * @return a new {@code [n]} array
     */
    static INDArray ratio(INDArray magnitude, INDArray norm, double multiplier) {
        INDArray rho = magnitude.div(norm.add(DORA_EPS));
        if (multiplier != 1.0) {
            rho.subi(1.0).muli(multiplier).addi(1.0);
        }
        return rho;
    }

    /** Sum of {@code x} over the dims that DoRA normalises: gives {@code [out]} or {@code [in]}. */
    static INDArray reduceAxis(LokrLayout layout, INDArray x) {
        INDArray x3 = x.dup('c').reshape('c', layout.outDim(), layout.inDim(), layout.kernelSize());
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

    /** {@code a / b} element-wise, with 0 where {@code b == 0}. */
    static INDArray safeDivide(INDArray a, INDArray b) {
        INDArray out = a.dup();
        for (long i = 0; i < b.length(); i++) {
            double bi = b.getDouble(i);
            out.putScalar(i, bi == 0 ? 0.0 : a.getDouble(i) / bi);
        }
        return out;
    }

    static void checkMask(LokrLayout layout, INDArray rowMask) {
        if (rowMask.length() != layout.outDim()) {
            throw new IllegalArgumentException("rank-dropout mask must have " + layout.outDim() + " values (one per output), got "
                    + Arrays.toString(rowMask.shape()));
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
