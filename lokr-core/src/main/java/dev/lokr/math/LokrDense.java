package dev.lokr.math;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Objects;

/**
 * The adapted dense layer {@code y = x W'^T (+ bias)} computed without building {@code dW}, by the
 * Kronecker identity, and its backward. Same result as {@link LokrWeights#effectiveWeight}.
 *
 * <p>With {@code x [N, c*d]} viewed as {@code X [N, c, d]}, {@code x kron(w1, w2)^T} viewed as
 * {@code [N, a, b]} equals {@code w1 . X . w2^T}. Writing {@code w2 = w2a @ w2b} (a full {@code w2}
 * is {@code w2a = w2} with {@code w2b} the identity) the forward contracts through the rank:
 * <pre>
 *   P  = X @ w2b^T                  [N*c, r2]   (skipped for a full w2: P = X, r2 = d)
 *   Pt = P as [N, r2, c]            (one transposed copy)
 *   Q  = Pt @ w1^T                  [N*r2, a]
 *   Qt = Q as [N, a, r2]            (one transposed copy)
 *   y += coef * Qt @ w2a^T          [N*a, b] = [N, out]  (lands in y's layout)
 * </pre>
 * then {@code y += x W^T} accumulates the frozen product into the same buffer. The two transposed
 * copies, the column scalings and the small gradient scalings run as plain Java loops over the
 * buffers ({@code HostArrays}) rather than ND4J element-wise ops, which contend with OpenBLAS's
 * threads on small machines; the coefficient rides on the GEMMs' {@code alpha}, and every gradient
 * is written with {@code beta = 0}, so nothing is zeroed first. Cost
 * {@code O(N (c r2 d + r2 c a + a r2 b))} instead of {@code O(N out in)}. No array of size
 * {@code out x in} is allocated. DoRA uses {@link DoraNorms} for the norms; on the output axis their pass
 * over {@code W} runs on an idle thread of the common fork-join pool while the calling thread does the delta and
 * base GEMMs (the scale applies after both; when no pool thread has taken the pass by then, the calling thread
 * runs it, so a busy pool never holds a forward up), and the backward reads {@code W} only for {@code dL/dx}.
 *
 * <p>Shapes: {@code x [N, in]}, {@code weight [out, in]} (any strides; DL4J's {@code [nIn, nOut]}
 * transposed is fine), {@code bias [out]} or null, {@code y [N, out]}.
 */
public final class LokrDense {

    private LokrDense() {
    }

    /**
     * What a forward keeps for its backward. Create one per step; not thread-safe. It holds the forward's
     * {@code params} and, when it is contiguous and of the module's data type, its {@code x} by reference
     * (no copy): leave both unchanged until {@link #backward} (an updater step, or a reused input buffer,
     * in between would give gradients of neither the old nor the new values).
     */
    public static final class Cache {
        private LokrParams params;
        private double multiplier;
        private double[] rowMask;
        private INDArray x;
        private INDArray rawX;
        private INDArray pt;
        private INDArray qt;
        private INDArray z;
        private double[] rho;
        private DoraNorms norms;
        private double coef;

        /** An empty cache, filled by {@link #forward}. */
        public Cache() {
        }

        /** Everything a forward keeps, each field set (to null where that forward had none). */
        private void keep(LokrParams params, double multiplier, double[] rowMask, INDArray x, INDArray rawX,
                          INDArray pt, INDArray qt, INDArray z, double[] rho, DoraNorms norms, double coef) {
            this.params = params;
            this.multiplier = multiplier;
            this.rowMask = rowMask;
            this.x = x;
            this.rawX = rawX;
            this.pt = pt;
            this.qt = qt;
            this.z = z;
            this.rho = rho;
            this.norms = norms;
            this.coef = coef;
        }
    }

