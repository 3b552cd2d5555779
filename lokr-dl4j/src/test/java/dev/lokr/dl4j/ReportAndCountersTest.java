package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.schedule.ExponentialSchedule;
import org.nd4j.linalg.schedule.FixedSchedule;
import org.nd4j.linalg.schedule.ScheduleType;

/**
 * What the mutation review of the wrapper / learning-rate changes found untested: report()'s count of frozen
 * values in other layers (freezeOthers' zero-rate updater, a non-adapted layer inside a FrozenLayer, an adapted
 * layer inside one), that only a zero FixedSchedule marks freezeOthers' updater, and that adapting starts the
 * epoch count at 0 as it does the iteration count.
 */
class ReportAndCountersTest {

    /** dense_0: 24 * 36 + 36 values; out: 36 * 6 + 6. */
    private static final long DENSE_0 = 900;
    private static final long OUT = 222;

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    private static Model network(boolean graph, long seed) {
        return graph ? Fixtures.denseGraph(DataType.DOUBLE, WorkspaceMode.ENABLED, new Sgd(0.1), seed)
                : Fixtures.denseMln(DataType.DOUBLE, WorkspaceMode.ENABLED, new Sgd(0.1), seed);
    }

    private static Model adapt(Model net, String target, boolean freezeOthers) {
        LokrAdapter adapter = LokrAdapter.builder().rank(2).seed(3).build();
        return net instanceof MultiLayerNetwork
                ? LokrNetworks.apply(adapter, (MultiLayerNetwork) net, Targets.names(target), freezeOthers).network()
                : LokrNetworks.apply(adapter, (ComputationGraph) net, Targets.names(target), freezeOthers).network();
    }

    private static LokrNetwork<?> of(Model net) {
        return net instanceof MultiLayerNetwork ? LokrNetwork.of((MultiLayerNetwork) net)
                : LokrNetwork.of((ComputationGraph) net);
    }

    private static Model freezeDense0(Model net) {
        return net instanceof MultiLayerNetwork
                ? new TransferLearning.Builder((MultiLayerNetwork) net).setFeatureExtractor(0).build()
                : new TransferLearning.GraphBuilder((ComputationGraph) net).setFeatureExtractor("dense_0").build();
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void reportCountsTheLayersFreezeOthersFroze(boolean graph) {
        String report = of(adapt(network(graph, 11), "dense_0", true)).report();
        assertTrue(report.contains(OUT + " in other layers (" + OUT + " of them frozen)"),
                "graph=" + graph + ": out has freezeOthers' zero-rate updater\n" + report);
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void reportCountsAPlainLayerInsideAFrozenWrapper(boolean graph) {
        String report = of(freezeDense0(adapt(network(graph, 12), "out", false))).report();
        assertTrue(report.contains(DENSE_0 + " in other layers (" + DENSE_0 + " of them frozen)"),
                "graph=" + graph + ": dense_0 is inside TransferLearning's FrozenLayer\n" + report);
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void anAdaptedLayerInsideAFrozenWrapperIsNoOtherLayer(boolean graph) {
        String report = of(freezeDense0(adapt(network(graph, 13), ".*", false))).report();
        assertTrue(report.contains(" 0 in other layers (0 of them frozen)"),
                "graph=" + graph + ": dense_0's W and b are an adapted layer's, not another layer's\n" + report);
    }

    @Test
    void onlyAZeroFixedScheduleIsFreezeOthersMark() {
        Sgd fixedNonZero = new Sgd(new FixedSchedule(0.1));
        assertFalse(Frozen.isFreezeOthersUpdater(fixedNonZero), "Sgd at FixedSchedule(0.1) trains");
        assertFalse(Frozen.isZeroRate(fixedNonZero), "Sgd at FixedSchedule(0.1) has a rate");
        assertFalse(Frozen.isFrozenUpdater(fixedNonZero), "Sgd at FixedSchedule(0.1) is no frozen updater");
        assertTrue(Frozen.isFreezeOthersUpdater(Frozen.updater()), "the mark itself");
        Sgd scheduled = new Sgd(new ExponentialSchedule(ScheduleType.ITERATION, 0.1, 0.5));
        assertFalse(Frozen.isFreezeOthersUpdater(scheduled), "Sgd on another schedule trains");
        assertFalse(Frozen.isFrozenUpdater(scheduled), "Sgd on another schedule is no frozen updater");
    }

    @Test
    void aRateCanFollowASchedule() {
        Model net = adapt(network(false, 15), "dense_0", false);
        LokrNetwork<?> a = of(net);
        a.setLearningRate(new ExponentialSchedule(ScheduleType.ITERATION, 0.1, 0.5));
        a.setLearningRate(0.05);   // looks at the scheduled Sgd updaters again
        assertEquals(0.05, ((MultiLayerNetwork) net).getLayerWiseConfigurations().getConf(1).getLayer()
                .getUpdaterByParam("W").getLearningRate(0, 0), 0.0, "out's rate");
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void adaptingAndMergingStartTheEpochCountAtZero(boolean graph) {
        Model pretrained = network(graph, 14);
        if (graph) {
            ((ComputationGraph) pretrained).getConfiguration().setEpochCount(3);
        } else {
            ((MultiLayerNetwork) pretrained).getLayerWiseConfigurations().setEpochCount(3);
        }
        assertEquals(3, epochs(pretrained), "graph=" + graph + ": set up");
        Model adapted = adapt(pretrained, "dense_0", false);
        assertEquals(0, epochs(adapted), "graph=" + graph + ": adapted");
        assertEquals(0, epochs(of(adapted).merge()), "graph=" + graph + ": merged");
    }

    private static int epochs(Model net) {
        return net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).getEpochCount()
                : ((ComputationGraph) net).getEpochCount();
    }

    /**
     * DL4J's graph sets every layer's nIn from the input types it is asked about: the memory report asks on a
     * copy, so a mistaken input type leaves the live network, and its adapters, as they were.
     */
    @Test
    void aMemoryReportWithAnotherInputTypeLeavesTheNetworkAlone() {
        LokrNetwork<ComputationGraph> a = LokrNetworks.apply(
                LokrAdapter.builder().rank(2).build(),
                Fixtures.denseGraph(DataType.FLOAT, WorkspaceMode.ENABLED,
                        new Sgd(0.1), 5), Targets.all());
        INDArray x = Fixtures.denseInput(3, DataType.FLOAT, 6);
        INDArray before = a.network().outputSingle(x).dup();
        dev.lokr.dl4j.train.MemoryReport.of(a.network(), 4,
                org.deeplearning4j.nn.conf.inputs.InputType.feedForward(Fixtures.DENSE_IN + 1));
        assertEquals(Fixtures.DENSE_IN,
                ((org.deeplearning4j.nn.conf.layers.FeedForwardLayer) a.layerConf("dense_0").getBase()).getNIn());
        assertEquals(before, a.network().outputSingle(x));
    }
}
