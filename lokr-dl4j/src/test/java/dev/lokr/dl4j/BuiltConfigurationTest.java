package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.conf.LokrLayer;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.function.Consumer;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.Sgd;

/**
 * The options that shape an adapter's tensors cannot change on a configuration a network was built from:
 * the running layer would keep its plan while a clone or a saved model planned anew (a different scale, or
 * parameters that no longer fit). The switches that the runtime reads on every pass still can.
 */
class BuiltConfigurationTest {

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    private static LokrNetwork<MultiLayerNetwork> adapted() {
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).alpha(1).build(),
                Fixtures.denseMln(DataType.DOUBLE, WorkspaceMode.ENABLED, new Adam(1e-2), 31), Targets.all());
        Fixtures.randomizeAdapters(a, 32);
        return a;
    }

    @Test
    void shapeOptionsAreRefusedOnceBuiltAndTheNetworkStaysConsistent() throws Exception {
        LokrNetwork<MultiLayerNetwork> a = adapted();
        LokrLayer conf = a.layerConf("dense_0");
        List<Consumer<LokrLayer>> changes = List.of(c -> c.setRank(3), c -> c.setAlpha(8), c -> c.setFactor(4),
                c -> c.setDecomposeBoth(true), c -> c.setTucker(true), c -> c.setScalar(true), c -> c.setDora(true),
                c -> c.setDoraOnInput(true), c -> c.setDetachNorm(true), c -> c.setRsLora(true),
                c -> c.setFullMatrix(true), c -> c.setUnbalancedFactorization(true), c -> c.setScale(4.0),
                c -> c.setPlan(null == c.getPlan() ? new dev.lokr.dl4j.conf.LokrPlan() : null));
        for (int i = 0; i < changes.size(); i++) {
            Consumer<LokrLayer> change = changes.get(i);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> change.accept(conf),
                    "change " + i);
            assertTrue(e.getMessage().startsWith("layer 'dense_0': "), e.getMessage());
            assertTrue(e.getMessage().contains("once a network is built from this configuration"), e.getMessage());
        }
        // the same values, and the switches, are fine
        conf.setRank(2);
        conf.setAlpha(1);
        conf.setMultiplier(0.5);
        conf.setEnabled(true);
        conf.setRankDropout(0.1);
        conf.setUpdater(new Sgd(0.1));
        INDArray x = Fixtures.denseInput(3, DataType.DOUBLE, 33);
        INDArray live = a.network().output(x);
        assertEquals(live, a.network().clone().output(x), "a clone computes what the live network does");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ModelSerializer.writeModel(a.network(), bytes, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(bytes.toByteArray()), true);
        assertEquals(live, restored.output(x), "the saved model computes what the live network does");
        assertThrows(IllegalStateException.class, () -> LokrNetwork.of(restored).layerConf("dense_0").setAlpha(8),
                "a restored network is built too");
        // the scale changes only through the runtime layer, which re-wraps its tensors in the same call
        IllegalArgumentException foreign = assertThrows(IllegalArgumentException.class,
                () -> conf.rescale((dev.lokr.dl4j.layers.BaseLokrLayerImpl) restored.getLayer("dense_0"), 5.0));
        assertTrue(foreign.getMessage().contains("rescale needs the runtime layer built from this configuration"),
                foreign.getMessage());
        ((dev.lokr.dl4j.layers.BaseLokrLayerImpl) a.network().getLayer("dense_0")).setAdapterScale(5.0);
        assertEquals(a.network().output(x), a.network().clone().output(x), "a rescaled network and its clone agree");
        assertThrows(IllegalStateException.class, () -> LokrNetwork.of(a.network().clone()).layerConf("dense_0")
                .setAlpha(8), "a cloned network is built too");
        // a copy of the configuration is not built until a network is built from it
        org.deeplearning4j.nn.conf.MultiLayerConfiguration copy = a.network().getLayerWiseConfigurations().clone();
        LokrLayer free = (LokrLayer) copy.getConf(0).getLayer();
        free.setRank(3);
        MultiLayerNetwork rebuilt = new MultiLayerNetwork(copy);
        rebuilt.init();
        assertEquals(3, LokrNetwork.of(rebuilt).layouts().get("dense_0").rank());
        assertThrows(IllegalStateException.class, () -> free.setRank(4), "built once its network is");
    }

    @Test
    void negativeZeroIsZeroForABuiltLayer() {
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).alpha(0).build(),
                Fixtures.denseMln(DataType.DOUBLE, WorkspaceMode.ENABLED, new Adam(1e-2), 35), Targets.all());
        LokrLayer conf = a.layerConf("dense_0");
        conf.setAlpha(-0.0);
        assertEquals(0.0, conf.getAlpha());   // compares the bits: -0.0 would fail
        conf.setMultiplier(-0.0);
        assertEquals(0.0, conf.getMultiplier());
        ((dev.lokr.dl4j.layers.BaseLokrLayerImpl) a.network().getLayer("dense_0")).setAdapterScale(0.0);
        conf.setScale(-0.0);
        assertEquals(0.0, conf.getScale());
    }

    @Test
    void aConfigurationNotYetBuiltTakesEveryOption() {
        LokrLayer conf = new LokrLayer(new DenseLayer.Builder().nIn(4).nOut(4).build(), LokrAdapter.builder().build());
        conf.setRank(3);
        conf.setAlpha(8);
        conf.setDora(true);
        conf.setScale(0.5);
        assertEquals(3, conf.getRank());
        assertEquals(8.0, conf.getAlpha());
        IllegalArgumentException nan = assertThrows(IllegalArgumentException.class, () -> conf.setAlpha(Double.NaN));
        assertTrue(nan.getMessage().contains("alpha must be finite and >= 0, got NaN"), nan.getMessage());
        IllegalArgumentException factor = assertThrows(IllegalArgumentException.class, () -> conf.setFactor(0));
        assertTrue(factor.getMessage().contains("factor") && factor.getMessage().contains("0"),
                factor.getMessage());
    }

    /**
     * A plan is copied on the way in, out and in a clone: changing a plan object the layer handed out (or was
     * handed) cannot bypass the built check and make the live layer and its copies disagree.
     */
    @Test
    void aPlanObjectCannotChangeALayer() throws Exception {
        LokrNetwork<MultiLayerNetwork> a = adapted();
        LokrLayer conf = a.layerConf("dense_0");
        INDArray x = Fixtures.denseInput(3, DataType.DOUBLE, 36);
        // a configuration not yet built, with the plan its options give
        org.deeplearning4j.nn.conf.MultiLayerConfiguration copy = a.network().getLayerWiseConfigurations().clone();
        LokrLayer free = (LokrLayer) copy.getConf(0).getLayer();
        dev.lokr.dl4j.conf.LokrPlan plan = dev.lokr.dl4j.conf.LokrPlan.of(conf.layout());
        free.setPlan(plan);
        plan.setScale(5.0);
        plan.setRank(7);
        assertEquals(conf.layout().scale(), free.getPlan().getScale(), "the set plan was not copied");
        free.getPlan().setScale(6.0);
        assertEquals(conf.layout().scale(), free.getPlan().getScale(), "getPlan handed out the layer's own plan");
        MultiLayerNetwork rebuilt = new MultiLayerNetwork(copy);
        rebuilt.init();
        rebuilt.setParams(a.network().params());
        assertEquals(a.network().output(x), rebuilt.output(x), "the planned network computes as the original");
        free.getPlan().setScale(5.0);
        assertEquals(rebuilt.output(x), rebuilt.clone().output(x), "a clone computes what the live network does");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ModelSerializer.writeModel(rebuilt, bytes, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(bytes.toByteArray()), true);
        assertEquals(rebuilt.output(x), restored.output(x), "the saved model computes what the live network does");
    }

    /**
     * The base's weight shape cannot change under a built adapter: a new base of another shape is refused at
     * once, and the live base changed in place is refused at the next pass, by name, before clone() or an
     * update could fail on parameters that no longer fit.
     */
    @Test
    void theBaseWeightShapeCannotChangeOnceBuilt() {
        LokrNetwork<MultiLayerNetwork> a = adapted();
        LokrLayer conf = a.layerConf("dense_0");
        DenseLayer same = (DenseLayer) conf.getBase().clone();
        DenseLayer wider = (DenseLayer) conf.getBase().clone();
        wider.setNOut(wider.getNOut() + 4);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> conf.setBase(wider));
        assertTrue(e.getMessage().startsWith("layer 'dense_0': the base's weight shape cannot change from ")
                && e.getMessage().contains("once a network is built"), e.getMessage());
        conf.setBase(same);   // the same shape is fine
        INDArray x = Fixtures.denseInput(3, DataType.DOUBLE, 37);
        a.network().output(x);
        List<Consumer<DenseLayer>> changes = List.of(d -> d.setNIn(d.getNIn() + 1), d -> d.setNOut(d.getNOut() + 1));
        for (Consumer<DenseLayer> change : changes) {
            DenseLayer base = (DenseLayer) conf.getBase();
            long nIn = base.getNIn();
            long nOut = base.getNOut();
            change.accept(base);
            IllegalStateException pass = assertThrows(IllegalStateException.class, () -> a.network().output(x));
            assertTrue(pass.getMessage().contains("layer 'dense_0'") && pass.getMessage().contains("its weight shape is now")
                    && pass.getMessage().contains("changed after the network was built"), pass.getMessage());
            base.setNIn(nIn);
            base.setNOut(nOut);
            a.network().output(x);
        }
    }
}