    /**
     * Forward of the adapted dense layer.
     *
     * @param params     the module tensors (dense layout), not modified
     * @param weight     the frozen {@code [out, in]}, not modified
     * @param bias       {@code [out]} or null, not modified
     * @param x          {@code [N, in]}, not modified
     * @param multiplier the strength {@code m}
     * @param rowMask    rank-dropout row multipliers {@code [out]}, or null
     * @param cache      filled for {@link #backward}, or null at inference
     * @return a new {@code [N, out]} 'c'-order array
     * @throws IllegalArgumentException if {@code weight}, {@code x} or {@code bias} does not fit the layout
     */
    public static INDArray forward(LokrParams params, INDArray weight, INDArray bias, INDArray x,
                                   double multiplier, INDArray rowMask, Cache cache) {
        Objects.requireNonNull(params, "params");
        Objects.requireNonNull(weight, "weight");
        Objects.requireNonNull(x, "x");
        LokrLayout layout = params.layout();
        checkDense(layout, weight, x);
        if (bias != null && bias.length() != layout.outDim()) {
            throw new IllegalArgumentException("bias must hold out = " + layout.outDim() + " values, got "
                    + Arrays.toString(bias.shape()));
        }
        DataType type = params.dataType();
        INDArray xc = contiguous(x, type);
        long n = xc.size(0);
        double coef = LokrWeights.coefficient(params, multiplier);
        if (n == 0) {
            // an empty batch: nothing to compute (ND4J's GEMMs refuse empty operands)
            if (cache != null) {
                cache.keep(params, multiplier, null, xc, xc, null, null, null, null, null, coef);
            }
            return Nd4j.create(type, 0, layout.outDim());
        }
        INDArray w1 = Factors.w1(params);
        INDArray mask = null;
        double[] maskValues = null;
        if (rowMask != null) {
            LokrWeights.checkMask(layout, rowMask);
            mask = rowMask.castTo(type).reshape(layout.outDim());
            maskValues = HostArrays.toDoubles(mask);
        }
        DoraNorms norms = null;
        double[] rho = null;
        CallerRuns.Pending<DoraNorms> pendingNorms = null;
        if (layout.dora()) {
            INDArray w2 = Factors.w2(params);
            boolean withGradient = cache != null && !layout.detachNorm();
            if (layout.doraAxis() == DoraAxis.INPUT) {
                norms = DoraNorms.compute(layout, weight, w1, w2, mask, coef, withGradient);
                rho = LokrWeights.ratio(params, norms.norms(), multiplier);
            } else {
                // the output-axis scale applies after the products: overlap the pass over W with the GEMMs
                DoraNorms prepared = DoraNorms.prepare(layout, weight, w1, w2, mask, coef);
                pendingNorms = CallerRuns.fork(() -> prepared.pass(weight, withGradient));
            }
        }
        INDArray xin = xc;
        if (layout.doraAxis() == DoraAxis.INPUT) {
            xin = Nd4j.createUninitialized(type, n, layout.inDim());
            HostArrays.mulColumns(xc, rho, xin);
        }
        INDArray y = Nd4j.createUninitialized(type, n, layout.outDim());
        INDArray[] inter = deltaForward(params, w1, xin, y, coef);
        if (maskValues != null) {
            HostArrays.mulColumns(y, maskValues, y);
        }
        Gemm.xWt(xin, weight.castTo(type), y, 1.0, 1.0);
        if (pendingNorms != null) {
            norms = pendingNorms.join();
            rho = LokrWeights.ratio(params, norms.norms(), multiplier);
        }
        INDArray z = null;
        if (layout.doraAxis() == DoraAxis.OUTPUT) {
            // the backward needs the unscaled product: keep it and scale into a new array
            INDArray scaled = y;
            if (cache != null) {
                z = y;
                scaled = Nd4j.createUninitialized(type, n, layout.outDim());
            }
            HostArrays.mulColumns(y, rho, scaled);
            y = scaled;
        }
        if (bias != null) {
            HostArrays.addColumns(y, bias.reshape(layout.outDim()));
        }
        if (cache != null) {
            cache.keep(params, multiplier, maskValues, xin, xc, inter[0], inter[1], z, rho, norms, coef);
        }
        return y;
    }

