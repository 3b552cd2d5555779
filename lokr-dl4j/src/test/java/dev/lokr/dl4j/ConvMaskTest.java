package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lokr.LokrAdapter;
import java.util.List;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/**
 * Feature masks through an adapted 1-D convolution: the adapted layer treats them exactly as DL4J's own
 * layer does, so an adapter at its initial {@code dW = 0} computes the base network's activations and a
 * trained one its merged network's, call after call with different masks.
 */
class ConvMaskTest {

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    /** A mask over [2, SEQ] that hides the steps from {@code from} on in the first example. */
    private static INDArray mask(int from) {
        INDArray m = Nd4j.ones(DataType.FLOAT, 2, Fixtures.SEQ);
        for (int t = from; t < Fixtures.SEQ; t++) {
            m.putScalar(0, t, 0.0);
        }
        return m;
    }

    private static void assertSameActivations(MultiLayerNetwork want, MultiLayerNetwork got, INDArray x, INDArray mask,
                                              String what) {
        List<INDArray> a = want.feedForward(x, mask, null);
        List<INDArray> b = got.feedForward(x, mask, null);
        for (int i = 0; i < a.size(); i++) {
            double diff = a.get(i).sub(b.get(i)).amaxNumber().doubleValue();
            assertEquals(0.0, diff, 1e-5, what + ": activations of layer " + i + " differ by " + diff);
        }
        double diff = want.output(x, false, mask, null).sub(got.output(x, false, mask, null)).amaxNumber().doubleValue();
        assertEquals(0.0, diff, 1e-5, what + ": outputs differ by " + diff);
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void maskedActivationsMatchTheBaseAndTheMergedNetwork(DataType type) {
        MultiLayerNetwork base = Fixtures.conv1dMln(type, WorkspaceMode.ENABLED, new Adam(1e-2), 418);
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(), base.clone(),
                Targets.names("conv1d_0"));
        INDArray x = Fixtures.uniform(new long[] {2, Fixtures.CONV_IN, Fixtures.SEQ}, -1, 1, type, 3);
        for (int from : new int[] {2, 5, 1}) {
            assertSameActivations(base, adapted.network(), x, mask(from), type + " dW = 0, mask from step " + from);
        }
        Fixtures.randomizeAdapters(adapted, 19);
        MultiLayerNetwork merged = adapted.merge();
        for (int from : new int[] {3, 1, 6}) {
            assertSameActivations(merged, adapted.network(), x, mask(from), type + " trained, mask from step " + from);
        }
    }
}
