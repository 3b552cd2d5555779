package dev.lokr.math;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * Plain-Java loops over the host memory of small and medium arrays on the dense hot path.
 *
 * <p>On two cores, ND4J's element-wise ops contend with OpenBLAS's threads: a permute-and-copy of
 * a few megabytes cost milliseconds inside a training step against a fraction of that alone (see
 * PERF-NOTES). These loops read and write the arrays' buffers directly instead. Arrays that are
 * not 'c'-contiguous FLOAT or DOUBLE fall back to ND4J ops with the same result. On a device
 * backend the data is brought to the host first and the written array is tagged as host-current.
 */
final class HostArrays {

    private HostArrays() {
    }

    /** Whether {@code x} is a 'c'-contiguous FLOAT or DOUBLE array whose buffer Java can read. */
    static boolean direct(INDArray x) {
        DataType t = x.dataType();
        if (t != DataType.FLOAT && t != DataType.DOUBLE) {
            return false;
        }
        if (x.length() == 0) {
            return false;
        }
        long expected = 1;
        for (int d = x.rank() - 1; d >= 0; d--) {
            if (x.size(d) != 1 && x.stride(d) != expected) {
                return false;
            }
            expected *= x.size(d);
        }
        return true;
    }

    /** {@link #bytes} of a FLOAT array as floats: element {@code i} of the buffer is the array's {@code i}-th value. */
    static FloatBuffer floats(INDArray x) {
        return bytes(x).asFloatBuffer();
    }

    /**
     * The host bytes of {@code x}'s buffer in native order, starting at its first element ({@code x.offset()}),
     * for reads that go through SIMD lanes without a copy.
     */
    static ByteBuffer bytes(INDArray x) {
        Nd4j.getAffinityManager().ensureLocation(x, AffinityManager.Location.HOST);
        ByteBuffer b = x.data().asNio().duplicate();
        b.position(Math.toIntExact(x.offset() * x.dataType().width()));
        return b.slice().order(ByteOrder.nativeOrder());
    }

    /** {@link #bytes} of a DOUBLE array as doubles. */
    static DoubleBuffer doubles(INDArray x) {
        return bytes(x).asDoubleBuffer();
    }

    static void written(INDArray x) {
        Nd4j.getAffinityManager().tagLocation(x, AffinityManager.Location.HOST);
    }

    /**
     * Swaps the last two axes: {@code src} viewed as {@code [n, rows, cols]} becomes a new 'c'-order
     * {@code [n, cols, rows]} array (returned with shape {@code [n * cols, rows]}).
     *
     * @param src  'c'-order data of {@code n * rows * cols} values, not modified
     * @param n    batch
     * @param rows rows of each slice
     * @param cols columns of each slice
     * @return a new array {@code [n * cols, rows]}
     */
    static INDArray swapLast2(INDArray src, long n, long rows, long cols) {
        if (!direct(src) || src.length() != n * rows * cols || src.length() > Integer.MAX_VALUE) {
            return src.reshape('c', n, rows, cols).permute(0, 2, 1).dup('c').reshape('c', n * cols, rows);
        }
        INDArray dst = Nd4j.createUninitialized(src.dataType(), n * cols, rows);
        int r = (int) rows;
        int c = (int) cols;
        int slice = r * c;
        if (src.dataType() == DataType.FLOAT) {
            FloatBuffer s = floats(src);
            FloatBuffer d = floats(dst);
            for (int b = 0; b < n; b++) {
                int base = b * slice;
                for (int i = 0; i < r; i++) {
                    int from = base + i * c;
                    for (int j = 0; j < c; j++) {
                        d.put(base + j * r + i, s.get(from + j));
                    }
                }
            }
        } else {
            DoubleBuffer s = doubles(src);
            DoubleBuffer d = doubles(dst);
            for (int b = 0; b < n; b++) {
                int base = b * slice;
                for (int i = 0; i < r; i++) {
                    int from = base + i * c;
                    for (int j = 0; j < c; j++) {
                        d.put(base + j * r + i, s.get(from + j));
                    }
                }
            }
        }
        written(dst);
        return dst;
    }

