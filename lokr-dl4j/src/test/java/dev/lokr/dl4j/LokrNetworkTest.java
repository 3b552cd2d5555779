package dev.lokr.dl4j;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.dl4j.layers.BaseLokrLayerImpl;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Applying, merging, switching and loading adapters; the messages of bad use. */
class LokrNetworkTest {

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    static Model network(String arch, long seed) {
        switch (arch) {
            case "denseMln": return Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), seed);
            case "denseGraph": return Fixtures.denseGraph(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), seed);
            case "convMln": return Fixtures.convMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), seed);
            case "convGraph": return Fixtures.convGraph(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), seed);
            default: throw new IllegalArgumentException(arch);
        }
    }

    static INDArray input(String arch, long seed) {
        return arch.startsWith("conv") ? Fixtures.convInput(5, DataType.FLOAT, seed) : Fixtures.denseInput(5, DataType.FLOAT, seed);
    }

    static INDArray output(Model net, INDArray x) {
        return net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).output(x)
                : ((ComputationGraph) net).outputSingle(x);
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 7001;
        for (String arch : new String[] {"denseMln", "denseGraph", "convMln", "convGraph"}) {
            for (String opt : new String[] {"plain", "decomposeBoth", "scalar", "dora", "doraOnInput", "doraMultiplier",
                    "rsLora", "fullMatrix", "unbalanced", "tucker", "allOfThem"}) {
                out.add(Arguments.of(arch, opt, seed++));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1} seed={2}")
    @MethodSource("cases")
    void applyKeepsOutputsAndCopiesBaseBitForBit(String arch, String option, long seed) {
        Model net = network(arch, seed);
        INDArray x = input(arch, seed + 1);
        INDArray before = output(net, x);
        INDArray paramsBefore = net.params().dup();
        LokrNetwork<?> adapted = GradientCheckTest.adapt(GradientCheckTest.options(option, arch.startsWith("conv")), net);
        String id = arch + " " + option + " seed=" + seed;
        Checks.assertClose(before, output(adapted.network(), x), 1e-5, "output right after apply, " + id);
        Checks.assertBitIdentical(paramsBefore, net.params(), "original network after apply, " + id);
        List<Layer> orig = Networks.layers(net);
        List<Layer> now = Networks.layers(adapted.network());
        for (int i = 0; i < orig.size(); i++) {
            for (Map.Entry<String, INDArray> e : orig.get(i).paramTable().entrySet()) {
                Checks.assertBitIdentical(e.getValue(), now.get(i).getParam(e.getKey()),
                        "layer " + i + " param " + e.getKey() + ", " + id);
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} seed={2}")
    @MethodSource("cases")
    void mergedNetworkIsPlainAndMatchesAdapted(String arch, String option, long seed) {
        Model net = network(arch, seed);
        INDArray x = input(arch, seed + 1);
        LokrNetwork<?> adapted = GradientCheckTest.adapt(GradientCheckTest.options(option, arch.startsWith("conv")), net);
        Fixtures.randomizeAdapters(adapted, seed + 2);
        String id = arch + " " + option + " seed=" + seed;
        INDArray out = output(adapted.network(), x);
        assertTrue(Checks.maxAbsDiff(output(net, x), out) > 1e-3, "randomized adapter should change the output, " + id);
        Model merged = adapted.merge();
        assertEquals(net.getClass(), merged.getClass(), id);
        for (Layer l : Networks.layers(merged)) {
            assertFalse(Networks.conf(merged, l) instanceof LokrLayer, "merged layer " + Networks.name(l) + " is still LoKR, " + id);
            assertFalse(l instanceof BaseLokrLayerImpl, id);
        }
        assertEquals(Networks.conf(net, Networks.layers(net).get(0)).getClass(),
                Networks.conf(merged, Networks.layers(merged).get(0)).getClass(), id);
        Checks.assertClose(out, output(merged, x), 2e-5, "merged output, " + id);
        adapted.setMultiplier(0.5);
        INDArray half = output(adapted.network(), x);
        assertTrue(Checks.maxAbsDiff(out, half) > 1e-4, "multiplier 0.5 should change the output, " + id);
        Checks.assertClose(half, output(adapted.merge(), x), 2e-5, "merged output at multiplier 0.5, " + id);
        adapted.setEnabled(false);
        Checks.assertClose(output(net, x), output(adapted.network(), x), 1e-6, "disabled adapter, " + id);
        Checks.assertClose(output(net, x), output(adapted.merge(), x), 1e-6, "merge of a disabled adapter, " + id);
    }

    /** Seeded random option combinations (every option, rank 1–4, factors, multipliers) on the four networks. */
    static Stream<Arguments> randomCases() {
        java.util.Random r = new java.util.Random(0x10C4A11L);
        String[] archs = {"denseMln", "denseGraph", "convMln", "convGraph"};
        int[] factors = {-1, -1, 2, 3, 4};
        List<Arguments> out = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            String arch = archs[i % archs.length];
            boolean dora = r.nextInt(3) == 0;
            LokrAdapter options = LokrAdapter.builder()
                    .rank(1 + r.nextInt(4))
                    .alpha(r.nextInt(4) == 0 ? 0 : 0.5 + r.nextInt(8))
                    .factor(factors[r.nextInt(factors.length)])
                    .decomposeBoth(r.nextBoolean())
                    .tucker(arch.startsWith("conv") && r.nextBoolean())
                    .scalar(r.nextInt(3) == 0)
                    .dora(dora)
                    .doraOnInput(dora && r.nextBoolean())
                    .rsLora(r.nextInt(4) == 0)
                    .fullMatrix(r.nextInt(6) == 0)
                    .unbalancedFactorization(r.nextInt(5) == 0)
                    .multiplier(r.nextBoolean() ? 1.0 : 0.25 + 1.5 * r.nextDouble())
                    .build();
            out.add(Arguments.of(arch, options, r.nextLong()));
        }
        return out.stream();
    }

    /**
     * Random options: the adapted network's output equals the merged network's, before and after a training
     * step, and the step leaves every frozen base tensor bit for bit as it was.
     */
    @ParameterizedTest(name = "{0} seed={2} {1}")
    @MethodSource("randomCases")
    void randomOptionsMergeToTheAdaptedOutputsAndTrainOnlyTheAdapter(String arch, LokrAdapter options, long seed) {
        String id = arch + " seed=" + seed + " " + options;
        Model net = network(arch, seed);
        INDArray x = input(arch, seed + 1);
        LokrNetwork<?> adapted = GradientCheckTest.adapt(options, net);
        Fixtures.randomizeAdapters(adapted, seed + 2);
        Checks.assertClose(output(adapted.network(), x), output(adapted.merge(), x), 2e-5, "merged output, " + id);
        Map<String, INDArray> frozen = new java.util.LinkedHashMap<>();
        Map<String, INDArray> trained = new java.util.LinkedHashMap<>();
        adapted.network().paramTable().forEach((k, v) -> {
            boolean adapter = LokrLayer.isAdapterParam(k.substring(k.lastIndexOf('_') + 1));
            (adapter ? trained : frozen).put(k, v.dup());
        });
        INDArray labels = Fixtures.labels(5, DataType.FLOAT, seed + 3);
        if (adapted.network() instanceof MultiLayerNetwork m) {
            m.fit(x, labels);
        } else {
            ((ComputationGraph) adapted.network()).fit(new INDArray[] {x}, new INDArray[] {labels});
        }
        int checked = 0;
        for (Map.Entry<String, INDArray> e : frozen.entrySet()) {
            if (isAdaptedLayerParam(adapted, e.getKey())) {
                Checks.assertBitIdentical(e.getValue(), adapted.network().paramTable().get(e.getKey()),
                        "frozen " + e.getKey() + " after a step, " + id);
                checked++;
            }
        }
        assertTrue(checked >= 2, "frozen tensors checked: " + checked + ", " + id);
        assertTrue(trained.entrySet().stream().anyMatch(e -> Checks.maxAbsDiff(e.getValue(),
                adapted.network().paramTable().get(e.getKey())) > 0), "no adapter tensor changed in the step, " + id);
        Checks.assertClose(output(adapted.network(), x), output(adapted.merge(), x), 2e-5,
                "merged output after a step, " + id);
    }

    /** Whether a network parameter key belongs to a LoKR layer (whose W and b must never change). */
    private static boolean isAdaptedLayerParam(LokrNetwork<?> adapted, String key) {
        String layer = key.substring(0, key.lastIndexOf('_'));
        for (Layer l : Networks.layers(adapted.network())) {
            String name = adapted.network() instanceof MultiLayerNetwork ? String.valueOf(l.getIndex()) : Networks.name(l);
            if (name.equals(layer)) {
                return l instanceof BaseLokrLayerImpl;
            }
        }
        return false;
    }

    @Test
    void multiplierZeroSwitchesOffANonDoraAdapterButNotDora() {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 11);
        INDArray x = Fixtures.denseInput(4, DataType.FLOAT, 12);
        LokrNetwork<MultiLayerNetwork> plain = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(), net, Targets.all());
        LokrNetwork<MultiLayerNetwork> dora = LokrNetworks.apply(LokrAdapter.builder().rank(2).dora(true).build(), net, Targets.all());
        Fixtures.randomizeAdapters(plain, 13);
        Fixtures.randomizeAdapters(dora, 13);
        plain.setMultiplier(0);
        dora.setMultiplier(0);
        assertEquals(0.0, plain.getMultiplier());
        Checks.assertClose(net.output(x), plain.network().output(x), 1e-6, "non-DoRA at multiplier 0");
        assertTrue(Checks.maxAbsDiff(net.output(x), dora.network().output(x)) > 1e-3,
                "DoRA at multiplier 0 still adds dW (taken with m = 1); only enabled(false) switches it off");
        dora.setEnabled(false);
        assertFalse(dora.isEnabled());
        Checks.assertClose(net.output(x), dora.network().output(x), 1e-6, "DoRA disabled");
    }

    @Test
    void snapshotsSwitchBetweenAdapters() {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 21);
        INDArray x = Fixtures.denseInput(4, DataType.FLOAT, 22);
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(), net, Targets.all());
        Fixtures.randomizeAdapters(a, 23);
        Map<String, LokrParams> first = a.adapterParams();
        INDArray outFirst = a.network().output(x);
        Fixtures.randomizeAdapters(a, 24);
        Map<String, LokrParams> second = a.adapterParams();
        INDArray outSecond = a.network().output(x);
        assertTrue(Checks.maxAbsDiff(outFirst, outSecond) > 1e-3, "two adapters should give two outputs");
        a.loadAdapterParams(first);
        Checks.assertBitIdentical(outFirst, a.network().output(x), "first adapter reloaded");
        a.loadAdapterParams(second);
        Checks.assertBitIdentical(outSecond, a.network().output(x), "second adapter reloaded");
        assertEquals(List.of("dense_0", "out"), new ArrayList<>(first.keySet()));
        first.get("dense_0").get(first.get("dense_0").layout().params().get(0)).addi(1);
        Checks.assertBitIdentical(outSecond, a.network().output(x), "a snapshot is a copy");
    }

    @Test
    void loadingAdoptsTheGivenScale() {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 31);
        INDArray x = Fixtures.denseInput(4, DataType.FLOAT, 32);
        LokrNetwork<MultiLayerNetwork> source = LokrNetworks.apply(LokrAdapter.builder().rank(2).alpha(8).build(), net, Targets.all());
        LokrNetwork<MultiLayerNetwork> target = LokrNetworks.apply(LokrAdapter.builder().rank(2).alpha(1).build(), net, Targets.all());
        Fixtures.randomizeAdapters(source, 33);
        target.loadAdapterParams(source.adapterParams());
        assertEquals(4.0, target.layouts().get("dense_0").scale());
        assertEquals(4.0, target.layerConf("dense_0").getScale());
        Checks.assertClose(source.network().output(x), target.network().output(x), 1e-6, "output after loading");
    }

    @Test
    void loadingChecksLayersTensorsAndShapes() {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 41);
        LokrNetwork<MultiLayerNetwork> r2 = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(), net, Targets.all());
        LokrNetwork<MultiLayerNetwork> r1 = LokrNetworks.apply(LokrAdapter.builder().rank(1).build(), net, Targets.all());
        LokrNetwork<MultiLayerNetwork> both = LokrNetworks.apply(LokrAdapter.builder().rank(2).decomposeBoth(true).build(), net, Targets.all());
        INDArray before = r2.network().params().dup();

        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> r2.loadAdapterParams(r1.adapterParams()));
        assertEquals("layer 'dense_0': w2a must be [6, 2], got [6, 1]", shape.getMessage());

        IllegalArgumentException tensors = assertThrows(IllegalArgumentException.class, () -> r2.loadAdapterParams(both.adapterParams()));
        assertTrue(tensors.getMessage().startsWith("layer 'dense_0': adapter has tensors [w1a, w1b, w2a, w2b] but the layer has [w1, w2a, w2b]"),
                tensors.getMessage());

        Map<String, LokrParams> missing = new HashMap<>(r2.adapterParams());
        missing.remove("out");
        IllegalArgumentException miss = assertThrows(IllegalArgumentException.class, () -> r2.loadAdapterParams(missing));
        assertEquals("no adapter given for layer(s) [out]; loadAdapterParams needs every adapted layer: [dense_0, out]", miss.getMessage());

        Map<String, LokrParams> extra = new HashMap<>(r2.adapterParams());
        extra.put("nope", extra.get("out"));
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> r2.loadAdapterParams(extra));
        assertEquals("no LoKR layer named [nope]; the adapted layers are [dense_0, out]", unknown.getMessage());

        Map<String, LokrParams> partlyBad = new HashMap<>(r2.adapterParams());
        partlyBad.put("out", r1.adapterParams().get("out"));
        Fixtures.randomizeAdapters(both, 42);
        assertThrows(IllegalArgumentException.class, () -> r2.loadAdapterParams(partlyBad));
        Checks.assertBitIdentical(before, r2.network().params(), "a failed load changes nothing");

        Map<String, LokrParams> nonFinite = new HashMap<>(r2.adapterParams());
        nonFinite.get("out").get(LokrParam.W2_B).putScalar(1, Double.NaN);
        IllegalArgumentException nan = assertThrows(IllegalArgumentException.class, () -> r2.loadAdapterParams(nonFinite));
        assertEquals("layer 'out': w2b holds NaN or an infinity; adapter tensors must be finite", nan.getMessage());
        // finite in DOUBLE, beyond FLOAT: refused, not stored as an infinity
        Map<String, LokrParams> wide = new HashMap<>();
        r2.adapterParams().forEach((k, v) -> wide.put(k, v.castTo(DataType.DOUBLE)));
        wide.get("dense_0").get(LokrParam.W1).putScalar(0, 1e39);
        IllegalArgumentException range = assertThrows(IllegalArgumentException.class, () -> r2.loadAdapterParams(wide));
        assertEquals("layer 'dense_0': w1 holds a value beyond the range of the network's FLOAT (largest magnitude "
                + "1.0E39); adapter tensors must be finite in it", range.getMessage());
        wide.get("dense_0").get(LokrParam.W1).putScalar(0, 3e38);
        r2.loadAdapterParams(wide);   // within FLOAT's range
        assertEquals(3e38f, r2.adapterParams().get("dense_0").get(LokrParam.W1).getFloat(0));
        r2.network().setParams(before);
        // a scale beyond FLOAT is refused before anything changes, not found at the next pass
        Map<String, LokrParams> huge = new HashMap<>();
        r2.adapterParams().forEach((k, v) -> {
            dev.lokr.math.LokrLayout l = v.layout();
            huge.put(k, LokrParams.of(dev.lokr.math.LokrLayout.explicit(l.weightShape(), l.a(), l.b(), l.c(), l.d(),
                    l.rank(), l.w1Mode(), l.w2Mode(), 1e39, l.scalar(), l.doraAxis(), l.detachNorm()),
                    v.castTo(DataType.DOUBLE).asMap()));
        });
        IllegalArgumentException scale = assertThrows(IllegalArgumentException.class, () -> r2.loadAdapterParams(huge));
        assertTrue(scale.getMessage().endsWith("scale 1.0E39 is beyond the range of the network's FLOAT ("
                + Float.MAX_VALUE + ")"), scale.getMessage());
        Checks.assertBitIdentical(before, r2.network().params(), "the refused load changed nothing");
        assertEquals(r2.layouts().get("dense_0").scale(), r2.layerConf("dense_0").layout().scale());
        Map<String, LokrParams> nullName = new HashMap<>(r2.adapterParams());
        nullName.put(null, nullName.get("out"));
        assertEquals("params has a null layer name",
                assertThrows(IllegalArgumentException.class, () -> r2.loadAdapterParams(nullName)).getMessage());
        Checks.assertBitIdentical(before, r2.network().params(), "a refused load changes nothing");
    }

    @Test
    void targetsMatchingNothingAreRefused() {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 51);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrNetworks.apply(LokrAdapter.builder().build(), net, Targets.names("attn_.*")));
        assertEquals("Targets{names=[attn_.*]} match no layer of the network; its layers are "
                + "[dense_0 (DenseLayer), out (OutputLayer)]", e.getMessage());
    }

    @Test
    void applyingTwiceIsRefused() {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 61);
        LokrNetwork<MultiLayerNetwork> once = LokrNetworks.apply(LokrAdapter.builder().build(), net, Targets.names("dense_0"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrNetworks.apply(LokrAdapter.builder().build(), once.network(), Targets.names("out")));
        assertEquals("the network already has LoKR adapters on [dense_0]; work with them through LokrNetwork.of(net), "
                + "or merge() them first", e.getMessage());
    }

    /** dense_0 -> bn (BatchNormalization) -> out. */
    static MultiLayerNetwork withBatchNorm(long seed) {
        MultiLayerConfiguration conf = Fixtures.base(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), seed).list()
                .layer(new DenseLayer.Builder().name("dense_0").nIn(Fixtures.DENSE_IN).nOut(Fixtures.DENSE_HIDDEN)
                        .activation(Activation.TANH).build())
                .layer(new BatchNormalization.Builder().name("bn").build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(Fixtures.CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(Fixtures.DENSE_IN))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    @Test
    void unsupportedTargetsAreRefusedByNameAndType() {
        MultiLayerNetwork net = withBatchNorm(71);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrNetworks.apply(LokrAdapter.builder().build(), net, Targets.names("bn")));
        assertTrue(e.getMessage().startsWith("layer 'bn' (BatchNormalization) cannot take a LoKR adapter: type "
                + "BatchNormalization is not supported"), e.getMessage());

        MultiLayerConfiguration normed = Fixtures.base(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 72).list()
                .layer(new DenseLayer.Builder().name("ln").nIn(4).nOut(4).hasLayerNorm(true).build())
                .layer(new OutputLayer.Builder().name("out").nIn(4).nOut(2).build())
                .build();
        MultiLayerNetwork ln = new MultiLayerNetwork(normed);
        ln.init();
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class,
                () -> LokrNetworks.apply(LokrAdapter.builder().build(), ln, Targets.types(DenseLayer.class)));
        assertEquals("layer 'ln' (DenseLayer) cannot take a LoKR adapter: DenseLayer with layer norm "
                + "(hasLayerNorm=true) is not supported", e2.getMessage());
    }

    @Test
    void allTargetsSkipUnsupportedLayersWhichKeepTheirParameters() {
        MultiLayerNetwork net = withBatchNorm(81);
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(), net, Targets.all());
        assertEquals(List.of("dense_0", "out"), a.adaptedLayers());
        long bnParams = net.getLayer("bn").numParams();
        assertTrue(bnParams > 0);
        assertEquals(a.totalParamCount() - a.adapterParamCount() - a.frozenParamCount(), bnParams);
        assertTrue(a.report().contains(bnParams + " in other layers (0 of them frozen)"), a.report());
    }

    @Test
    void targetsCombineNamesTypesAndExclusions() {
        MultiLayerNetwork conv = Fixtures.convMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 91);
        assertEquals(List.of("conv_0", "out"), LokrNetworks.apply(LokrAdapter.builder().rank(1).build(), conv,
                Targets.names("out").orTypes(ConvolutionLayer.class)).adaptedLayers());
        assertEquals(List.of("conv_0"), LokrNetworks.apply(LokrAdapter.builder().rank(1).build(), conv,
                Targets.types(ConvolutionLayer.class)).adaptedLayers());
        assertEquals(List.of("out"), LokrNetworks.apply(LokrAdapter.builder().rank(1).build(), conv,
                Targets.all().excluding("conv_.*")).adaptedLayers());
        ComputationGraph graph = Fixtures.denseGraph(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 92);
        assertEquals(List.of("dense_0"), LokrNetworks.apply(LokrAdapter.builder().rank(1).build(), graph,
                Targets.names("dense_.*")).adaptedLayers());
        assertEquals("Targets{names=[out], types=[ConvolutionLayer], excluding=[x]}",
                Targets.names("out").orTypes(ConvolutionLayer.class).excluding("x").toString());
    }

    @Test
    void duplicateLayerNamesAreRefused() {
        MultiLayerConfiguration conf = Fixtures.base(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 141).list()
                .layer(new DenseLayer.Builder().name("same").nIn(4).nOut(4).build())
                .layer(new DenseLayer.Builder().name("same").nIn(4).nOut(4).build())
                .layer(new OutputLayer.Builder().name("out").nIn(4).nOut(2).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrNetworks.apply(LokrAdapter.builder().build(), net, Targets.names("out")));
        assertEquals("layer names must be unique and set, got 'same' more than once (or unset); name the layers to "
                + "adapt the network", e.getMessage());
    }

    @Test
    void emptyTargetListsAreRefused() {
        IllegalArgumentException names = assertThrows(IllegalArgumentException.class, () -> Targets.names());
        assertEquals("names needs at least one layer-name regex, got none", names.getMessage());
        IllegalArgumentException types = assertThrows(IllegalArgumentException.class, () -> Targets.types());
        assertEquals("types needs at least one layer class, got none", types.getMessage());
    }

    @Test
    void reportListsLayersFactorShapesAndCounts() {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 101);
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).alpha(4).build(), net, Targets.all());
        String expected = "LoKR MultiLayerNetwork: 2 adapted layers\n"
                + "  dense_0 (DenseLayer, weight [36, 24]): w1[6, 4] w2a[6, 2] w2b[2, 6] | w1 FULL, w2 LOW_RANK, rank 2, "
                + "scale 2.0, multiplier 1.0, 48 params\n"
                + "  out (OutputLayer, weight [6, 36]): w1[2, 6] w2a[3, 2] w2b[2, 6] | w1 FULL, w2 LOW_RANK, rank 2, "
                + "scale 2.0, multiplier 1.0, 30 params\n"
                + "  params: 78 trainable (adapters), 1122 frozen (adapted layers' W, b), 0 in other layers "
                + "(0 of them frozen), 1200 total";
        assertEquals(expected, a.report());
        assertEquals(expected, a.toString());
        assertEquals(78, a.adapterParamCount());
        assertEquals(24 * 36 + 36 + 36 * 6 + 6, a.frozenParamCount());
    }

    @Test
    void moduleNamesFollowLycoris() {
        assertEquals("lycoris_blocks_0_attn_qkv", LokrNetwork.moduleName("blocks.0.attn.qkv"));
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 111);
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().build(), net, Targets.all());
        assertEquals(Map.of("dense_0", "lycoris_dense_0", "out", "lycoris_out"), a.moduleNames());
    }

    @Test
    void wrappingAPlainNetworkIsRefused() {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 121);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LokrNetwork.of(net));
        assertEquals("the network has no LoKR layer; its layers are [dense_0 (DenseLayer), out (OutputLayer)]; "
                + "use LokrNetworks.apply to add adapters", e.getMessage());
    }

    @Test
    void oneDimensionalConvolutionAdaptsAndMerges() {
        MultiLayerNetwork net = Fixtures.conv1dMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 131);
        INDArray x = Fixtures.uniform(new long[] {3, Fixtures.CONV_IN, Fixtures.SEQ}, -1, 1, DataType.FLOAT, 132);
        INDArray before = net.output(x);
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(1).tucker(true).build(), net,
                Targets.names("conv1d_0"));
        assertEquals(4, a.layouts().get("conv1d_0").weightShape().length);
        Checks.assertClose(before, a.network().output(x), 1e-6, "conv1d right after apply");
        Fixtures.randomizeAdapters(a, 133);
        INDArray out = a.network().output(x);
        assertTrue(Checks.maxAbsDiff(before, out) > 1e-3, "randomized conv1d adapter changes the output");
        Checks.assertClose(out, a.merge().output(x), 2e-5, "merged conv1d");
        INDArray w = a.network().getLayer("conv1d_0").getParam("W").dup();
        a.network().fit(x, Fixtures.uniform(new long[] {3, Fixtures.CLASSES, Fixtures.SEQ - 2}, 0, 1, DataType.FLOAT, 134));
        Checks.assertBitIdentical(w, a.network().getLayer("conv1d_0").getParam("W"), "conv1d W after fit");
    }
}
