package dev.lokr.math;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * The Kronecker product of the two LoKR factors and its adjoint. ND4J has no Kronecker op.
 *
 * <p>{@code kron(w1, w2)[i*b + j, k*d + l, ...] = w1[i, k] * w2[j, l, ...]} with {@code w1 [a, c]}
 * and {@code w2 [b, d, ...]}: trailing (kernel) dims ride on {@code w2}.
 */
public final class Kron {

    private Kron() {
    }

    /**
     * Builds the Kronecker product.
     *
     * @param w1 {@code [a, c]}, not modified
     * @param w2 {@code [b, d, ...]} ({@code [b, d]} or a conv kernel {@code [b, d, kh, kw]}), the data type of
     *           {@code w1}, not modified
     * @return a new 'c'-order {@code [a*b, c*d, ...]} array (trailing dims those of {@code w2}), same data type as
     *         {@code w1}
     * @throws IllegalArgumentException if {@code w1} is not 2-D, {@code w2} has fewer than 2 dims, or their data
     *         types differ
     */
    public static INDArray kron(INDArray w1, INDArray w2) {
        return kron(w1, w2, 1.0);
    }

    /**
     * Builds {@code scale * kron(w1, w2)} in one pass over the output: row {@code i*b + j} is the blocks
     * {@code (w1[i, k] * w2[j, ...]) * scale} for {@code k = 0..c-1}, rounded as LyCORIS's
     * {@code torch.kron(w1, w2) * scale} rounds them (the product first, then the scale, rounded to float for
     * FLOAT factors), so no value overflows where the product times the scale does not.
     *
     * @param w1    {@code [a, c]}, not modified
     * @param w2    {@code [b, d, ...]}, the data type of {@code w1}, not modified
     * @param scale the factor, finite
     * @return a new 'c'-order {@code [a*b, c*d, ...]} array, same data type as {@code w1}
     * @throws IllegalArgumentException as {@link #kron(INDArray, INDArray)}
     */
    public static INDArray kron(INDArray w1, INDArray w2, double scale) {
        checkFactors(w1, w2);
        long a = w1.size(0);
        long c = w1.size(1);
        long b = w2.size(0);
        long row = w2.length() / b;            // d * kernel: one w2 row
        long[] shape = w2.shape().clone();
        shape[0] = a * b;
        shape[1] = c * w2.size(1);
        DataType type = w1.dataType();
        if (!inOneHostBuffer(a * b * c * row, type)) {
            return outerThenArrange(w1, w2, shape).muli(scale);
        }
        INDArray out = Nd4j.createUninitialized(type, shape);
        int cols = (int) (c * row);
        int rowLength = (int) row;
        if (type == DataType.FLOAT) {
            float[] f1 = w1.dup('c').data().asFloat();
            float[] f2 = w2.dup('c').data().asFloat();
            float[] line = new float[cols];
            java.nio.FloatBuffer dst = HostArrays.floats(out);
            float sc = (float) scale;
            for (int i = 0; i < a; i++) {
                for (int j = 0; j < b; j++) {
                    int from = j * rowLength;
                    for (int k = 0; k < c; k++) {
                        float v = f1[(int) (i * c + k)];
                        int at = k * rowLength;
                        if (scale == 1.0) {
                            for (int l = 0; l < rowLength; l++) {
                                line[at + l] = v * f2[from + l];
                            }
                        } else {
                            for (int l = 0; l < rowLength; l++) {
                                line[at + l] = (v * f2[from + l]) * sc;
                            }
                        }
                    }
                    dst.put((int) ((i * b + j) * cols), line);
                }
            }
        } else {
            double[] f1 = w1.dup('c').data().asDouble();
            double[] f2 = w2.dup('c').data().asDouble();
            double[] line = new double[cols];
            java.nio.DoubleBuffer dst = HostArrays.doubles(out);
            for (int i = 0; i < a; i++) {
                for (int j = 0; j < b; j++) {
                    int from = j * rowLength;
                    for (int k = 0; k < c; k++) {
                        double v = f1[(int) (i * c + k)];
                        int at = k * rowLength;
                        for (int l = 0; l < rowLength; l++) {
                            line[at + l] = (v * f2[from + l]) * scale;
                        }
                    }
                    dst.put((int) ((i * b + j) * cols), line);
                }
            }
        }
        HostArrays.written(out);
        return out;
    }

