package dev.lokr.math;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link Kron#kron(INDArray, INDArray, double)}: the scaled product in one pass equals the product scaled
 * afterwards (as LyCORIS's {@code torch.kron(w1, w2) * scale}) bit for bit, for FLOAT and DOUBLE, views and
 * conv kernels, and never overflows where that does not.
 */
class KronTest {

    record Case(long seed, DataType type, int a, int c, int b, int d, int kernel, double scale, boolean views) {
    }

    static Stream<Case> cases() {
        Random r = new Random(20261129);
        return Stream.generate(() -> new Case(r.nextLong(), r.nextBoolean() ? DataType.FLOAT : DataType.DOUBLE,
                1 + r.nextInt(5), 1 + r.nextInt(5), 1 + r.nextInt(6), 1 + r.nextInt(6), r.nextInt(3),
                r.nextBoolean() ? 1.0 : r.nextGaussian() * 3, r.nextBoolean())).limit(200);
    }

    @ParameterizedTest
    @MethodSource("cases")
    void theScaledProductIsTheProductScaled(Case c) {
        Random r = new Random(c.seed());
        INDArray w1 = LokrCases.random(r, c.type(), c.a(), c.c());
        long[] w2Shape = c.kernel() == 0 ? new long[] {c.b(), c.d()}
                : c.kernel() == 1 ? new long[] {c.b(), c.d(), 3} : new long[] {c.b(), c.d(), 3, 2};
        INDArray w2 = LokrCases.random(r, c.type(), w2Shape);
        if (c.views()) {
            w1 = w1.dup('f');                                        // 'f' order
            w2 = w2.dup('f');
        }
        INDArray scaled = Kron.kron(w1, w2, c.scale());
        INDArray reference = Kron.kron(w1, w2).muli(c.scale());
        assertArrayEquals(reference.shape(), scaled.shape(), c.toString());
        assertEquals(c.type(), scaled.dataType(), c.toString());
        // bit for bit: INDArray.equals allows a relative difference of about 1e-5 (some 170 float ulps), which
        // passed a kernel that rounded w1 * (w2 * scale) instead of (w1 * w2) * scale
        assertArrayEquals(reference.dup('c').data().asDouble(), scaled.dup('c').data().asDouble(), c.toString());
        assertEquals('c', scaled.ordering(), c.toString());
    }

    /** The product first, then the scale: a large scale and a small product stay finite, and zeros stay zero. */
    @Test
    void aLargeScaleOverflowsNothingTheScaledProductDoesNot() {
        INDArray w1 = LokrCases.random(new Random(1), DataType.FLOAT, 1, 1).assign(1e3);
        INDArray w2 = LokrCases.random(new Random(2), DataType.FLOAT, 1, 2);
        w2.putScalar(0, 0.0);
        w2.putScalar(1, 1e-5);
        INDArray k = Kron.kron(w1, w2, 1e36);
        assertEquals(0.0f, k.getFloat(0));
        assertEquals(1e34f, k.getFloat(1), 1e28f);
    }

    @Test
    void oneHostBufferHoldsAtMostAnIntOfBytes() {
        assertTrue(Kron.inOneHostBuffer(Integer.MAX_VALUE / 4, DataType.FLOAT));
        assertFalse(Kron.inOneHostBuffer(Integer.MAX_VALUE / 4 + 1, DataType.FLOAT));
        assertTrue(Kron.inOneHostBuffer(Integer.MAX_VALUE / 8, DataType.DOUBLE));
        assertFalse(Kron.inOneHostBuffer(Integer.MAX_VALUE / 8 + 1, DataType.DOUBLE));
        assertFalse(Kron.inOneHostBuffer(0, DataType.FLOAT));
        assertFalse(Kron.inOneHostBuffer(4, DataType.HALF));
    }

    /** ND4J's path, for types Java does not write (and outputs past an int of bytes), applies the scale too. */
    @Test
    void theFallbackAppliesTheScale() {
        INDArray w1 = org.nd4j.linalg.factory.Nd4j.createFromArray(new float[][] {{1, 2}, {3, 4}})
                .castTo(DataType.BFLOAT16);
        INDArray w2 = org.nd4j.linalg.factory.Nd4j.createFromArray(new float[][] {{1, -1}, {0.5f, 2}})
                .castTo(DataType.BFLOAT16);
        INDArray k = Kron.kron(w1, w2, 0.5);
        assertEquals(DataType.BFLOAT16, k.dataType());
        assertEquals(Kron.kron(w1, w2).castTo(DataType.DOUBLE).mul(0.5), k.castTo(DataType.DOUBLE));
        assertEquals(4.0, k.castTo(DataType.DOUBLE).getDouble(3, 3), 1e-3);   // w1[1, 1] * w2[1, 1] * 0.5
    }
}
