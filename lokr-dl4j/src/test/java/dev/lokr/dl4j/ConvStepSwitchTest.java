package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A conv layer keeps the adapter's on/off switch of its forward for the backward of that step, as it keeps the
 * multiplier: switching {@code enabled} in between applies from the next step.
 */
class ConvStepSwitchTest {

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    private static INDArray[] convStep(INDArray x, boolean forward, boolean backward) {
        return LayerEdgeCasesTest.convStep(x, a -> a.setEnabled(forward), a -> a.setEnabled(backward));
    }

    @Test
    void aConvStepUsesTheSwitchOfItsForward() {
        INDArray x = Fixtures.convInput(2, DataType.DOUBLE, 21);
        INDArray[] on = convStep(x, true, true);
        INDArray[] off = convStep(x, false, false);
        INDArray[] switchedOff = convStep(x, true, false);
        INDArray[] switchedOn = convStep(x, false, true);
        for (int k = 0; k < 2; k++) {
            String what = k == 0 ? "parameter gradients" : "input gradient";
            assertEquals(on[k], switchedOff[k], what + ": switched off after the forward");
            assertEquals(off[k], switchedOn[k], what + ": switched on after the forward");
        }
        assertTrue(Checks.maxAbsDiff(on[0], off[0]) > 1e-6, "the switch must matter");
    }
}
