package dev.lokr.math;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The buffer-level helpers agree with ND4J on contiguous arrays, views at an offset and strided views. */
class HostArraysTest {

    /** A 5x4 matrix of distinct values 0.5, 1.5, ... in 'c' order. */
    private static INDArray matrix(DataType type) {
        double[] v = new double[20];
        for (int i = 0; i < v.length; i++) {
            v[i] = i + 0.5;
        }
        return Nd4j.create(v, new long[] {5, 4}, DataType.DOUBLE).castTo(type);
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE", "HALF"})
    void toDoublesReadsContiguousOffsetAndStridedArrays(DataType type) {
        INDArray m = matrix(type);
        INDArray row = m.get(NDArrayIndex.point(3), NDArrayIndex.all());       // offset view, contiguous
        INDArray column = m.get(NDArrayIndex.all(), NDArrayIndex.point(2));    // strided view
        assertArrayEquals(m.castTo(DataType.DOUBLE).data().asDouble(), HostArrays.toDoubles(m), 0.0, type.toString());
        assertArrayEquals(new double[] {12.5, 13.5, 14.5, 15.5}, HostArrays.toDoubles(row), 0.0, type + " row");
        assertArrayEquals(new double[] {2.5, 6.5, 10.5, 14.5, 18.5}, HostArrays.toDoubles(column), 0.0, type + " column");
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE", "HALF"})
    void fromDoublesBuildsTheArrayInCOrder(DataType type) {
        double[] values = {1.25, -2.5, 3.0, 0.125, 7.0, -0.5};
        INDArray x = HostArrays.fromDoubles(values, type, 2, 3);
        assertEquals(type, x.dataType());
        assertArrayEquals(new long[] {2, 3}, x.shape());
        assertEquals(-0.5, x.getDouble(1, 2), 0.0);
        assertEquals(-2.5, x.getDouble(0, 1), 0.0);
        assertArrayEquals(values, x.castTo(DataType.DOUBLE).dup('c').data().asDouble(), 0.0);
    }

    /**
     * {@code mulColumns} multiplies in the array's data type, as ND4J's {@code mulRowVector} does, bit for bit:
     * on a fresh array, on rows at an offset into a larger one, and in place. 37 columns are not a multiple of
     * any SIMD width, so a vectorized loop's remainder runs too.
     */
    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void mulColumnsMultipliesInTheArraysTypeAsNd4jDoes(DataType type) {
        java.util.Random r = new java.util.Random(20261129L);
        int cols = 37;
        double[] v = new double[cols];
        for (int j = 0; j < cols; j++) {
            v[j] = r.nextGaussian() * Math.PI;
        }
        INDArray big = Nd4j.rand(DataType.DOUBLE, 10, cols).subi(0.5).muli(3.7).castTo(type);
        INDArray rows = big.get(NDArrayIndex.interval(2, 9), NDArrayIndex.all());
        INDArray expected = rows.mulRowVector(Nd4j.create(v, new long[] {1, cols}, DataType.DOUBLE).castTo(type));
        INDArray out = Nd4j.create(type, rows.shape());
        HostArrays.mulColumns(rows, v, out);
        assertArrayEquals(HostArrays.toDoubles(expected), HostArrays.toDoubles(out), 0.0, type + " from rows at an offset");
        INDArray copy = rows.dup();
        HostArrays.mulColumns(copy, v, copy);
        assertArrayEquals(HostArrays.toDoubles(expected), HostArrays.toDoubles(copy), 0.0, type + " in place");
        assertArrayEquals(HostArrays.toDoubles(big.get(NDArrayIndex.interval(2, 9), NDArrayIndex.all())),
                HostArrays.toDoubles(rows), 0.0, type + " input unchanged");
    }

    /**
     * Into an array of another data type (FLOAT rows, DOUBLE out) {@code mulColumns} falls back to ND4J: the
     * product as ND4J computes it in the input's type, stored in the output's, not the input's bytes read as
     * the output's type.
     */
    @Test
    void mulColumnsIntoAnArrayOfAnotherTypeFallsBackToNd4j() {
        double[] v = {0.5, -2.0, 3.25, 1.0 / 3};
        INDArray x = matrix(DataType.FLOAT);
        INDArray expected = x.mulRowVector(Nd4j.create(v, new long[] {1, 4}, DataType.DOUBLE).castTo(DataType.FLOAT))
                .castTo(DataType.DOUBLE);
        INDArray out = Nd4j.create(DataType.DOUBLE, 5, 4);
        HostArrays.mulColumns(x, v, out);
        assertArrayEquals(HostArrays.toDoubles(expected), HostArrays.toDoubles(out), 0.0);
    }

    @Test
    void fromDoublesRoundsToFloat() {
        INDArray x = HostArrays.fromDoubles(new double[] {0.1}, DataType.FLOAT, 1);
        assertEquals((float) 0.1, x.getFloat(0), 0.0f);
    }

    @Test
    void fromDoublesRejectsAValueCountThatDoesNotFitTheShape() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HostArrays.fromDoubles(new double[5], DataType.FLOAT, 2, 3));
        assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("6") && e.getMessage().contains("5"),
                e.getMessage());
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE", "HALF"})
    void writeOverwritesContiguousOffsetAndStridedArraysOnly(DataType type) {
        INDArray m = matrix(type);
        INDArray row = m.get(NDArrayIndex.point(3), NDArrayIndex.all());       // offset view, contiguous
        INDArray column = m.get(NDArrayIndex.all(), NDArrayIndex.point(2));    // strided view
        HostArrays.write(new double[] {-1, -2, -3, -4}, row);
        HostArrays.write(new double[] {10, 20, 30, 40, 50}, column);
        double[] expected = HostArrays.toDoubles(matrix(type));
        for (int j = 0; j < 4; j++) {
            expected[3 * 4 + j] = -(j + 1);
        }
        for (int i = 0; i < 5; i++) {
            expected[i * 4 + 2] = 10 * (i + 1);
        }
        assertArrayEquals(expected, HostArrays.toDoubles(m), 0.0, type.toString());
        assertThrows(IllegalArgumentException.class, () -> HostArrays.write(new double[3], row));
    }