    /**
     * Backward of {@link #forward}: gradients of every module tensor and, optionally, of the input.
     * The frozen weight and bias get none.
     *
     * @param weight        the frozen {@code [out, in]} used in forward, not modified
     * @param dy            {@code dL/dy [N, out]}, not modified
     * @param cache         the forward's cache
     * @param grads         receives the gradients (every tensor overwritten), same layout as the forward's params,
     *                      other arrays than theirs
     * @param inputGradient whether to compute {@code dL/dx}
     * @return {@code dL/dx [N, in]} (new) or null
     */
    public static INDArray backward(INDArray weight, INDArray dy, Cache cache, LokrParams grads, boolean inputGradient) {
        if (cache == null || cache.params == null) {
            throw new IllegalStateException("backward needs the cache of a forward pass");
        }
        Objects.requireNonNull(weight, "weight");
        Objects.requireNonNull(dy, "dy");
        Objects.requireNonNull(grads, "grads");
        LokrParams params = cache.params;
        LokrLayout layout = params.layout();
        DataType type = params.dataType();
        checkDense(layout, weight, cache.rawX);
        if (grads.dataType() != type) {
            throw new IllegalArgumentException("grads must be " + type + " as the forward's tensors, got "
                    + grads.dataType());
        }
        INDArray g = contiguous(dy, type);
        if (g.rank() != 2 || g.size(0) != cache.x.size(0) || g.size(1) != layout.outDim()) {
            throw new IllegalArgumentException("dy must be [" + cache.x.size(0) + ", " + layout.outDim() + "], got "
                    + Arrays.toString(dy.shape()));
        }
        params.requireSameShapes(grads, "gradients must follow the forward's tensors; cannot fit");
        for (LokrParam p : layout.params()) {
            if (grads.get(p) == params.get(p)) {
                throw new IllegalArgumentException("grads must not be the module's own tensors (" + p.key()
                        + " would be overwritten with its gradient)");
            }
        }
        if (g.size(0) == 0) {
            for (LokrParam p : layout.params()) {
                grads.get(p).assign(0);
            }
            return inputGradient ? Nd4j.create(type, 0, layout.inDim()) : null;
        }
        INDArray w1 = Factors.w1(params);
        double[] dRho = null;
        if (layout.doraAxis() == DoraAxis.OUTPUT) {
            dRho = HostArrays.columnDot(g, cache.z);
            INDArray scaled = Nd4j.createUninitialized(type, g.size(0), g.size(1));
            HostArrays.mulColumns(g, cache.rho, scaled);
            g = scaled;
        }
        boolean needDx = inputGradient || layout.doraAxis() == DoraAxis.INPUT;
        INDArray dx = null;
        if (needDx) {
            dx = Nd4j.createUninitialized(type, g.size(0), layout.inDim());
            Gemm.yW(g, weight.castTo(type), dx, 1.0, 0.0);
        }
        INDArray gm = g;
        if (cache.rowMask != null) {
            gm = Nd4j.createUninitialized(type, g.size(0), g.size(1));
            HostArrays.mulColumns(g, cache.rowMask, gm);
        }
        double dCoef = deltaBackward(params, w1, cache, gm, grads, dx);
        if (layout.doraAxis() == DoraAxis.INPUT) {
            dRho = HostArrays.columnDot(cache.rawX, dx);
            HostArrays.mulColumns(dx, cache.rho, dx);
        }
        if (layout.dora()) {
            dCoef += doraBackward(params, weight, cache, dRho, grads);
        }
        if (layout.scalar()) {
            grads.get(LokrParam.SCALAR).putScalar(0, dCoef * LokrWeights.coefficientPerScalar(params, cache.multiplier));
        }
        return inputGradient ? dx : null;
    }

    /** y = coef * core(x), returns {Pt, Qt}. */
    private static INDArray[] deltaForward(LokrParams params, INDArray w1, INDArray x, INDArray y, double coef) {
        LokrLayout layout = params.layout();
        long n = x.size(0);
        int a = layout.a();
        int c = layout.c();
        int d = layout.d();
        boolean lowRank = layout.w2Mode() == FactorMode.LOW_RANK;
        INDArray w2a = lowRank ? params.get(LokrParam.W2_A) : params.get(LokrParam.W2);
        int r2 = lowRank ? layout.rank() : d;
        INDArray x2 = x.reshape('c', n * c, d);
        INDArray p;
        if (lowRank) {
            p = Nd4j.createUninitialized(x.dataType(), n * c, r2);
            Nd4j.gemm(x2, params.get(LokrParam.W2_B), p, false, true, 1.0, 0.0);
        } else {
            p = x2;
        }
        INDArray pt = HostArrays.swapLast2(p, n, c, r2);                 // [N*r2, c]
        INDArray q = Nd4j.createUninitialized(x.dataType(), n * r2, a);
        Nd4j.gemm(pt, w1, q, false, true, 1.0, 0.0);
        INDArray qt = HostArrays.swapLast2(q, n, r2, a);                  // [N*a, r2]
        Nd4j.gemm(qt, w2a, y.reshape('c', n * a, layout.b()), false, true, coef, 0.0);
        return new INDArray[] {pt, qt};
    }

