package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.conf.LokrLayer;
import java.util.Map;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep;
import org.deeplearning4j.nn.conf.layers.recurrent.TimeDistributed;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Layers inside DL4J's wrappers ({@code FrozenLayer}, {@code FrozenLayerWithBackprop}, {@code TimeDistributed},
 * {@code LastTimeStep}): DL4J's runtime layers report the wrapped layer's configuration, so lokr must read the
 * network's configuration to see the wrapper. A wrapped layer is never adapted ({@code all()} skips it, naming it
 * is refused), {@code freezeOthers} keeps every wrapper and freezes the layer inside it, and frozen wrappers stay
 * as they are.
 */
class WrapperLayersTest {

    private static final LokrAdapter ADAPTER = LokrAdapter.builder().rank(1).scalar(true).seed(3).build();

    private static DenseLayer dense(int in, int out) {
        return new DenseLayer.Builder().nIn(in).nOut(out).activation(Activation.TANH).build();
    }

    private static Layer named(Layer layer, String name) {
        layer.setLayerName(name);
        return layer;
    }

    /** dense_0 (4 to 6), then 'pre' = wrapper(dense 6 to 6), then 'out' (6 to 3); DOUBLE, Sgd(0.5). */
    private static MultiLayerNetwork frozenWrapperNet(boolean withBackprop) {
        Layer pre = withBackprop ? new FrozenLayerWithBackprop(dense(6, 6)) : new FrozenLayer(dense(6, 6));
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(11).dataType(DataType.DOUBLE)
                .updater(new Sgd(0.5)).list()
                .layer(named(dense(4, 6), "dense_0"))
                .layer(named(pre, "pre"))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).name("out").nIn(6).nOut(3)
                        .activation(Activation.IDENTITY).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static INDArray x(long seed, long... shape) {
        return Nd4j.rand(DataType.DOUBLE, shape).subi(0.5).muli(2).addi(seed * 1e-3);
    }

    @Test
    void freezeOthersKeepsFrozenWrappersAsTheyAre() {
        for (boolean withBackprop : new boolean[] {false, true}) {
            String ctx = withBackprop ? "FrozenLayerWithBackprop" : "FrozenLayer";
            Nd4j.getRandom().setSeed(5);
            MultiLayerNetwork adapted = LokrNetworks.apply(ADAPTER, frozenWrapperNet(withBackprop),
                    Targets.names("dense_0"), true).network();
            Layer pre = adapted.getLayerWiseConfigurations().getConf(1).getLayer();
            assertEquals(withBackprop ? FrozenLayerWithBackprop.class : FrozenLayer.class, pre.getClass(), ctx);
            INDArray adapterBefore = adapted.getLayer(0).params().dup();
            INDArray preBefore = adapted.getLayer(1).params().dup();
            adapted.fit(x(1, 8, 4), x(2, 8, 3));
            assertEquals(preBefore, adapted.getLayer(1).params(), ctx + ": the frozen wrapper's weights");
            double moved = adapted.getLayer(0).params().sub(adapterBefore).amaxNumber().doubleValue();
            if (withBackprop) {
                assertTrue(moved > 1e-6, ctx + ": gradients pass through, so dense_0's adapter trains; moved " + moved);
            } else {
                // FrozenLayer stops backprop, as in the network before apply
                assertEquals(0.0, moved, 0.0, ctx + ": nothing below a FrozenLayer trains");
            }
        }
    }

