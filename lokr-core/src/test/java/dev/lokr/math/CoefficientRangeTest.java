package dev.lokr.math;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

/** {@link LokrWeights#coefficient}: FLOAT's range holds for negative coefficients, and its largest value is in it. */
class CoefficientRangeTest {

    @Test
    void aNegativeCoefficientBeyondFloatIsRefusedAndFloatMaxIsNot() {
        LokrParams p = LokrParams.zeros(LokrAdapter.builder().rank(1).alpha(4).build().layoutFor(8, 8),
                DataType.FLOAT);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrWeights.coefficient(p, -1e38));
        assertTrue(e.getMessage().startsWith("the coefficient scale * multiplier = 4.0 * -1.0E38 = -4.0E38 is beyond"
                + " FLOAT's range"), e.getMessage());
        assertEquals(-4.0 * 1e38, LokrWeights.coefficient(p.castTo(DataType.DOUBLE), -1e38));
        // scale 1 (alpha = rank): a coefficient of exactly Float.MAX_VALUE is finite in FLOAT
        LokrParams one = LokrParams.zeros(LokrAdapter.builder().rank(1).alpha(1).build().layoutFor(8, 8),
                DataType.FLOAT);
        assertEquals(Float.MAX_VALUE, LokrWeights.coefficient(one, Float.MAX_VALUE));
        assertEquals(-Float.MAX_VALUE, LokrWeights.coefficient(one, -Float.MAX_VALUE));
    }
}
