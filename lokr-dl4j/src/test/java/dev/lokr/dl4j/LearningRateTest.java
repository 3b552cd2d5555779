package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.schedule.ExponentialSchedule;
import org.nd4j.linalg.schedule.ScheduleType;

/**
 * {@link LokrNetwork#setLearningRate(double)}: DL4J's own {@code setLearningRate} reaches only DL4J's layer types,
 * so lokr has one that reaches the adapters and leaves what {@code freezeOthers} froze alone. And adapting a
 * pretrained network starts its (fresh) updater at iteration 0.
 */
class LearningRateTest {

    private static final int N = 8;

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    private static Model network(boolean graph, IUpdater updater, long seed) {
        return graph ? Fixtures.denseGraph(DataType.DOUBLE, WorkspaceMode.ENABLED, updater, seed)
                : Fixtures.denseMln(DataType.DOUBLE, WorkspaceMode.ENABLED, updater, seed);
    }

    @SuppressWarnings("unchecked")
    private static LokrNetwork<Model> adapt(Model net, boolean freezeOthers) {
        LokrAdapter adapter = LokrAdapter.builder().rank(2).scalar(true).seed(5).build();
        Model adapted = net instanceof MultiLayerNetwork
                ? LokrNetworks.apply(adapter, (MultiLayerNetwork) net, Targets.names("dense_0"), freezeOthers).network()
                : LokrNetworks.apply(adapter, (ComputationGraph) net, Targets.names("dense_0"), freezeOthers).network();
        return (LokrNetwork<Model>) (LokrNetwork<?>) LokrNetwork.wrap(adapted);
    }

    private static DataSet batch(long seed) {
        return new DataSet(Fixtures.denseInput(N, DataType.DOUBLE, seed), Fixtures.labels(N, DataType.DOUBLE, seed + 1));
    }

    private static void fit(Model net, DataSet d) {
        if (net instanceof MultiLayerNetwork) {
            ((MultiLayerNetwork) net).fit(d);
        } else {
            ((ComputationGraph) net).fit(d);
        }
    }

    /** Every parameter, keyed "layer/param", copied. */
    private static Map<String, INDArray> snapshot(Model net) {
        Map<String, INDArray> m = new LinkedHashMap<>();
        for (Layer l : Networks.layers(net)) {
            l.paramTable().forEach((k, v) -> m.put(Networks.name(l) + "/" + k, v.dup()));
        }
        return m;
    }

    private static Map<String, INDArray> deltas(Map<String, INDArray> before, Map<String, INDArray> after) {
        Map<String, INDArray> m = new LinkedHashMap<>();
        before.forEach((k, v) -> m.put(k, after.get(k).sub(v)));
        return m;
    }

