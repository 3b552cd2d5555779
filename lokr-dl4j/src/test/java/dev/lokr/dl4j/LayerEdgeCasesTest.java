package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Behaviour at the edges of DL4J's layer contract: inference right after a training pass on the same input, masks
 * in the dense backward pass, explicit bias updaters under {@code freezeOthers}, full-match exclusions, and
 * regularization in per-example scores. Each case compares against plain DL4J (the merged network) or an
 * equivalent formulation.
 */
class LayerEdgeCasesTest {

    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    private static LokrNetwork<MultiLayerNetwork> denseAdapted(LokrAdapter options, long seed) {
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(options,
                Fixtures.denseMln(DataType.DOUBLE, WorkspaceMode.NONE, new Sgd(0.1), seed), Targets.names("dense_0"));
        Fixtures.randomizeAdapters(a, seed + 1);
        return a;
    }

    @Test
    void inferenceAfterATrainingPassOnTheSameInputUsesNoRankDropout() {
        LokrNetwork<MultiLayerNetwork> a = denseAdapted(LokrAdapter.builder().rank(2).rankDropout(0.5).build(), 3);
        INDArray x = Fixtures.denseInput(8, DataType.DOUBLE, 5);
        Layer merged = a.merge().getLayer(0);
        merged.setInput(x, NO_WS);
        INDArray want = merged.activate(false, NO_WS).dup();
        Layer l = a.network().getLayer(0);
        l.setInput(x, NO_WS);
        INDArray training = l.activate(true, NO_WS).dup();
        INDArray inference = l.activate(false, NO_WS).dup();
        assertTrue(Checks.maxAbsDiff(training, want) > 1e-6, "rank dropout is active in training");
        assertTrue(Checks.maxAbsDiff(inference, want) < 1e-10, "inference after the training pass: "
                + Checks.maxAbsDiff(inference, want));
    }

    @Test
    void aMaskedDenseBackwardEqualsTheBackwardOfTheMaskedGradient() {
        LokrNetwork<MultiLayerNetwork> a = denseAdapted(LokrAdapter.builder().rank(2).dora(true).build(), 7);
        INDArray x = Fixtures.denseInput(6, DataType.DOUBLE, 8);
        INDArray eps = Fixtures.uniform(new long[] {6, Fixtures.DENSE_HIDDEN}, -1, 1, DataType.DOUBLE, 9);
        INDArray mask = org.nd4j.linalg.factory.Nd4j.ones(DataType.DOUBLE, 6, 1);
        mask.putScalar(1, 0.0);
        mask.putScalar(4, 0.0);
        a.network().initGradientsView();   // as fit does before the first backward pass
        Layer l = a.network().getLayer(0);
        INDArray[] masked = backward(l, x, mask, eps);
        INDArray[] maskedGradient = backward(l, x, null, eps.mulColumnVector(mask));
        INDArray[] unmasked = backward(l, x, null, eps);
        for (int k = 0; k < 2; k++) {
            String what = k == 0 ? "parameter gradients" : "input gradient";
            assertTrue(Checks.maxAbsDiff(masked[k], maskedGradient[k]) < 1e-12, what + ": "
                    + Checks.maxAbsDiff(masked[k], maskedGradient[k]));
            assertTrue(Checks.maxAbsDiff(masked[k], unmasked[k]) > 1e-6, what + ": the mask must matter");
        }
    }

    /**
     * A conv layer keeps the adapter's switch and strength of its forward for the backward of that step: a
     * multiplier changed in between (from another thread, say) applies from the next step, not to half of this one.
     */
    @Test
    void aConvStepUsesTheMultiplierOfItsForward() {
        INDArray x = Fixtures.convInput(2, DataType.DOUBLE, 21);
        INDArray[] changed = convStep(x, 1.0, 3.0);
        INDArray[] steady = convStep(x, 1.0, 1.0);
        INDArray[] tripled = convStep(x, 3.0, 3.0);
        for (int k = 0; k < 2; k++) {
            assertEquals(steady[k], changed[k], k == 0 ? "parameter gradients" : "input gradient");
        }
        assertTrue(Checks.maxAbsDiff(steady[0], tripled[0]) > 1e-6, "the multiplier must matter");
    }

    /** {gradient view, input gradient} of one conv training step, the multiplier set before and after the forward. */
    private static INDArray[] convStep(INDArray x, double forward, double backward) {
        return convStep(x, a -> a.setMultiplier(forward), a -> a.setMultiplier(backward));
    }

