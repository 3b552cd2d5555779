package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import dev.lokr.io.AdapterFile;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.exception.DL4JInvalidInputException;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Sgd;

/**
 * Adapted layers that DL4J wrapped afterwards: {@code TransferLearning.setFeatureExtractor} puts a trained
 * adapter's layer inside a {@code FrozenLayer}. Such an adapter is still one of the network's: it is listed,
 * saved, loaded and merged (keeping the wrapper), and it does not train.
 */
class FrozenAdaptersTest {

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    /** dense_0 and out adapted with random adapters, then dense_0 frozen by TransferLearning. */
    private static Model featureExtractor(boolean graph) {
        LokrAdapter adapter = LokrAdapter.builder().rank(2).seed(3).build();
        if (graph) {
            LokrNetwork<ComputationGraph> a = LokrNetworks.apply(adapter,
                    Fixtures.denseGraph(DataType.DOUBLE, WorkspaceMode.ENABLED, new Sgd(0.2), 21), Targets.all());
            Fixtures.randomizeAdapters(a, 5);
            return new TransferLearning.GraphBuilder(a.network()).setFeatureExtractor("dense_0").build();
        }
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(adapter,
                Fixtures.denseMln(DataType.DOUBLE, WorkspaceMode.ENABLED, new Sgd(0.2), 21), Targets.all());
        Fixtures.randomizeAdapters(a, 5);
        return new TransferLearning.Builder(a.network()).setFeatureExtractor(0).build();
    }

    private static LokrNetwork<?> of(Model net) {
        return net instanceof MultiLayerNetwork ? LokrNetwork.of((MultiLayerNetwork) net)
                : LokrNetwork.of((ComputationGraph) net);
    }

    private static Layer confOf(Model net, String name) {
        if (net instanceof MultiLayerNetwork) {
            MultiLayerNetwork m = (MultiLayerNetwork) net;
            return m.getLayerWiseConfigurations().getConf(m.getLayer(name).getIndex()).getLayer();
        }
        return ((LayerVertex) ((ComputationGraph) net).getConfiguration().getVertices().get(name)).getLayerConf()
                .getLayer();
    }

    private static INDArray output(Model net, INDArray x) {
        return net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).output(x)
                : ((ComputationGraph) net).outputSingle(x);
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void aFrozenAdapterIsListedReportedAndDoesNotTrain(boolean graph) {
        Model fe = featureExtractor(graph);
        assertInstanceOf(FrozenLayer.class, confOf(fe, "dense_0"), "what TransferLearning makes of it");
        LokrNetwork<?> a = of(fe);
        assertEquals(List.of("dense_0", "out"), a.adaptedLayers());
        String report = a.report();
        assertTrue(report.contains("multiplier 1.0, frozen by its wrapper, 48 params\n"), report);
        assertTrue(report.contains("30 trainable (adapters; 48 more inside frozen wrappers)"), report);
        assertEquals(78, a.adapterParamCount());

        // a twin at three times the rate: out's adapter steps three times as far, dense_0's stays put in both
        Model twin = featureExtractor(graph);
        of(twin).setLearningRate(0.6);
        Map<String, LokrParams> before = a.adapterParams();
        DataSet d = new DataSet(Fixtures.denseInput(8, DataType.DOUBLE, 1), Fixtures.labels(8, DataType.DOUBLE, 2));
        fit(fe, d);
        fit(twin, d);
        Map<String, LokrParams> after = a.adapterParams();
        Map<String, LokrParams> afterTwin = of(twin).adapterParams();
        for (LokrParam p : before.get("dense_0").layout().params()) {
            Checks.assertBitIdentical(before.get("dense_0").get(p), after.get("dense_0").get(p), "dense_0 " + p);
            Checks.assertBitIdentical(before.get("dense_0").get(p), afterTwin.get("dense_0").get(p), "twin dense_0 " + p);
        }
        INDArray step = after.get("out").get(LokrParam.W2_B).sub(before.get("out").get(LokrParam.W2_B));
        INDArray twinStep = afterTwin.get("out").get(LokrParam.W2_B).sub(before.get("out").get(LokrParam.W2_B));
        assertTrue(step.amaxNumber().doubleValue() > 1e-6, "out trains");
        Checks.assertClose(step.mul(3), twinStep, graph ? 1e-6 : 1e-12, "the new rate reaches out's adapter");
    }

