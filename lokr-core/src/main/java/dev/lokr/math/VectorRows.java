package dev.lokr.math;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The output-axis DoRA row kernel of {@link DoraNorms} for FLOAT weights, on SIMD lanes through the JDK's
 * incubating Vector API ({@code jdk.incubator.vector}). Library code reaches it only when
 * {@link SimdSupport#ENABLED}, which needs that module in the boot layer
 * ({@code --add-modules jdk.incubator.vector}); otherwise {@link DoraNorms} keeps its scalar loops.
 *
 * <p>Same results as {@link DoraNorms#outputRow(double[], int, int, double[], int, double[], int, double[],
 * int, double[], int, double)} on the row's values to float precision. The products and sums run in float lanes: each
 * {@code A[k]} sums {@code d} products, each {@code V[l]} sums {@code c}; the squared norm of the adapted row
 * {@code W_i + dW_i} is summed in float over groups of at most four blocks ({@code 4 d} values) and the groups in
 * double, so its error grows with {@code d}, not with the row length {@code c d}, and is relative to that norm
 * itself: each value {@code W + e_k w2[l]} is formed by one fused multiply-add, never by expanding the square.
 */
final class VectorRows {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private VectorRows() {
    }

    /** @return the number of float lanes of the preferred species on this machine */
    static int lanes() {
        return F.length();
    }