    /**
     * {@code out[i, j] = x[i, j] * v[j]} for {@code x [rows, cols]}; in place when {@code out == x}. In the
     * array's data type: a FLOAT array is multiplied by {@code v} rounded to float, as ND4J's
     * {@code mulRowVector} on a FLOAT array does. The FLOAT loop runs over a heap copy of each row, which the
     * JIT vectorizes: 0.2 ms for {@code [256, 4096]} on one core, against 0.9 ms element by element through
     * the buffer in double.
     *
     * @param x   'c'-order {@code [rows, cols]}, not modified unless it is {@code out}
     * @param v   {@code [cols]} values
     * @param out receives the product, same shape as {@code x}
     */
    static void mulColumns(INDArray x, double[] v, INDArray out) {
        long rows = x.size(0);
        int cols = (int) x.size(1);
        if (!direct(x) || !direct(out) || x.dataType() != out.dataType()) {
            INDArray vec = Nd4j.create(v, new long[] {1, cols}, DataType.DOUBLE).castTo(x.dataType());
            out.assign(x.mulRowVector(vec));
            return;
        }
        if (x.dataType() == DataType.FLOAT) {
            FloatBuffer s = floats(x);
            FloatBuffer d = floats(out);
            float[] vf = new float[cols];
            for (int j = 0; j < cols; j++) {
                vf[j] = (float) v[j];
            }
            float[] row = new float[cols];
            for (int i = 0; i < rows; i++) {
                int base = i * cols;
                s.get(base, row);
                for (int j = 0; j < cols; j++) {
                    row[j] *= vf[j];
                }
                d.put(base, row);
            }
        } else {
            DoubleBuffer s = doubles(x);
            DoubleBuffer d = doubles(out);
            for (int i = 0; i < rows; i++) {
                int base = i * cols;
                for (int j = 0; j < cols; j++) {
                    d.put(base + j, s.get(base + j) * v[j]);
                }
            }
        }
        written(out);
    }

    /**
     * Column sums of the element-wise product: {@code s[j] = sum_i a[i, j] * b[i, j]}.
     *
     * @param a 'c'-order {@code [rows, cols]}, not modified
     * @param b same shape, not modified
     * @return the {@code cols} sums
     */
    static double[] columnDot(INDArray a, INDArray b) {
        long rows = a.size(0);
        int cols = (int) a.size(1);
        if (!direct(a) || !direct(b) || a.dataType() != b.dataType()) {
            return a.mul(b).sum(0).castTo(DataType.DOUBLE).dup('c').data().asDouble();
        }
        double[] s = new double[cols];
        if (a.dataType() == DataType.FLOAT) {
            FloatBuffer x = floats(a);
            FloatBuffer y = floats(b);
            for (int i = 0; i < rows; i++) {
                int base = i * cols;
                for (int j = 0; j < cols; j++) {
                    s[j] += (double) x.get(base + j) * y.get(base + j);
                }
            }
        } else {
            DoubleBuffer x = doubles(a);
            DoubleBuffer y = doubles(b);
            for (int i = 0; i < rows; i++) {
                int base = i * cols;
                for (int j = 0; j < cols; j++) {
                    s[j] += x.get(base + j) * y.get(base + j);
                }
            }
        }
        return s;
    }

    /** {@code sum(a * b)} over all elements of two arrays of the same length. */
    static double dot(INDArray a, INDArray b) {
        if (!direct(a) || !direct(b) || a.dataType() != b.dataType()) {
            return a.mul(b.reshape(a.shape())).sumNumber().doubleValue();
        }
        int n = (int) a.length();
        double s = 0;
        if (a.dataType() == DataType.FLOAT) {
            FloatBuffer x = floats(a);
            FloatBuffer y = floats(b);
            for (int i = 0; i < n; i++) {
                s += (double) x.get(i) * y.get(i);
            }
        } else {
            DoubleBuffer x = doubles(a);
            DoubleBuffer y = doubles(b);
            for (int i = 0; i < n; i++) {
                s += x.get(i) * y.get(i);
            }
        }
        return s;
    }

    /** The values of a small array as doubles, 'c' order. */
    static double[] toDoubles(INDArray x) {
        if (!direct(x)) {
            return x.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        }
        double[] out = new double[(int) x.length()];
        if (x.dataType() == DataType.FLOAT) {
            FloatBuffer f = floats(x);
            for (int i = 0; i < out.length; i++) {
                out[i] = f.get(i);
            }
        } else {
            doubles(x).get(0, out);
        }
        return out;
    }