    /** A [rows, cols] array of {@code type}: gaussian values times 10^k, k in [-3, 3], so magnitudes vary. */
    private static INDArray varied(java.util.Random r, DataType type, int rows, int cols) {
        double[] v = new double[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = r.nextGaussian() * Math.pow(10, r.nextInt(7) - 3);
        }
        return Nd4j.create(v, new long[] {rows, cols}, DataType.DOUBLE).castTo(type);
    }

    /**
     * The element-wise loops ({@code axpy}, {@code scaledCopy}, {@code addColumns}) compute each value in double
     * from the array's values and round it once to the array's type; the sums ({@code dot}, {@code columnDot})
     * accumulate exact float products, or rounded double ones, in double. Each against double arithmetic on the
     * same values, within what that costs: one rounding of the result ({@code 2^-24} of it for FLOAT,
     * {@code 2^-53} for DOUBLE) plus the double operations ({@code 2^-52} of the operands), and for a sum of
     * {@code n} terms {@code (n + 1) 2^-53} of the sum of their magnitudes. These loops carry the FLOAT dense
     * step's input gradient, magnitude gradient, bias and scaled factor gradients, which the float32-against-
     * float64 property tests check only to 1e-3 of the largest value: a loop 2e-5 off passed the suite.
     */
    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void elementwiseLoopsRoundOnceAndSumsRunInDouble(DataType type) {
        java.util.Random r = new java.util.Random(20261130L);
        double unit = type == DataType.FLOAT ? 0x1p-24 : 0x1p-53;
        int rows = 7;
        int cols = 37;
        double alpha = -1.3 * Math.PI;
        INDArray x = varied(r, type, rows, cols);
        INDArray y = varied(r, type, rows, cols);
        INDArray v = varied(r, type, 1, cols).reshape(cols);
        double[] xs = HostArrays.toDoubles(x);
        double[] ys = HostArrays.toDoubles(y);
        double[] vs = HostArrays.toDoubles(v);

        INDArray axpy = y.dup('c');
        HostArrays.axpy(alpha, x, axpy);
        INDArray scaled = Nd4j.createUninitialized(type, rows, cols);
        HostArrays.scaledCopy(alpha, x, scaled);
        INDArray columns = y.dup('c');
        HostArrays.addColumns(columns, v);
        double[] gotAxpy = HostArrays.toDoubles(axpy);
        double[] gotScaled = HostArrays.toDoubles(scaled);
        double[] gotColumns = HostArrays.toDoubles(columns);
        for (int i = 0; i < xs.length; i++) {
            double want = ys[i] + alpha * xs[i];
            assertEquals(want, gotAxpy[i], unit * Math.abs(want) + 0x1p-52 * (Math.abs(ys[i]) + Math.abs(alpha * xs[i])),
                    type + " axpy [" + i + "]");
            want = alpha * xs[i];
            assertEquals(want, gotScaled[i], unit * Math.abs(want) + 0x1p-52 * Math.abs(want), type + " scaledCopy [" + i + "]");
            want = ys[i] + vs[i % cols];
            assertEquals(want, gotColumns[i], unit * Math.abs(want) + 0x1p-52 * (Math.abs(ys[i]) + Math.abs(vs[i % cols])),
                    type + " addColumns [" + i + "]");
        }

        double dot = 0;
        double dotAbs = 0;
        double[] colDot = new double[cols];
        double[] colAbs = new double[cols];
        for (int i = 0; i < xs.length; i++) {
            dot += xs[i] * ys[i];
            dotAbs += Math.abs(xs[i] * ys[i]);
            colDot[i % cols] += xs[i] * ys[i];
            colAbs[i % cols] += Math.abs(xs[i] * ys[i]);
        }
        assertEquals(dot, HostArrays.dot(x, y), (xs.length + 1) * 0x1p-53 * dotAbs, type + " dot");
        double[] gotCols = HostArrays.columnDot(x, y);
        for (int j = 0; j < cols; j++) {
            assertEquals(colDot[j], gotCols[j], (rows + 1) * 0x1p-53 * colAbs[j], type + " columnDot [" + j + "]");
        }
        // swapLast2 only moves values: [2, 7, 37] as [2, 37, 7]
        INDArray three = varied(r, type, 2 * rows, cols);
        INDArray swapped = HostArrays.swapLast2(three, 2, rows, cols);
        INDArray expected = three.reshape('c', 2, rows, cols).permute(0, 2, 1).dup('c').reshape('c', 2 * cols, rows);
        assertArrayEquals(HostArrays.toDoubles(expected), HostArrays.toDoubles(swapped), 0.0, type + " swapLast2");
    }
}