    /** 'td' = TimeDistributed(dense 4 to 6), 'lts' = LastTimeStep(LSTM 6 to 5), 'dense_0' (5 to 4), 'out' (4 to 3). */
    private static MultiLayerNetwork recurrentNet() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(12).dataType(DataType.DOUBLE)
                .updater(new Sgd(0.5)).list()
                .layer(named(new TimeDistributed(dense(4, 6)), "td"))
                .layer(named(new LastTimeStep(new LSTM.Builder().nIn(6).nOut(5).build()), "lts"))
                .layer(named(dense(5, 4), "dense_0"))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).name("out").nIn(4).nOut(3)
                        .activation(Activation.IDENTITY).build())
                .setInputType(InputType.recurrent(4, 5))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    @Test
    void allSkipsWrappedLayersAndTheNetworkStillRuns() {
        MultiLayerNetwork base = recurrentNet();
        INDArray x = x(3, 2, 4, 5);
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(ADAPTER, base, Targets.all());
        MultiLayerNetwork net = adapted.network();
        assertInstanceOf(TimeDistributed.class, net.getLayerWiseConfigurations().getConf(0).getLayer());
        assertInstanceOf(LastTimeStep.class, net.getLayerWiseConfigurations().getConf(1).getLayer());
        assertInstanceOf(LokrLayer.class, net.getLayerWiseConfigurations().getConf(2).getLayer());
        assertInstanceOf(LokrLayer.class, net.getLayerWiseConfigurations().getConf(3).getLayer());
        // with the scalar at 0 the adapted network equals the base
        assertArrayEquals(new long[] {2, 3}, net.output(x).shape());
        assertTrue(base.output(x).equalsWithEps(net.output(x), 1e-12));
    }

    @Test
    void namingAWrappedLayerIsRefusedNamingTheWrapper() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrNetworks.apply(ADAPTER, recurrentNet(), Targets.names("td")));
        assertTrue(e.getMessage().contains("'td' (TimeDistributed)") && e.getMessage().contains("not supported"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LokrNetworks.apply(ADAPTER, frozenWrapperNet(false),
                Targets.names("pre")));
        assertTrue(e.getMessage().contains("'pre' (FrozenLayer)"), e.getMessage());
    }

    @Test
    void freezeOthersFreezesTheLayerInsideAWrapperAndKeepsTheWrapper() {
        MultiLayerNetwork base = recurrentNet();
        INDArray x = x(4, 6, 4, 5);
        INDArray y = x(5, 6, 3);
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(ADAPTER, base, Targets.names("dense_0"), true);
        MultiLayerNetwork net = adapted.network();
        for (int i : new int[] {0, 1}) {
            Layer wrapper = net.getLayerWiseConfigurations().getConf(i).getLayer();
            assertInstanceOf(BaseWrapperLayer.class, wrapper, "layer " + i);
            BaseLayer inner = (BaseLayer) ((BaseWrapperLayer) wrapper).getUnderlying();
            assertTrue(Frozen.isFrozenUpdater(inner.getIUpdater()), "layer " + i + " " + inner.getIUpdater());
        }
        INDArray wrappedBefore = Nd4j.concat(0, net.getLayer(0).params(), net.getLayer(1).params()).dup();
        INDArray adapterBefore = net.getLayer(2).params().dup();
        for (int step = 0; step < 3; step++) {
            net.fit(x, y);
        }
        assertEquals(wrappedBefore, Nd4j.concat(0, net.getLayer(0).params(), net.getLayer(1).params()),
                "the wrapped layers are frozen");
        assertTrue(net.getLayer(2).params().sub(adapterBefore).amaxNumber().doubleValue() > 1e-6, "dense_0 trains");
        MultiLayerNetwork merged = adapted.merge();
        assertInstanceOf(TimeDistributed.class, merged.getLayerWiseConfigurations().getConf(0).getLayer());
        assertTrue(net.output(x).equalsWithEps(merged.output(x), 1e-10), "merged equals adapted");
    }

    @Test
    void nestedWrappersAreFrozenInsideOrLeftAsTheyAreWhenAlreadyFrozen() {
        for (boolean frozenInside : new boolean[] {false, true}) {
            LSTM lstm = new LSTM.Builder().nIn(4).nOut(6).build();
            Layer inner = frozenInside ? new FrozenLayerWithBackprop(lstm) : lstm;
            MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(14).dataType(DataType.DOUBLE)
                    .updater(new Sgd(0.5)).list()
                    .layer(named(new LastTimeStep(new org.deeplearning4j.nn.conf.layers.util.MaskZeroLayer(inner, 0.0)),
                            "lts"))
                    .layer(named(dense(6, 4), "dense_0"))
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).name("out").nIn(4).nOut(3)
                            .activation(Activation.IDENTITY).build())
                    .setInputType(InputType.recurrent(4, 5))
                    .build();
            MultiLayerNetwork base = new MultiLayerNetwork(conf);
            base.init();
            MultiLayerNetwork net = LokrNetworks.apply(ADAPTER, base, Targets.names("dense_0"), true).network();
            Layer outer = net.getLayerWiseConfigurations().getConf(0).getLayer();
            Layer middle = ((BaseWrapperLayer) outer).getUnderlying();
            Layer innermost = ((BaseWrapperLayer) middle).getUnderlying();
            String ctx = "frozenInside=" + frozenInside;
            assertInstanceOf(LastTimeStep.class, outer, ctx);
            if (frozenInside) {
                assertEquals(FrozenLayerWithBackprop.class, innermost.getClass(), ctx + ": left as it was");
            } else {
                assertTrue(Frozen.isFrozenUpdater(((BaseLayer) innermost).getIUpdater()), ctx + ": frozen inside");
            }
            INDArray before = net.getLayer(0).params().dup();
            net.fit(x(7, 4, 4, 5), x(8, 4, 3));
            assertEquals(before, net.getLayer(0).params(), ctx + ": the wrapped LSTM does not train");
        }
    }

    @Test
    void aComputationGraphSeesItsWrappersToo() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(13).dataType(DataType.DOUBLE)
                .updater(new Sgd(0.5)).graphBuilder()
                .addInputs("in")
                .addLayer("lts", new LastTimeStep(new LSTM.Builder().nIn(4).nOut(5).build()), "in")
                .addLayer("pre", new FrozenLayer(dense(5, 5)), "lts")
                .addLayer("dense_0", dense(5, 4), "pre")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(4).nOut(3)
                        .activation(Activation.IDENTITY).build(), "dense_0")
                .setOutputs("out")
                .setInputTypes(InputType.recurrent(4, 5))
                .build();
        ComputationGraph base = new ComputationGraph(conf);
        base.init();
        INDArray x = x(6, 2, 4, 5);
        ComputationGraph all = LokrNetworks.apply(ADAPTER, base, Targets.all()).network();
        assertEquals(Map.of("lts", LastTimeStep.class, "pre", FrozenLayer.class, "dense_0", LokrLayer.class,
                "out", LokrLayer.class), layerTypes(all));
        assertTrue(base.outputSingle(x).equalsWithEps(all.outputSingle(x), 1e-12));
        ComputationGraph frozen = LokrNetworks.apply(ADAPTER, base, Targets.names("dense_0"), true).network();
        assertEquals(Map.of("lts", LastTimeStep.class, "pre", FrozenLayer.class, "dense_0", LokrLayer.class,
                "out", OutputLayer.class), layerTypes(frozen));
        assertArrayEquals(new long[] {2, 3}, frozen.outputSingle(x).shape());
    }

    private static Map<String, Class<?>> layerTypes(Model graph) {
        Map<String, Class<?>> types = new java.util.TreeMap<>();
        ((ComputationGraph) graph).getConfiguration().getVertices().forEach((name, v) -> {
            if (v instanceof LayerVertex) {
                types.put(name, ((LayerVertex) v).getLayerConf().getLayer().getClass());
            }
        });
        return types;
    }
}
