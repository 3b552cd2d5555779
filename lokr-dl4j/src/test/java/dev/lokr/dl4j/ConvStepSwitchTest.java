package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Sgd;

/**
 * A conv layer keeps the adapter's on/off switch of its forward for the backward of that step, as it keeps the
 * multiplier: switching {@code enabled} in between applies from the next step.
 */
class ConvStepSwitchTest {

    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    /** {gradient view, input gradient} of one conv training step, {@code enabled} set before and after the forward. */
    private static INDArray[] convStep(INDArray x, boolean forward, boolean backward) {
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(),
                Fixtures.convMln(DataType.DOUBLE, WorkspaceMode.NONE, new Sgd(0.1), 22), Targets.names("conv_0"));
        Fixtures.randomizeAdapters(a, 23);
        a.network().initGradientsView();
        a.setEnabled(forward);
        Layer l = a.network().getLayer(0);
        l.setInput(x, NO_WS);
        INDArray y = l.activate(true, NO_WS);
        INDArray eps = Fixtures.uniform(y.shape(), -1, 1, DataType.DOUBLE, 24);
        a.setEnabled(backward);
        Pair<Gradient, INDArray> p = l.backpropGradient(eps, NO_WS);
        return new INDArray[] {l.getGradientsViewArray().dup(), p.getSecond().dup()};
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
