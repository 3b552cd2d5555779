package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.math.LokrParam;
import java.util.List;
import java.util.function.Consumer;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.constraint.MaxNormConstraint;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.weightnoise.DropConnect;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Sgd;

/**
 * Settings of an adapted layer's base configuration, at {@link LokrNetworks#apply} and changed later through
 * the live configuration: base constraints are named and constrain nothing, and a change the adapted layer
 * cannot honour (weight noise, layer norm, a bias switched on or off) is refused at the next pass, by name.
 */
class LiveBaseSettingsTest {

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    static MultiLayerNetwork base(long seed) {
        return Fixtures.denseMln(DataType.DOUBLE, WorkspaceMode.ENABLED, new Sgd(0.5), seed);
    }

    /**
     * A base constraint was meant for the frozen W: it is named in a warning at apply and constrains nothing,
     * so an adapter of another shape or meaning (DoRA magnitude, scalar) trains without an error, and W stays.
     */
    @ParameterizedTest(name = "dora={0} scalar={1}")
    @org.junit.jupiter.params.provider.CsvSource({"false,false", "true,false", "false,true"})
    void aBaseWeightConstraintIsNamedAndLeavesTheAdapterAlone(boolean dora, boolean scalar) {
        MultiLayerNetwork base = base(11);
        MaxNormConstraint c = new MaxNormConstraint(0.1, 1);
        c.setParams(java.util.Set.of("W"));
        base.getLayer("dense_0").conf().getLayer().setConstraints(List.of(c));
        LokrAdapter options = LokrAdapter.builder().rank(2).dora(dora).scalar(scalar).build();
        java.util.Map<String, LokrLayer> replacements = new java.util.LinkedHashMap<>();
        replacements.put("dense_0", new LokrLayer(base.getLayer("dense_0").conf().getLayer().clone(), options));
        assertEquals(List.of("dense_0 [" + c + "]"), LokrNetworks.warnAboutBaseConstraints(replacements));
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(options, base, Targets.all());
        MultiLayerNetwork net = adapted.network();
        String key = "0_" + LokrLayer.paramKey(LokrParam.W1);
        net.setParam(key, Fixtures.uniform(net.getParam(key).shape(), 0.5, 1.0, DataType.DOUBLE, 4));
        INDArray w = net.getParam("0_W").dup();
        net.fit(Fixtures.denseInput(8, DataType.DOUBLE, 5), Fixtures.labels(8, DataType.DOUBLE, 6));
        assertEquals(w, net.getParam("0_W"), "the frozen W changed");
        double norm = net.getParam(key).norm2(1).maxNumber().doubleValue();
        assertTrue(norm > 0.1, "the base's constraint reached w1: column norms up to " + norm);
    }

    /**
     * A constraint made by hand names no parameter until a builder fills them in: set on the live LokrLayer,
     * as the warning above advises, it constrains the factors.
     */
    @org.junit.jupiter.api.Test
    void aConstraintSetOnTheLokrLayerConstrainsTheFactors() {
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(LokrAdapter.builder().rank(2).dora(true).build(),
                base(14), Targets.all());
        adapted.layerConf("dense_0").setConstraints(List.of(new MaxNormConstraint(0.1, 1)));
        MultiLayerNetwork net = adapted.network();
        String key = "0_" + LokrLayer.paramKey(LokrParam.W1);
        net.setParam(key, Fixtures.uniform(net.getParam(key).shape(), 0.5, 1.0, DataType.DOUBLE, 4));
        net.fit(Fixtures.denseInput(8, DataType.DOUBLE, 5), Fixtures.labels(8, DataType.DOUBLE, 6));
        double norm = net.getParam(key).norm2(1).maxNumber().doubleValue();
        assertTrue(norm <= 0.1 + 1e-9, "w1 column norms up to " + norm);
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> liveChanges() {
        Consumer<BaseLayer> noise = l -> l.setWeightNoise(new DropConnect(0.5));
        Consumer<BaseLayer> layerNorm = l -> ((DenseLayer) l).setHasLayerNorm(true);
        Consumer<BaseLayer> noBias = l -> ((DenseLayer) l).setHasBias(false);
        return java.util.stream.Stream.of(
                org.junit.jupiter.params.provider.Arguments.of("weight noise", "dense_0", noise, "weight noise"),
                org.junit.jupiter.params.provider.Arguments.of("weight noise", "out", noise, "weight noise"),
                org.junit.jupiter.params.provider.Arguments.of("layer norm", "dense_0", layerNorm, "layer norm"),
                org.junit.jupiter.params.provider.Arguments.of("bias off", "dense_0", noBias,
                        "its bias was switched off"));
    }

    @ParameterizedTest(name = "{0} on {1}")
    @org.junit.jupiter.params.provider.MethodSource("liveChanges")
    void aLiveBaseChangeTheAdapterCannotHonourIsRefusedAtTheNextPass(String what, String layer,
            Consumer<BaseLayer> change, String mention) {
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(), base(13),
                Targets.all());
        INDArray x = Fixtures.denseInput(2, DataType.DOUBLE, 1);
        adapted.network().output(x);
        change.accept((BaseLayer) adapted.layerConf(layer).getBase());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> adapted.network().output(x));
        assertTrue(e.getMessage().contains("layer '" + layer + "'") && e.getMessage().contains(mention)
                && e.getMessage().contains("changed after the network was built"), e.getMessage());
    }
}