    /**
     * Factor gradients (overwritten) from gm (masked output gradient) and dx += coef * core^T(gm).
     * Returns dL/dcoef through this path (only computed with a scalar).
     */
    private static double deltaBackward(LokrParams params, INDArray w1, Cache cache, INDArray gm, LokrParams grads,
                                        INDArray dx) {
        LokrLayout layout = params.layout();
        DataType type = params.dataType();
        long n = gm.size(0);
        int a = layout.a();
        int b = layout.b();
        int c = layout.c();
        int d = layout.d();
        double coef = cache.coef;
        boolean lowRank = layout.w2Mode() == FactorMode.LOW_RANK;
        INDArray w2a = lowRank ? params.get(LokrParam.W2_A) : params.get(LokrParam.W2);
        int r2 = lowRank ? layout.rank() : d;
        INDArray g2 = gm.reshape('c', n * a, b);
        // dw2a = coef * g2^T @ Qt
        Nd4j.gemm(g2, cache.qt, lowRank ? grads.get(LokrParam.W2_A) : grads.get(LokrParam.W2), true, false, coef, 0.0);
        INDArray dqt = Nd4j.createUninitialized(type, n * a, r2);
        Nd4j.gemm(g2, w2a, dqt, false, false, 1.0, 0.0);
        INDArray dq = HostArrays.swapLast2(dqt, n, a, r2);               // [N*r2, a]
        double dCoef = 0.0;
        if (layout.w1Mode() == FactorMode.FULL && !layout.scalar()) {
            Nd4j.gemm(dq, cache.pt, grads.get(LokrParam.W1), true, false, coef, 0.0);
        } else {
            INDArray dW1 = Nd4j.createUninitialized(type, a, c);
            Nd4j.gemm(dq, cache.pt, dW1, true, false, 1.0, 0.0);
            if (layout.scalar()) {
                dCoef = HostArrays.dot(dW1, w1);
            }
            Factors.setW1Grad(params, dW1, coef, grads);
        }
        INDArray dpt = Nd4j.createUninitialized(type, n * r2, c);
        Nd4j.gemm(dq, w1, dpt, false, false, 1.0, 0.0);
        INDArray dp = HostArrays.swapLast2(dpt, n, r2, c);               // [N*c, r2]
        INDArray x2 = cache.x.reshape('c', n * c, d);
        if (lowRank) {
            Nd4j.gemm(dp, x2, grads.get(LokrParam.W2_B), true, false, coef, 0.0);
            if (dx != null) {
                Nd4j.gemm(dp, params.get(LokrParam.W2_B), dx.reshape('c', n * c, d), false, false, coef, 1.0);
            }
        } else if (dx != null) {
            HostArrays.axpy(coef, dp, dx);
        }
        return dCoef;
    }

    /** Magnitude gradient and the gradient through the norms; returns dL/dcoef from the norm path. */
    private static double doraBackward(LokrParams params, INDArray weight, Cache cache, double[] dRho, LokrParams grads) {
        LokrLayout layout = params.layout();
        DataType type = params.dataType();
        double m = cache.multiplier;
        double[] mag = HostArrays.toDoubles(params.get(LokrParam.MAGNITUDE));
        double[] norm = cache.norms.norms();
        double[] dMag = new double[mag.length];
        double[] gn = new double[mag.length];
        LokrWeights.ratioBackward(dRho, mag, norm, m, dMag, gn);
        HostArrays.write(dMag, grads.get(LokrParam.MAGNITUDE));
        if (layout.detachNorm()) {
            return 0.0;
        }
        double[][] nb = cache.norms.backward(weight, gn);
        Factors.addW1Grad(params, HostArrays.fromDoubles(nb[0], type, layout.a(), layout.c()), grads);
        Factors.addW2Grad(params, HostArrays.fromDoubles(nb[1], type, layout.b(), layout.d()), grads);
        return nb[2][0];
    }

    private static void checkDense(LokrLayout layout, INDArray weight, INDArray x) {
        if (layout.isConv()) {
            throw new IllegalArgumentException("LokrDense needs a dense layout, got " + layout);
        }
        if (weight.rank() != 2 || weight.size(0) != layout.outDim() || weight.size(1) != layout.inDim()) {
            throw new IllegalArgumentException("weight must be [" + layout.outDim() + ", " + layout.inDim() + "], got "
                    + Arrays.toString(weight.shape()));
        }
        if (x.rank() != 2 || x.size(1) != layout.inDim()) {
            throw new IllegalArgumentException("x must be [N, " + layout.inDim() + "], got " + Arrays.toString(x.shape()));
        }
    }

    private static INDArray contiguous(INDArray x, DataType type) {
        INDArray t = x.dataType() == type ? x : x.castTo(type);
        if (t.ordering() == 'c' && !t.isView() && t.elementWiseStride() == 1) {
            return t;
        }
        return t.dup('c');
    }
}
