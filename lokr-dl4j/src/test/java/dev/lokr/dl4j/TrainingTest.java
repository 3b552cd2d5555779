package dev.lokr.dl4j;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.dl4j.layers.BaseLokrLayerImpl;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Training: only adapter tensors change; workspaces, listeners, ParallelWrapper, dropouts, masks. */
class TrainingTest {

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    static Model network(String arch, DataType type, WorkspaceMode ws, IUpdater updater, long seed) {
        switch (arch) {
            case "denseMln": return Fixtures.denseMln(type, ws, updater, seed);
            case "denseGraph": return Fixtures.denseGraph(type, ws, updater, seed);
            case "convMln": return Fixtures.convMln(type, ws, updater, seed);
            case "convGraph": return Fixtures.convGraph(type, ws, updater, seed);
            default: throw new IllegalArgumentException(arch);
        }
    }

    static void fit(Model net, INDArray x, INDArray y) {
        if (net instanceof MultiLayerNetwork) {
            ((MultiLayerNetwork) net).fit(x, y);
        } else {
            ((ComputationGraph) net).fit(new INDArray[] {x}, new INDArray[] {y});
        }
    }

    static double score(Model net, INDArray x, INDArray y) {
        return net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).score(new DataSet(x, y))
                : ((ComputationGraph) net).score(new DataSet(x, y));
    }

    /** Copies of every parameter, keyed "layerIndex/key". */
    static Map<String, INDArray> snapshot(Model net) {
        Map<String, INDArray> m = new HashMap<>();
        List<Layer> layers = Networks.layers(net);
        for (int i = 0; i < layers.size(); i++) {
            for (Map.Entry<String, INDArray> e : layers.get(i).paramTable().entrySet()) {
                m.put(i + "/" + e.getKey(), e.getValue().dup());
            }
        }
        return m;
    }

    /** Frozen tensors bit-identical, every adapter tensor changed. */
    static void assertOnlyAdaptersChanged(Map<String, INDArray> before, Model net, String id) {
        Map<String, INDArray> after = snapshot(net);
        assertEquals(before.keySet(), after.keySet(), id);
        for (Map.Entry<String, INDArray> e : before.entrySet()) {
            String key = e.getKey().substring(e.getKey().indexOf('/') + 1);
            if (LokrLayer.isAdapterParam(key)) {
                assertTrue(Checks.maxAbsDiff(e.getValue(), after.get(e.getKey())) > 0,
                        "adapter tensor " + e.getKey() + " did not train, " + id);
            } else {
                Checks.assertBitIdentical(e.getValue(), after.get(e.getKey()), "frozen " + e.getKey() + ", " + id);
            }
        }
    }

    static Stream<Arguments> fitCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 401;
        for (String arch : new String[] {"denseMln", "denseGraph", "convMln", "convGraph"}) {
            for (String updater : new String[] {"adam", "sgd"}) {
                for (String option : new String[] {"plain", "allOfThem"}) {
                    out.add(Arguments.of(arch, updater, option, seed++));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1} {2} seed={3}")
    @MethodSource("fitCases")
    void fitTrainsOnlyTheAdapters(String arch, String updaterName, String option, long seed) {
        String id = arch + " " + updaterName + " " + option + " seed=" + seed;
        IUpdater updater = updaterName.equals("adam") ? new Adam(2e-2) : new Sgd(0.2);
        Model net = network(arch, DataType.FLOAT, WorkspaceMode.ENABLED, updater, seed);
        LokrNetwork<?> adapted = GradientCheckTest.adapt(GradientCheckTest.options(option, arch.startsWith("conv")), net);
        Model m = adapted.network();
        INDArray x = LokrNetworkTest.input(arch, seed + 1);
        INDArray y = Fixtures.labels((int) x.size(0), DataType.FLOAT, seed + 2);
        Map<String, INDArray> before = snapshot(m);
        double score0 = score(m, x, y);
        for (int i = 0; i < 8; i++) {
            fit(m, x, y);
        }
        assertOnlyAdaptersChanged(before, m, id);
        double score1 = score(m, x, y);
        assertTrue(score1 < score0, "training should lower the loss: " + score0 + " -> " + score1 + ", " + id);
        INDArray state = m instanceof MultiLayerNetwork ? ((MultiLayerNetwork) m).getUpdater().getStateViewArray()
                : ((ComputationGraph) m).getUpdater().getStateViewArray();
        long expectedState = updaterName.equals("adam") ? 2 * adapted.adapterParamCount() : 0;
        assertEquals(expectedState, state == null ? 0 : state.length(), "updater state size, " + id);
    }

    @Test
    void regularizationNeverTouchesTheFrozenBase() {
        MultiLayerNetwork net = denseClassifier(Fixtures.base(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 451)
                .l2(0.5).l2Bias(0.5).weightDecay(0.1));
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).scalar(true).build(), net, Targets.all());
        assertTrue(a.layerConf("dense_0").getRegularizationByParam("W").isEmpty());
        assertEquals(2, a.layerConf("dense_0").getRegularizationByParam(LokrLayer.paramKey(dev.lokr.math.LokrParam.W1)).size());
        Map<String, INDArray> before = snapshot(a.network());
        INDArray x = Fixtures.denseInput(6, DataType.FLOAT, 452);
        INDArray y = Fixtures.labels(6, DataType.FLOAT, 453);
        for (int i = 0; i < 4; i++) {
            a.network().fit(x, y);
        }
        assertOnlyAdaptersChanged(before, a.network(), "l2 + weight decay");
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = GradientNormalization.class, names = {"RenormalizeL2PerLayer", "ClipElementWiseAbsoluteValue",
        "ClipL2PerParamType"})
    void frozenGradientViewsStayZeroAcrossSteps(GradientNormalization normalization) {
        MultiLayerNetwork net = denseClassifier(Fixtures.base(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 455)
                .l2(0.5).weightDecay(0.1).gradientNormalization(normalization).gradientNormalizationThreshold(0.5));
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).dora(true).build(), net,
                Targets.all());
        Map<String, INDArray> before = snapshot(a.network());
        INDArray x = Fixtures.denseInput(6, DataType.FLOAT, 456);
        INDArray y = Fixtures.labels(6, DataType.FLOAT, 457);
        for (int i = 0; i < 5; i++) {
            a.network().fit(x, y);
            for (String key : new String[] {"0_W", "0_b", "1_W", "1_b"}) {
                INDArray view = a.network().gradient().gradientForVariable().get(key);
                assertEquals(0.0, view.amaxNumber().doubleValue(), key + " gradient after step " + i + ", " + normalization);
            }
        }
        assertOnlyAdaptersChanged(before, a.network(), normalization.toString());
    }

    /** A tanh dense layer and a softmax output layer on {@code base}'s settings, initialised. */
    private static MultiLayerNetwork denseClassifier(NeuralNetConfiguration.Builder base) {
        MultiLayerConfiguration conf = base.list()
                .layer(new DenseLayer.Builder().name("dense_0").nIn(Fixtures.DENSE_IN).nOut(Fixtures.DENSE_HIDDEN)
                        .activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nIn(Fixtures.DENSE_HIDDEN)
                        .nOut(Fixtures.CLASSES).activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    @ParameterizedTest(name = "{0} seed={1}")
    @CsvSource({"denseMln, 461", "denseGraph, 462", "convMln, 463", "convGraph, 464"})
    void workspaceModesGiveTheSameResults(String arch, long seed) {
        LokrAdapter adapter = GradientCheckTest.options("allOfThem", arch.startsWith("conv"));
        LokrNetwork<?> on = GradientCheckTest.adapt(adapter, network(arch, DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), seed));
        LokrNetwork<?> off = GradientCheckTest.adapt(adapter, network(arch, DataType.FLOAT, WorkspaceMode.NONE, new Adam(1e-2), seed));
        Checks.assertBitIdentical(on.network().params(), off.network().params(), "initial params, " + arch);
        Fixtures.randomizeAdapters(on, seed + 1);
        Fixtures.randomizeAdapters(off, seed + 1);
        INDArray x = LokrNetworkTest.input(arch, seed + 2);
        INDArray y = Fixtures.labels((int) x.size(0), DataType.FLOAT, seed + 3);
        Checks.assertClose(LokrNetworkTest.output(on.network(), x), LokrNetworkTest.output(off.network(), x), 1e-6,
                "inference, " + arch);
        for (int i = 0; i < 3; i++) {
            fit(on.network(), x, y);
            fit(off.network(), x, y);
        }
        Checks.assertClose(on.network().params(), off.network().params(), 1e-5, "params after fit, " + arch);
        Checks.assertClose(LokrNetworkTest.output(on.network(), x), LokrNetworkTest.output(off.network(), x), 1e-5,
                "inference after fit, " + arch);
    }

    /** Counts iterations. */
    static final class Counter extends BaseTrainingListener {
        final AtomicInteger iterations = new AtomicInteger();

        @Override
        public void iterationDone(org.deeplearning4j.nn.api.Model model, int iteration, int epoch) {
            iterations.incrementAndGet();
        }
    }

    @Test
    void listenersCarryOverAndSeeEveryIteration() {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 471);
        Counter counter = new Counter();
        net.setListeners(counter);
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(), net, Targets.all());
        INDArray x = Fixtures.denseInput(4, DataType.FLOAT, 472);
        INDArray y = Fixtures.labels(4, DataType.FLOAT, 473);
        for (int i = 0; i < 3; i++) {
            a.network().fit(x, y);
        }
        assertEquals(3, counter.iterations.get());
        Counter graphCounter = new Counter();
        ComputationGraph g = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(),
                Fixtures.denseGraph(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 474), Targets.all()).network();
        g.setListeners(graphCounter);
        g.fit(new INDArray[] {x}, new INDArray[] {y});
        assertEquals(1, graphCounter.iterations.get());
    }

    @ParameterizedTest
    @EnumSource(value = ParallelWrapper.TrainingMode.class, names = {"AVERAGING", "SHARED_GRADIENTS"})
    void parallelWrapperWithTwoWorkersTrainsOnlyTheAdapters(ParallelWrapper.TrainingMode mode) {
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).dora(true).build(),
                Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(2e-2), 481), Targets.all());
        Map<String, INDArray> before = snapshot(a.network());
        List<DataSet> batches = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            batches.add(new DataSet(Fixtures.denseInput(4, DataType.FLOAT, 490 + i), Fixtures.labels(4, DataType.FLOAT, 500 + i)));
        }
        Counter counter = new Counter();
        a.network().setListeners(counter);
        ParallelWrapper pw = new ParallelWrapper.Builder<>(a.network()).workers(2).prefetchBuffer(2)
                .averagingFrequency(1).trainingMode(mode).build();
        try {
            pw.fit(new ListDataSetIterator<>(batches, 1));
        } finally {
            pw.shutdown();
        }
        assertOnlyAdaptersChanged(before, a.network(), "ParallelWrapper " + mode);
        assertTrue(counter.iterations.get() > 0, "listener called under ParallelWrapper " + mode);
    }

    @ParameterizedTest(name = "{0} seed={1}")
    @CsvSource({"denseMln, 511", "convGraph, 512"})
    void rankAndModuleDropoutApplyOnlyWhenTraining(String arch, long seed) {
        boolean conv = arch.startsWith("conv");
        LokrAdapter plain = LokrAdapter.builder().rank(conv ? 1 : 2).build();
        Model base = network(arch, DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), seed);
        LokrNetwork<?> reference = GradientCheckTest.adapt(plain, base);
        LokrNetwork<?> rank = GradientCheckTest.adapt(plain.toBuilder().rankDropout(0.5).rankDropoutScale(true).build(), base);
        for (LokrNetwork<?> n : List.of(reference, rank)) {
            Fixtures.randomizeAdapters(n, seed + 1);
        }
        INDArray x = LokrNetworkTest.input(arch, seed + 2);
        INDArray on = LokrNetworkTest.output(reference.network(), x);
        Checks.assertBitIdentical(on, LokrNetworkTest.output(rank.network(), x), "rank dropout at inference, " + arch);
        int rankDiffers = 0;
        for (int i = 0; i < 24; i++) {
            if (Checks.maxAbsDiff(on, trainingOutput(rank.network(), x)) > 1e-6) {
                rankDiffers++;
            }
        }
        assertTrue(rankDiffers >= 20, "rank dropout changed " + rankDiffers + " of 24 training passes, " + arch);

        // module dropout on one layer: each training pass uses the whole adapter or none of it
        LokrAdapter dropped = plain.toBuilder().moduleDropout(0.5).build();
        LokrNetwork<?> module = base instanceof MultiLayerNetwork
                ? LokrNetworks.apply(dropped, (MultiLayerNetwork) base, Targets.names(conv ? "conv_0" : "dense_0"))
                : LokrNetworks.apply(dropped, (ComputationGraph) base, Targets.names(conv ? "conv_0" : "dense_0"));
        Fixtures.randomizeAdapters(module, seed + 3);
        INDArray kept = LokrNetworkTest.output(module.network(), x);
        INDArray skipped = LokrNetworkTest.output(base, x);
        assertTrue(Checks.maxAbsDiff(kept, skipped) > 1e-3, "the adapter matters, " + arch);
        Checks.assertBitIdentical(kept, LokrNetworkTest.output(module.network(), x), "module dropout at inference, " + arch);
        int nSkipped = 0;
        int nKept = 0;
        for (int i = 0; i < 24; i++) {
            INDArray m = trainingOutput(module.network(), x);
            if (Checks.maxAbsDiff(skipped, m) <= 1e-5) {
                nSkipped++;
            } else {
                Checks.assertClose(kept, m, 1e-5, "module dropout keeps the whole adapter, " + arch);
                nKept++;
            }
        }
        assertTrue(nSkipped >= 3 && nKept >= 3, "module dropout skipped " + nSkipped + " and kept " + nKept + " of 24, " + arch);
    }

    private static INDArray trainingOutput(Model net, INDArray x) {
        return net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).output(x, true)
                : ((ComputationGraph) net).output(true, x)[0];
    }

    /**
     * A training step uses one rank-dropout mask in forward and backward: the backprop gradient matches the
     * central difference of fresh, identically seeded networks (which draw the same mask).
     */
    @ParameterizedTest(name = "{0} seed={1}")
    @CsvSource({"denseMln, 521", "convMln, 522"})
    void rankDropoutGradientUsesTheForwardMask(String arch, long seed) {
        DataType saved = Nd4j.dataType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        try {
            boolean conv = arch.startsWith("conv");
            INDArray x = conv ? Fixtures.convInput(3, DataType.DOUBLE, seed + 1) : Fixtures.denseInput(4, DataType.DOUBLE, seed + 1);
            INDArray y = Fixtures.labels((int) x.size(0), DataType.DOUBLE, seed + 2);
            MultiLayerNetwork a = droppedNet(arch, seed);
            a.setInput(x);
            a.setLabels(y);
            a.computeGradientAndScore();
            INDArray grad = a.gradient().gradient().dup();
            MultiLayerNetwork noDrop = droppedNet(arch, seed);
            LokrNetwork.of(noDrop).layerConf(Networks.name(noDrop.getLayer(0))).setRankDropout(0);
            assertTrue(Math.abs(noDrop.score(new DataSet(x, y), true) - a.score()) > 1e-6, "the mask must matter, " + arch);
            List<Long> positions = adapterPositions(a);
            double eps = 1e-6;
            for (int j = 0; j < positions.size(); j += Math.max(1, positions.size() / 12)) {
                long k = positions.get(j);
                double plus = perturbedScore(arch, seed, k, eps, x, y);
                double minus = perturbedScore(arch, seed, k, -eps, x, y);
                double numeric = (plus - minus) / (2 * eps);
                double analytic = grad.getDouble(k) / x.size(0);
                assertTrue(Math.abs(numeric - analytic) <= 1e-6 + 1e-5 * Math.abs(numeric),
                        "param " + k + ": numeric " + numeric + " vs backprop " + analytic + ", " + arch + " seed=" + seed);
            }
        } finally {
            Nd4j.setDefaultDataTypes(saved, saved);
        }
    }

    private static MultiLayerNetwork droppedNet(String arch, long seed) {
        MultiLayerNetwork base = arch.startsWith("conv") ? Fixtures.convMln(DataType.DOUBLE, WorkspaceMode.ENABLED, new NoOp(), seed)
                : Fixtures.denseMln(DataType.DOUBLE, WorkspaceMode.ENABLED, new NoOp(), seed);
        LokrAdapter adapter = LokrAdapter.builder().rank(arch.startsWith("conv") ? 1 : 2).dora(true).rankDropout(0.5).build();
        LokrNetwork<MultiLayerNetwork> n = LokrNetworks.apply(adapter, base, Targets.all());
        Fixtures.randomizeAdapters(n, seed + 3);
        return n.network();
    }

    private static double perturbedScore(String arch, long seed, long k, double delta, INDArray x, INDArray y) {
        MultiLayerNetwork n = droppedNet(arch, seed);
        INDArray p = n.params();
        p.putScalar(k, p.getDouble(k) + delta);
        return n.score(new DataSet(x, y), true);
    }

    private static List<Long> adapterPositions(MultiLayerNetwork net) {
        List<Long> out = new ArrayList<>();
        long offset = 0;
        for (Layer l : net.getLayers()) {
            for (Map.Entry<String, INDArray> e : l.paramTable().entrySet()) {
                if (l instanceof BaseLokrLayerImpl && LokrLayer.isAdapterParam(e.getKey())) {
                    for (long i = 0; i < e.getValue().length(); i++) {
                        out.add(offset + i);
                    }
                }
                offset += e.getValue().length();
            }
        }
        return out;
    }

    /** The base layers' input dropout acts on adapted layers exactly as on the originals. */
    @Test
    void inputDropoutAndLabelMasksBehaveAsInTheBaseLayer() {
        MultiLayerConfiguration conf = Fixtures.base(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 531).list()
                .layer(new ConvolutionLayer.Builder(3, 3).name("conv_0").nOut(Fixtures.CONV_OUT).dropOut(0.7)
                        .activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().name("dense_0").nOut(10).dropOut(0.6).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(Fixtures.CLASSES)
                        .dropOut(0.8).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(Fixtures.IMAGE, Fixtures.IMAGE, Fixtures.CONV_IN))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        MultiLayerNetwork adapted = LokrNetworks.apply(LokrAdapter.builder().rank(1).build(), net, Targets.all()).network();
        INDArray x = Fixtures.convInput(4, DataType.FLOAT, 532);
        Nd4j.getRandom().setSeed(533);
        INDArray expected = net.output(x, true);
        Nd4j.getRandom().setSeed(533);
        INDArray actual = adapted.output(x, true);
        assertTrue(Checks.maxAbsDiff(net.output(x, false), expected) > 1e-3, "dropout is active in training");
        Checks.assertClose(expected, actual, 1e-5, "training output with input dropout");

        INDArray y = Fixtures.labels(4, DataType.FLOAT, 534);
        INDArray perExample = Nd4j.create(new float[] {1, 0, 1, 1}, new long[] {4, 1});
        INDArray perOutput = Fixtures.uniform(new long[] {4, Fixtures.CLASSES}, 0, 1, DataType.FLOAT, 535).gt(0.3).castTo(DataType.FLOAT);
        for (INDArray mask : List.of(perExample, perOutput)) {
            DataSet ds = new DataSet(x, y, null, mask);
            assertEquals(net.score(ds), adapted.score(ds), 1e-5, "score with label mask " + mask.shapeInfoToString());
            Checks.assertClose(net.scoreExamples(ds, false), adapted.scoreExamples(ds, false), 1e-5, "per-example scores");
        }
    }
}