    private static void fit(Model net, DataSet d) {
        if (net instanceof ComputationGraph) {
            ((ComputationGraph) net).fit(d);
        } else {
            ((MultiLayerNetwork) net).fit(d);
        }
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void aFrozenAdaptersMultiplierIsSavedAndCloned(boolean graph) throws IOException {
        Model fe = featureExtractor(graph);
        of(fe).setMultiplier(0.25);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ModelSerializer.writeModel(fe, bytes, true);
        Model restored = graph
                ? ModelSerializer.restoreComputationGraph(new ByteArrayInputStream(bytes.toByteArray()), true)
                : ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(bytes.toByteArray()), true);
        Model cloned = graph ? ((ComputationGraph) fe).clone() : ((MultiLayerNetwork) fe).clone();
        INDArray x = Fixtures.denseInput(5, DataType.DOUBLE, 4);
        for (Model m : List.of(restored, cloned)) {
            assertEquals(0.25, of(m).layerConf("dense_0").getMultiplier(), 0.0, "graph=" + graph);
            Checks.assertClose(output(fe, x), output(m, x), 1e-12, "graph=" + graph);
        }
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void aFrozenAdapterIsSavedLoadedAndMergedInsideItsWrapper(boolean graph) throws IOException {
        Model fe = featureExtractor(graph);
        LokrNetwork<?> a = of(fe);
        Path file = dir.resolve("adapter.safetensors");
        a.saveAdapter(file);
        try (AdapterFile read = AdapterFile.read(file)) {
            assertEquals(Set.of("lycoris_dense_0", "lycoris_out"), Set.copyOf(read.modules()));
        }
        Map<String, LokrParams> saved = a.adapterParams();
        Fixtures.randomizeAdapters(a, 99);
        a.loadAdapter(file);
        Map<String, LokrParams> loaded = a.adapterParams();
        for (LokrParam p : saved.get("dense_0").layout().params()) {
            Checks.assertBitIdentical(saved.get("dense_0").get(p), loaded.get("dense_0").get(p), "reloaded " + p);
        }

        Model merged = a.merge();
        Layer wrapper = confOf(merged, "dense_0");
        assertInstanceOf(FrozenLayer.class, wrapper, "the wrapper is kept");
        assertInstanceOf(DenseLayer.class, ((FrozenLayer) wrapper).getLayer(), "around the plain base layer");
        org.deeplearning4j.nn.api.Layer runtime = merged instanceof MultiLayerNetwork
                ? ((MultiLayerNetwork) merged).getLayer("dense_0") : ((ComputationGraph) merged).getLayer("dense_0");
        assertEquals(Set.of("W", "b"), runtime.paramTable().keySet());
        assertEquals(0, merged.numParams() - (a.totalParamCount() - a.adapterParamCount()));
        INDArray x = Fixtures.denseInput(5, DataType.DOUBLE, 3);
        // DL4J's TransferLearning.GraphBuilder builds a FLOAT graph from a DOUBLE one
        Checks.assertClose(output(fe, x), output(merged, x), graph ? 1e-6 : 1e-12, "graph=" + graph + ": merged vs adapted");
    }

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void aNetworkWithAFrozenAdapterCannotBeAdaptedAgain(boolean graph) {
        Model fe = featureExtractor(graph);
        LokrAdapter adapter = LokrAdapter.builder().build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> {
            if (graph) {
                LokrNetworks.apply(adapter, (ComputationGraph) fe, Targets.all());
            } else {
                LokrNetworks.apply(adapter, (MultiLayerNetwork) fe, Targets.all());
            }
        });
        assertTrue(e.getMessage().startsWith("the network already has LoKR adapters on [dense_0, out]"), e.getMessage());
    }

    @org.junit.jupiter.api.Test
    void anInputThatNoLongerFitsAnAdaptedLayerIsNamedWithTheLikelyCause() {
        // what a TransferLearning nOutReplace on the layer before a LoKR layer can leave behind
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(),
                Fixtures.denseMln(DataType.DOUBLE, WorkspaceMode.ENABLED, new Sgd(0.2), 21), Targets.names("dense_0"));
        Exception e = assertThrows(DL4JInvalidInputException.class,
                () -> a.network().output(Fixtures.uniform(new long[] {2, 7}, -1, 1, DataType.DOUBLE, 1)));
        assertTrue(e.getMessage().contains("layer 'dense_0' (LoKR over DenseLayer) needs input [N, 24], got [2, 7]"),
                e.getMessage());
        assertTrue(e.getMessage().contains("if TransferLearning's nOutReplace resized the layer before it"),
                e.getMessage());
    }
}