    /**
     * Whether Java can write {@code elements} values of {@code type} through one NIO buffer: FLOAT or DOUBLE,
     * at least one value, and at most {@link Integer#MAX_VALUE} bytes (a buffer's size is an int of bytes).
     */
    static boolean inOneHostBuffer(long elements, DataType type) {
        boolean host = type == DataType.FLOAT || type == DataType.DOUBLE;
        return host && elements > 0 && elements <= Integer.MAX_VALUE / type.width();
    }

    /** ND4J's way, for data types Java does not read and sizes past an int: an outer product, then arranged. */
    private static INDArray outerThenArrange(INDArray w1, INDArray w2, long[] shape) {
        long a = w1.size(0);
        long c = w1.size(1);
        long b = w2.size(0);
        long d = w2.size(1);
        long k = w2.length() / (b * d);
        // outer[(i,k),(j,l,K)] = w1[i,k] * w2[j,l,K]
        INDArray outer = Nd4j.createUninitialized(w1.dataType(), a * c, b * d * k);
        Nd4j.gemm(vectorCol(w1), vectorRow(w2), outer, false, false, 1.0, 0.0);
        return outer.reshape('c', a, c, b, d, k).permute(0, 2, 1, 3, 4).dup('c').reshape('c', shape);
    }

    /**
     * The adjoint of {@link #kron}: for a gradient {@code g} with respect to {@code kron(w1, w2)},
     * {@code dW1[i, k] = sum_{j,l,..} g[i*b+j, k*d+l, ..] * w2[j, l, ..]} and
     * {@code dW2[j, l, ..] = sum_{i,k} g[i*b+j, k*d+l, ..] * w1[i, k]}.
     *
     * @param g  {@code [a*b, c*d(, kh, kw)]}, not modified
     * @param w1 {@code [a, c]}, not modified
     * @param w2 {@code [b, d, ...]}, the data type of {@code w1}, not modified
     * @return new arrays {@code {dW1 [a, c], dW2 (shape of w2)}}
     * @throws IllegalArgumentException if {@code w1} is not 2-D, {@code w2} has fewer than 2 dims, their data types
     *         differ, or {@code g} does not fit them
     */
    public static INDArray[] adjoint(INDArray g, INDArray w1, INDArray w2) {
        checkFactors(w1, w2);
        long a = w1.size(0);
        long c = w1.size(1);
        long b = w2.size(0);
        long d = w2.size(1);
        long k = w2.length() / (b * d);
        if (g.size(0) != a * b || g.size(1) != c * d || g.length() != a * b * c * d * k) {
            throw new IllegalArgumentException("gradient must be [" + a * b + ", " + c * d + (k > 1 ? ", ..kernel" : "")
                    + "] for w1 " + Arrays.toString(w1.shape()) + " and w2 " + Arrays.toString(w2.shape())
                    + ", got " + Arrays.toString(g.shape()));
        }
        // reshape copies g only when it cannot be a view
        INDArray m = g.reshape('c', a, b, c, d, k).permute(0, 2, 1, 3, 4).dup('c').reshape('c', a * c, b * d * k);
        INDArray dW1 = Nd4j.createUninitialized(g.dataType(), a * c, 1);
        Nd4j.gemm(m, vectorRow(w2), dW1, false, true, 1.0, 0.0);
        INDArray dW2 = Nd4j.createUninitialized(g.dataType(), 1, b * d * k);
        Nd4j.gemm(vectorCol(w1), m, dW2, true, false, 1.0, 0.0);
        return new INDArray[] {dW1.reshape('c', a, c), dW2.reshape('c', w2.shape())};
    }

    private static void checkFactors(INDArray w1, INDArray w2) {
        if (w1.rank() != 2) {
            throw new IllegalArgumentException("w1 must be 2-D [a, c], got " + Arrays.toString(w1.shape()));
        }
        if (w2.rank() < 2) {
            throw new IllegalArgumentException("w2 must be [b, d, ...] (at least 2-D), got "
                    + Arrays.toString(w2.shape()));
        }
        if (w1.dataType() != w2.dataType()) {
            throw new IllegalArgumentException("w1 and w2 must have one data type, got " + w1.dataType() + " and "
                    + w2.dataType());
        }
    }

    private static INDArray vectorCol(INDArray x) {
        return x.dup('c').reshape('c', x.length(), 1);
    }

    private static INDArray vectorRow(INDArray x) {
        return x.dup('c').reshape('c', 1, x.length());
    }
}
