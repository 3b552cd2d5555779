package dev.lokr.math;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Rank and module dropout (spec: "Dropouts"): a row is kept when its uniform draw is at least {@code p}, the kept
 * mask is divided by its mean with {@code rankDropoutScale}, and module dropout skips when the draw is below
 * {@code p}.
 */
class LokrDropoutTest {

    private static DoubleSupplier draws(double... values) {
        int[] at = {0};
        return () -> values[at[0]++];
    }

    @Test
    void rowsAreKeptWhenTheirDrawIsAtLeastPAndRescaledByTheKeptMean() {
        double[] u = {0.9, 0.1, 0.5, 0.1, 0.9, 0.9, 0.1, 0.49999};
        assertArrayEquals(new double[] {1, 0, 1, 0, 1, 1, 0, 0},
                LokrDropout.rankMask(8, 0.5, false, DataType.DOUBLE, draws(u)).toDoubleVector(), 0.0);
        // 4 of 8 kept: mean 0.5
        assertArrayEquals(new double[] {2, 0, 2, 0, 2, 2, 0, 0},
                LokrDropout.rankMask(8, 0.5, true, DataType.DOUBLE, draws(u)).toDoubleVector(), 0.0);
        // 3 of 4 kept: mean 0.75
        assertArrayEquals(new double[] {4.0 / 3, 0, 4.0 / 3, 4.0 / 3},
                LokrDropout.rankMask(4, 0.25, true, DataType.DOUBLE, draws(0.3, 0.2, 0.25, 0.99)).toDoubleVector(),
                1e-15);
    }

    @Test
    void nothingKeptStaysZeroWithRescaling() {
        assertArrayEquals(new double[] {0, 0, 0},
                LokrDropout.rankMask(3, 0.5, true, DataType.DOUBLE, () -> 0.0).toDoubleVector(), 0.0);
    }

    @Test
    void theRescaledMaskKeepsTheExpectedStrength() {
        Random r = new Random(7);
        double sum = 0;
        int n = 0;
        for (int i = 0; i < 200; i++) {
            for (double v : LokrDropout.rankMask(64, 0.3, true, DataType.DOUBLE, r).toDoubleVector()) {
                sum += v;
                n++;
            }
        }
        assertEquals(1.0, sum / n, 1e-12, "every mask has mean exactly 1 once rescaled (some row is always kept)");
    }

    @Test
    void moduleDropoutSkipsWhenTheDrawIsBelowP() {
        assertTrue(LokrDropout.skipModule(0.25, draws(Math.nextDown(0.25))));
        assertFalse(LokrDropout.skipModule(0.25, draws(0.25)));
        assertFalse(LokrDropout.skipModule(0.0, () -> {
            throw new AssertionError("p = 0 draws nothing");
        }));
    }

    @ParameterizedTest
    @ValueSource(doubles = {-0.1, 1.0, 1.5, Double.NaN})
    void aBadRankDropoutIsRefused(double p) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrDropout.rankMask(4, p, false, DataType.DOUBLE, () -> 0.5));
        assertTrue(e.getMessage().contains("[0, 1), got " + p), e.getMessage());
    }
}