    private static boolean isAdapter(String key) {
        return key.startsWith("dense_0/lokr");
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void aNewRateScalesEveryTrainingStepAndKeepsTheUpdaterState(boolean graph) {
        // two identical networks, trained identically, so they hold the same Adam moments
        LokrNetwork<Model> a = adapt(network(graph, new Adam(1e-2), 31), false);
        LokrNetwork<Model> b = adapt(network(graph, new Adam(1e-2), 31), false);
        Fixtures.randomizeAdapters(a, 7);
        Fixtures.randomizeAdapters(b, 7);
        for (int step = 0; step < 3; step++) {
            fit(a.network(), batch(100 + step));
            fit(b.network(), batch(100 + step));
        }
        b.setLearningRate(3e-2);
        Map<String, INDArray> before = snapshot(a.network());
        fit(a.network(), batch(200));
        fit(b.network(), batch(200));
        Map<String, INDArray> da = deltas(before, snapshot(a.network()));
        Map<String, INDArray> db = deltas(before, snapshot(b.network()));
        int adapters = 0;
        for (String k : da.keySet()) {
            String ctx = "graph=" + graph + " " + k;
            if (k.startsWith("dense_0/W") || k.startsWith("dense_0/b")) {
                assertEquals(0.0, db.get(k).amaxNumber().doubleValue(), ctx + ": frozen base moved");
                continue;
            }
            // Adam's step is proportional to the rate, for the adapters and for the other layer ('out') alike
            Checks.assertClose(da.get(k).mul(3.0), db.get(k), 1e-12, ctx);
            assertTrue(da.get(k).amaxNumber().doubleValue() > 1e-4, ctx + ": no step to compare");
            adapters += isAdapter(k) ? 1 : 0;
        }
        assertEquals(4, adapters, "w1, w2a, w2b and the scalar of dense_0");
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void rateZeroStopsTheAdaptersAndALaterRateResumesThem(boolean graph) {
        LokrNetwork<Model> a = adapt(network(graph, new Sgd(0.1), 41), false);
        Fixtures.randomizeAdapters(a, 9);
        fit(a.network(), batch(1));
        a.setLearningRate(0.0);
        assertTrue(a.report().contains(" in other layers (0 of them frozen)"),
                "a rate of 0 is a rate, not a freeze: " + a.report());
        Map<String, INDArray> before = snapshot(a.network());
        fit(a.network(), batch(2));
        Map<String, INDArray> after = snapshot(a.network());
        for (String k : before.keySet()) {
            Checks.assertBitIdentical(before.get(k), after.get(k), "graph=" + graph + " " + k + " at rate 0");
        }
        // Sgd(0) set by the user is a rate, not a freeze: a new rate applies again, as Sgd's plain step
        a.setLearningRate(0.05);
        Model net = a.network();
        DataSet d = batch(3);
        Map<String, INDArray> grads = gradients(net, d);
        Map<String, INDArray> start = snapshot(net);
        fit(net, d);
        Map<String, INDArray> moved = deltas(start, snapshot(net));
        for (String k : grads.keySet()) {
            if (isAdapter(k) || k.startsWith("out/")) {
                Checks.assertClose(grads.get(k).mul(-0.05 / N), moved.get(k), 1e-12, "graph=" + graph + " " + k);
            }
        }
    }

    /** The gradient of every parameter on one batch (summed over its examples; fit divides by N), keyed as {@link #snapshot}. */
    private static Map<String, INDArray> gradients(Model net, DataSet d) {
        if (net instanceof MultiLayerNetwork) {
            MultiLayerNetwork m = (MultiLayerNetwork) net;
            m.setInput(d.getFeatures());
            m.setLabels(d.getLabels());
            m.computeGradientAndScore();
        } else {
            ComputationGraph g = (ComputationGraph) net;
            g.setInputs(d.getFeatures());
            g.setLabels(d.getLabels());
            g.computeGradientAndScore();
        }
        Map<String, INDArray> m = new LinkedHashMap<>();
        net.gradient().gradientForVariable().forEach((k, v) -> {
            int cut = k.lastIndexOf('_');   // "0_W" in a MultiLayerNetwork, "dense_0_W" in a graph
            String layer = k.substring(0, cut);
            if (net instanceof MultiLayerNetwork) {
                layer = Networks.name(((MultiLayerNetwork) net).getLayer(Integer.parseInt(layer)));
            }
            m.put(layer + "/" + k.substring(cut + 1), v.dup());
        });
        return m;
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void layersFrozenByFreezeOthersStayFrozen(boolean graph) {
        LokrNetwork<Model> a = adapt(network(graph, new Sgd(0.1), 51), true);
        Fixtures.randomizeAdapters(a, 11);
        a.setLearningRate(0.3);
        Map<String, INDArray> before = snapshot(a.network());
        fit(a.network(), batch(4));
        Map<String, INDArray> after = snapshot(a.network());
        for (String k : before.keySet()) {
            boolean moved = !before.get(k).equals(after.get(k));
            assertEquals(isAdapter(k), moved, "graph=" + graph + " " + k + " moved=" + moved);
        }
    }

    @Test
    void aScheduleReplacesTheRateOfTheAdapters() {
        LokrNetwork<Model> a = adapt(network(false, new Sgd(0.1), 61), false);
        Fixtures.randomizeAdapters(a, 13);
        fit(a.network(), batch(5));
        fit(a.network(), batch(6));
        int iteration = ((MultiLayerNetwork) a.network()).getIterationCount();
        assertEquals(2, iteration);
        a.setLearningRate(new ExponentialSchedule(ScheduleType.ITERATION, 0.2, 0.5));
        DataSet d = batch(7);
        Map<String, INDArray> grads = gradients(a.network(), d);
        Map<String, INDArray> start = snapshot(a.network());
        fit(a.network(), d);
        Map<String, INDArray> moved = deltas(start, snapshot(a.network()));
        double rate = 0.2 * Math.pow(0.5, iteration);
        for (String k : grads.keySet()) {
            if (isAdapter(k)) {
                Checks.assertClose(grads.get(k).mul(-rate / N), moved.get(k), 1e-12, k);
            }
        }
    }

    @Test
    void theRateSurvivesModelSerializer() throws IOException {
        // Sgd: at rate 0 ND4J's Adam still steps by about its epsilon (it swaps a zero step size for epsilon)
        LokrNetwork<Model> a = adapt(network(false, new Sgd(0.1), 71), false);
        Fixtures.randomizeAdapters(a, 15);
        a.setLearningRate(0.0);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ModelSerializer.writeModel(a.network(), bytes, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(bytes.toByteArray()), true);
        Map<String, INDArray> before = snapshot(restored);
        restored.fit(batch(8));
        Map<String, INDArray> after = snapshot(restored);
        for (String k : before.keySet()) {
            Checks.assertBitIdentical(before.get(k), after.get(k), k);
        }
    }

    @Test
    void theFreezeOthersMarkSurvivesModelSerializer() throws IOException {
        LokrNetwork<Model> a = adapt(network(false, new Sgd(0.1), 75), true);
        Fixtures.randomizeAdapters(a, 17);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ModelSerializer.writeModel(a.network(), bytes, true);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(bytes.toByteArray()), true);
        IUpdater u = restored.getLayerWiseConfigurations().getConf(1).getLayer().getUpdaterByParam("W");
        assertTrue(Frozen.isFreezeOthersUpdater(u), String.valueOf(u));
        LokrNetwork.of(restored).setLearningRate(0.3);
        Map<String, INDArray> before = snapshot(restored);
        restored.fit(batch(9));
        Map<String, INDArray> after = snapshot(restored);
        for (String k : before.keySet()) {
            assertEquals(isAdapter(k), !before.get(k).equals(after.get(k)), k);
        }
    }

    @Test
    void badRatesAreRefused() {
        LokrNetwork<Model> a = adapt(network(false, new Adam(1e-2), 81), false);
        for (double bad : new double[] {-1e-3, Double.NaN, Double.POSITIVE_INFINITY}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.setLearningRate(bad));
            assertEquals("learningRate must be finite and >= 0, got " + bad, e.getMessage());
        }
        assertThrows(NullPointerException.class, () -> a.setLearningRate(null));
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void adaptingAPretrainedNetworkStartsItsFreshUpdaterAtIterationZero(boolean graph) {
        double lr = 1e-2;
        Model pretrained = network(graph, new Adam(lr), 91);
        for (int step = 0; step < 40; step++) {
            fit(pretrained, batch(300 + step));
        }
        LokrNetwork<Model> a = adapt(pretrained, true);
        assertEquals(0, iterations(a.network()), "graph=" + graph);
        assertEquals(0, iterations(a.merge()), "graph=" + graph + ": merged");
        // Adam's first step moves each value by at most the rate (bias-corrected m / sqrt(v) is +-1); a count
        // carried over from pretraining skips that correction and scaled it by 0.64 after 40 steps (3.2 after many)
        Map<String, INDArray> before = snapshot(a.network());
        fit(a.network(), batch(400));
        Map<String, INDArray> moved = deltas(before, snapshot(a.network()));
        double largest = 0;
        for (String k : moved.keySet()) {
            if (isAdapter(k)) {
                largest = Math.max(largest, moved.get(k).amaxNumber().doubleValue());
            }
        }
        assertTrue(largest > 0.9 * lr && largest <= lr * (1 + 1e-6), "graph=" + graph + ": largest step " + largest);
    }

    private static int iterations(Model net) {
        return net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).getIterationCount()
                : ((ComputationGraph) net).getIterationCount();
    }
}