    /**
     * One row {@code r} ({@code c} blocks of {@code d}) of a FLOAT weight, read in place: writes
     * {@code A[k] = sum_l r[k,l] w2[w2o + l]} to {@code a[ao + k]} and {@code V[l] = sum_k w1[w1o + k] r[k,l]}
     * to {@code v[vo + l]} (both overwritten) and returns {@code sum_{k,l} (r[k,l] + e_k w2[w2o + l])^2}, the
     * squared norm of the adapted row, with {@code e_k = rowScale * w1[w1o + k]} rounded to float. Reading the lanes straight from the
     * weight's buffer, rather than copying each row to the heap first, took the pass at 4096x4096 from about
     * 11 to about 7 ms on one core: it is then bound by reading {@code W}.
     *
     * @param bytes the weight's buffer in native byte order
     * @param from  the byte offset of the row's first value in {@code bytes}; the row's {@code c * d} floats
     *              follow contiguously
     * @param vs    float scratch of at least {@code d}
     * @param rowScale the coefficient of {@code kron(w1, w2)} in this row of {@code dW} ({@code s} times the row's
     *                 rank-dropout mask)
     */
    static double outputRow(ByteBuffer bytes, int from, int c, int d, float[] w1, int w1o, float[] w2, int w2o,
                            double[] a, int ao, double[] v, int vo, float[] vs, double rowScale) {
        int lanes = F.length();
        int dv = d - d % lanes;
        java.util.Arrays.fill(vs, 0, d, 0f);
        double total = 0;
        int k = 0;
        for (; k + 3 < c; k += 4) {
            int o0 = k * d;
            int o1 = o0 + d;
            int o2 = o1 + d;
            int o3 = o2 + d;
            float c0 = w1[w1o + k];
            float c1 = w1[w1o + k + 1];
            float c2 = w1[w1o + k + 2];
            float c3 = w1[w1o + k + 3];
            FloatVector b0 = FloatVector.broadcast(F, c0);
            FloatVector b1 = FloatVector.broadcast(F, c1);
            FloatVector b2 = FloatVector.broadcast(F, c2);
            FloatVector b3 = FloatVector.broadcast(F, c3);
            float e0 = (float) (rowScale * c0);
            float e1 = (float) (rowScale * c1);
            float e2 = (float) (rowScale * c2);
            float e3 = (float) (rowScale * c3);
            FloatVector d0 = FloatVector.broadcast(F, e0);
            FloatVector d1 = FloatVector.broadcast(F, e1);
            FloatVector d2 = FloatVector.broadcast(F, e2);
            FloatVector d3 = FloatVector.broadcast(F, e3);
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            FloatVector a3 = a0;
            FloatVector q0 = a0;
            FloatVector q1 = a0;
            for (int l = 0; l < dv; l += lanes) {
                FloatVector m0 = FloatVector.fromByteBuffer(F, bytes, from + 4 * (o0 + l), NATIVE);
                FloatVector m1 = FloatVector.fromByteBuffer(F, bytes, from + 4 * (o1 + l), NATIVE);
                FloatVector m2 = FloatVector.fromByteBuffer(F, bytes, from + 4 * (o2 + l), NATIVE);
                FloatVector m3 = FloatVector.fromByteBuffer(F, bytes, from + 4 * (o3 + l), NATIVE);
                FloatVector z = FloatVector.fromArray(F, w2, w2o + l);
                a0 = m0.fma(z, a0);
                a1 = m1.fma(z, a1);
                a2 = m2.fma(z, a2);
                a3 = m3.fma(z, a3);
                FloatVector t0 = d0.fma(z, m0);   // W + dW, rounded once
                FloatVector t1 = d1.fma(z, m1);
                FloatVector t2 = d2.fma(z, m2);
                FloatVector t3 = d3.fma(z, m3);
                q0 = t0.fma(t0, q0);
                q1 = t1.fma(t1, q1);
                q0 = t2.fma(t2, q0);
                q1 = t3.fma(t3, q1);
                FloatVector acc = FloatVector.fromArray(F, vs, l);
                acc = m0.fma(b0, acc);
                acc = m1.fma(b1, acc);
                acc = m2.fma(b2, acc);
                acc = m3.fma(b3, acc);
                acc.intoArray(vs, l);
            }
            float s0 = a0.reduceLanes(VectorOperators.ADD);
            float s1 = a1.reduceLanes(VectorOperators.ADD);
            float s2 = a2.reduceLanes(VectorOperators.ADD);
            float s3 = a3.reduceLanes(VectorOperators.ADD);
            float sq = q0.add(q1).reduceLanes(VectorOperators.ADD);
            for (int l = dv; l < d; l++) {
                float m0 = bytes.getFloat(from + 4 * (o0 + l));
                float m1 = bytes.getFloat(from + 4 * (o1 + l));
                float m2 = bytes.getFloat(from + 4 * (o2 + l));
                float m3 = bytes.getFloat(from + 4 * (o3 + l));
                float z = w2[w2o + l];
                s0 += m0 * z;
                s1 += m1 * z;
                s2 += m2 * z;
                s3 += m3 * z;
                float t0 = Math.fma(e0, z, m0);
                float t1 = Math.fma(e1, z, m1);
                float t2 = Math.fma(e2, z, m2);
                float t3 = Math.fma(e3, z, m3);
                sq += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3);
                vs[l] += (c0 * m0 + c1 * m1) + (c2 * m2 + c3 * m3);
            }
            a[ao + k] = s0;
            a[ao + k + 1] = s1;
            a[ao + k + 2] = s2;
            a[ao + k + 3] = s3;
            total += sq;
        }
        for (; k < c; k++) {
            int o = k * d;
            float ck = w1[w1o + k];
            FloatVector bk = FloatVector.broadcast(F, ck);
            float ek = (float) (rowScale * ck);
            FloatVector dk = FloatVector.broadcast(F, ek);
            FloatVector ak = FloatVector.zero(F);
            FloatVector qk = ak;
            for (int l = 0; l < dv; l += lanes) {
                FloatVector m = FloatVector.fromByteBuffer(F, bytes, from + 4 * (o + l), NATIVE);
                FloatVector z = FloatVector.fromArray(F, w2, w2o + l);
                ak = m.fma(z, ak);
                FloatVector t = dk.fma(z, m);
                qk = t.fma(t, qk);
                m.fma(bk, FloatVector.fromArray(F, vs, l)).intoArray(vs, l);
            }
            float sk = ak.reduceLanes(VectorOperators.ADD);
            float sq = qk.reduceLanes(VectorOperators.ADD);
            for (int l = dv; l < d; l++) {
                float m = bytes.getFloat(from + 4 * (o + l));
                float z = w2[w2o + l];
                sk += m * z;
                float t = Math.fma(ek, z, m);
                sq += t * t;
                vs[l] += ck * m;
            }
            a[ao + k] = sk;
            total += sq;
        }
        for (int l = 0; l < d; l++) {
            v[vo + l] = vs[l];
        }
        return total;
    }
}