    /** {gradient view, input gradient} of one conv training step, with a change before and after the forward. */
    static INDArray[] convStep(INDArray x, java.util.function.Consumer<LokrNetwork<MultiLayerNetwork>> beforeForward,
                               java.util.function.Consumer<LokrNetwork<MultiLayerNetwork>> afterForward) {
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(),
                Fixtures.convMln(DataType.DOUBLE, WorkspaceMode.NONE, new Sgd(0.1), 22), Targets.names("conv_0"));
        Fixtures.randomizeAdapters(a, 23);
        a.network().initGradientsView();
        beforeForward.accept(a);
        Layer l = a.network().getLayer(0);
        l.setInput(x, NO_WS);
        INDArray y = l.activate(true, NO_WS);
        INDArray eps = Fixtures.uniform(y.shape(), -1, 1, DataType.DOUBLE, 24);
        afterForward.accept(a);
        Pair<Gradient, INDArray> p = l.backpropGradient(eps, NO_WS);
        return new INDArray[] {l.getGradientsViewArray().dup(), p.getSecond().dup()};
    }

    /** {gradient view, input gradient} of one backward pass, copied. */
    private static INDArray[] backward(Layer l, INDArray x, INDArray mask, INDArray eps) {
        l.setInput(x, NO_WS);
        l.setMaskArray(mask);
        Pair<Gradient, INDArray> p = l.backpropGradient(eps, NO_WS);
        INDArray[] out = {l.getGradientsViewArray().dup(), p.getSecond().dup()};
        l.setMaskArray(null);
        return out;
    }

    @Test
    void freezeOthersFreezesAnExplicitBiasUpdaterToo() {
        MultiLayerConfiguration conf = Fixtures.base(DataType.DOUBLE, WorkspaceMode.ENABLED, new Sgd(0.1), 11).list()
                .layer(new DenseLayer.Builder().name("d0").nIn(4).nOut(5).biasUpdater(new Sgd(0.5))
                        .activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().name("d1").nIn(5).nOut(5).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).name("out").nIn(5).nOut(3)
                        .activation(Activation.IDENTITY).build())
                .build();
        MultiLayerNetwork base = new MultiLayerNetwork(conf);
        base.init();
        MultiLayerNetwork net = LokrNetworks.apply(LokrAdapter.builder().rank(1).scalar(true).build(), base,
                Targets.names("d1"), true).network();
        INDArray before = net.getLayer(0).params().dup();
        DataSet ds = new DataSet(Fixtures.uniform(new long[] {8, 4}, -1, 1, DataType.DOUBLE, 12),
                Fixtures.uniform(new long[] {8, 3}, -1, 1, DataType.DOUBLE, 13));
        for (int i = 0; i < 3; i++) {
            net.fit(ds);
        }
        assertEquals(before, net.getLayer(0).params(), "d0's W and b, with its own bias updater, stay fixed");
        assertTrue(Frozen.isFrozen(net.getLayerWiseConfigurations().getConf(0).getLayer(), "b"));
    }

    @Test
    void exclusionsMatchWholeNames() {
        DenseLayer d = new DenseLayer.Builder().nIn(4).nOut(4).build();
        assertTrue(Targets.all().excluding("dense").matches("dense_0", d), "'dense' does not exclude 'dense_0'");
        assertTrue(Targets.all().excluding("ense_0").matches("dense_0", d), "nor does a suffix");
        assertFalse(Targets.all().excluding("dense_0").matches("dense_0", d));
        assertTrue(Targets.names("dense_.*").excluding("dense_1").matches("dense_10", d));
        assertFalse(Targets.names("dense_.*").excluding("dense_1.*").matches("dense_10", d));
    }

    @Test
    void perExampleScoresAddTheWholeNetworksRegularization() {
        MultiLayerConfiguration conf = Fixtures.base(DataType.DOUBLE, WorkspaceMode.NONE, new Sgd(0.1), 15).l2(0.1)
                .list()
                .layer(new DenseLayer.Builder().name("dense_0").nIn(4).nOut(5).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).name("out").nIn(5).nOut(3)
                        .activation(Activation.IDENTITY).build())
                .build();
        MultiLayerNetwork base = new MultiLayerNetwork(conf);
        base.init();
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(1).build(), base,
                Targets.all());
        Fixtures.randomizeAdapters(a, 16);
        MultiLayerNetwork net = a.network();
        DataSet ds = new DataSet(Fixtures.uniform(new long[] {5, 4}, -1, 1, DataType.DOUBLE, 17),
                Fixtures.uniform(new long[] {5, 3}, -1, 1, DataType.DOUBLE, 18));
        double reg = net.calcRegularizationScore(true);
        assertTrue(reg > 1e-6, "the adapters carry the l2 term: " + reg);
        INDArray with = net.scoreExamples(ds, true);
        INDArray without = net.scoreExamples(ds, false);
        for (int i = 0; i < 5; i++) {
            assertEquals(reg, with.getDouble(i) - without.getDouble(i), 1e-10, "example " + i);
        }
    }
}