    /**
     * A new 'c'-order array of {@code type} and {@code shape} holding {@code values} (rounded to float for
     * FLOAT), written through its buffer.
     *
     * @param values 'c'-order values, as many as the shape holds; not modified
     * @param type   the element type
     * @param shape  the shape
     * @return a new array
     */
    static INDArray fromDoubles(double[] values, DataType type, long... shape) {
        if (type != DataType.FLOAT && type != DataType.DOUBLE) {
            return Nd4j.create(values, shape, DataType.DOUBLE).castTo(type);
        }
        INDArray out = Nd4j.createUninitialized(type, shape);
        write(values, out);
        return out;
    }

    /**
     * Overwrites {@code out} with {@code values} in 'c' order (rounded to float for FLOAT), through its buffer
     * when it is direct.
     *
     * @param values as many values as {@code out} holds, not modified
     * @param out    the array to overwrite
     */
    static void write(double[] values, INDArray out) {
        if (out.length() != values.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(out.shape()) + " holds " + out.length()
                    + " values, got " + values.length);
        }
        if (!direct(out)) {
            out.assign(Nd4j.create(values, out.shape(), DataType.DOUBLE).castTo(out.dataType()));
            return;
        }
        if (out.dataType() == DataType.FLOAT) {
            FloatBuffer f = floats(out);
            for (int i = 0; i < values.length; i++) {
                f.put(i, (float) values[i]);
            }
        } else {
            doubles(out).put(0, values);
        }
        written(out);
    }

    /**
     * @param x any array
     * @return {@code x} itself when it is a direct ('c'-contiguous FLOAT or DOUBLE) array, else a 'c'-order copy
     */
    static INDArray cOrder(INDArray x) {
        return direct(x) ? x : x.dup('c');
    }

    /**
     * {@code y += alpha * x} over two arrays of the same length.
     *
     * @param alpha the factor
     * @param x     not modified
     * @param y     modified
     */
    static void axpy(double alpha, INDArray x, INDArray y) {
        if (!direct(x) || !direct(y) || x.dataType() != y.dataType() || x.length() != y.length()) {
            y.addi(x.reshape(y.shape()).mul(alpha));
            return;
        }
        int n = (int) x.length();
        if (x.dataType() == DataType.FLOAT) {
            FloatBuffer a = floats(x);
            FloatBuffer b = floats(y);
            for (int i = 0; i < n; i++) {
                b.put(i, (float) (b.get(i) + alpha * a.get(i)));
            }
        } else {
            DoubleBuffer a = doubles(x);
            DoubleBuffer b = doubles(y);
            for (int i = 0; i < n; i++) {
                b.put(i, b.get(i) + alpha * a.get(i));
            }
        }
        written(y);
    }

    /**
     * {@code y = alpha * x} (overwrites {@code y}) over two arrays of the same length.
     *
     * @param alpha the factor
     * @param x     not modified
     * @param y     overwritten
     */
    static void scaledCopy(double alpha, INDArray x, INDArray y) {
        if (!direct(x) || !direct(y) || x.dataType() != y.dataType() || x.length() != y.length()) {
            y.assign(x.reshape(y.shape()).mul(alpha));
            return;
        }
        int n = (int) x.length();
        if (x.dataType() == DataType.FLOAT) {
            FloatBuffer a = floats(x);
            FloatBuffer b = floats(y);
            for (int i = 0; i < n; i++) {
                b.put(i, (float) (alpha * a.get(i)));
            }
        } else {
            DoubleBuffer a = doubles(x);
            DoubleBuffer b = doubles(y);
            for (int i = 0; i < n; i++) {
                b.put(i, alpha * a.get(i));
            }
        }
        written(y);
    }

    /**
     * {@code y[i, j] += v[j]} for {@code y [rows, cols]}.
     *
     * @param y modified
     * @param v {@code [cols]} values, not modified
     */
    static void addColumns(INDArray y, INDArray v) {
        int cols = (int) y.size(1);
        if (!direct(y) || !direct(v) || v.length() != cols) {
            y.addiRowVector(v.castTo(y.dataType()).reshape(1, cols));
            return;
        }
        double[] vals = toDoubles(v);
        long rows = y.size(0);
        if (y.dataType() == DataType.FLOAT) {
            FloatBuffer b = floats(y);
            for (int i = 0; i < rows; i++) {
                int base = i * cols;
                for (int j = 0; j < cols; j++) {
                    b.put(base + j, (float) (b.get(base + j) + vals[j]));
                }
            }
        } else {
            DoubleBuffer b = doubles(y);
            for (int i = 0; i < rows; i++) {
                int base = i * cols;
                for (int j = 0; j < cols; j++) {
                    b.put(base + j, b.get(base + j) + vals[j]);
                }
            }
        }
        written(y);
    }
}
