package dev.lokr.dl4j;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Array assertions with messages. */
final class Checks {

    private Checks() {
    }

    /** Same shape and the same bits in every element. */
    static void assertBitIdentical(INDArray expected, INDArray actual, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        assertTrue(expected.dataType() == actual.dataType(), what + ": data type " + expected.dataType() + " vs " + actual.dataType());
        if (expected.dataType() == DataType.DOUBLE) {
            assertTrue(Arrays.equals(expected.dup('c').data().asDouble(), actual.dup('c').data().asDouble()),
                    what + ": values differ");
        } else {
            assertTrue(Arrays.equals(expected.dup('c').data().asFloat(), actual.dup('c').data().asFloat()),
                    what + ": values differ");
        }
    }

    /** Same shape and |e - a| <= tol * (1 + |e|) element-wise. */
    static void assertClose(INDArray expected, INDArray actual, double tol, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        double[] e = expected.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double[] a = actual.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        for (int i = 0; i < e.length; i++) {
            if (!(Math.abs(e[i] - a[i]) <= tol * (1 + Math.abs(e[i])))) {
                fail(what + ": element " + i + " expected " + e[i] + " got " + a[i] + " (tol " + tol + ")");
            }
        }
    }

    /** Largest |e - a| over all elements. */
    static double maxAbsDiff(INDArray expected, INDArray actual) {
        double[] e = expected.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double[] a = actual.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double m = 0;
        for (int i = 0; i < e.length; i++) {
            m = Math.max(m, Math.abs(e[i] - a[i]));
        }
        return m;
    }
}
