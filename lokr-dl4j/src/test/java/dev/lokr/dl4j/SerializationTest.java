package dev.lokr.dl4j;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.conf.LokrLayer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.dropout.Dropout;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.Sgd;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ModelSerializer and JSON round trips of adapted networks. */
class SerializationTest {

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    private static void fit(Model net, INDArray x, INDArray y) {
        if (net instanceof MultiLayerNetwork) {
            ((MultiLayerNetwork) net).fit(x, y);
        } else {
            ((ComputationGraph) net).fit(new INDArray[] {x}, new INDArray[] {y});
        }
    }

    private static INDArray updaterState(Model net) {
        return net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).getUpdater().getStateViewArray()
                : ((ComputationGraph) net).getUpdater().getStateViewArray();
    }

    private static String json(Model net) {
        return net instanceof MultiLayerNetwork ? ((MultiLayerNetwork) net).getLayerWiseConfigurations().toJson()
                : ((ComputationGraph) net).getConfiguration().toJson();
    }

    @ParameterizedTest(name = "{0} {1} seed={2}")
    @CsvSource({"denseMln, plain, 301", "denseMln, allOfThem, 302", "convMln, allOfThem, 303",
            "denseGraph, doraOnInput, 304", "convGraph, allOfThem, 305"})
    void roundTripKeepsConfigParamsUpdaterStateAndOutputs(String arch, String option, long seed) throws IOException {
        String id = arch + " " + option + " seed=" + seed;
        LokrNetwork<?> adapted = GradientCheckTest.adapt(GradientCheckTest.options(option, arch.startsWith("conv")),
                LokrNetworkTest.network(arch, seed));
        Fixtures.randomizeAdapters(adapted, seed + 1);
        adapted.setMultiplier(0.8);
        Model net = adapted.network();
        INDArray x = LokrNetworkTest.input(arch, seed + 2);
        INDArray y = Fixtures.labels((int) x.size(0), DataType.FLOAT, seed + 3);
        for (int i = 0; i < 3; i++) {
            fit(net, x, y);
        }
        File file = dir.resolve("adapted.zip").toFile();
        ModelSerializer.writeModel(net, file, true);
        Model restored = net instanceof MultiLayerNetwork ? ModelSerializer.restoreMultiLayerNetwork(file, true)
                : ModelSerializer.restoreComputationGraph(file, true);

        assertEquals(json(net), json(restored), "configuration JSON, " + id);
        Checks.assertBitIdentical(net.params(), restored.params(), "params, " + id);
        INDArray state = updaterState(net);
        assertTrue(state != null && state.length() == 2 * adapted.adapterParamCount(),
                "Adam state covers the adapter tensors only, " + id);
        Checks.assertBitIdentical(state, updaterState(restored), "updater state, " + id);
        Checks.assertBitIdentical(LokrNetworkTest.output(net, x), LokrNetworkTest.output(restored, x), "outputs, " + id);

        LokrNetwork<?> again = restored instanceof MultiLayerNetwork ? LokrNetwork.of((MultiLayerNetwork) restored)
                : LokrNetwork.of((ComputationGraph) restored);
        assertEquals(adapted.adaptedLayers(), again.adaptedLayers(), id);
        assertEquals(adapted.layouts(), again.layouts(), id);
        assertEquals(0.8, again.getMultiplier(), id);

        fit(net, x, y);
        fit(restored, x, y);
        Checks.assertClose(net.params(), restored.params(), 1e-6, "params after one more step, " + id);
    }

    @Test
    void aRestoredPlainNetworkCanBeAdapted() throws IOException {
        MultiLayerNetwork net = Fixtures.convMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 311);
        File file = dir.resolve("plain.zip").toFile();
        ModelSerializer.writeModel(net, file, false);
        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(file, false);
        LokrAdapter adapter = LokrAdapter.builder().rank(1).dora(true).build();
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(adapter, restored, Targets.all());
        LokrNetwork<MultiLayerNetwork> b = LokrNetworks.apply(adapter, net, Targets.all());
        Checks.assertBitIdentical(b.network().params(), a.network().params(), "adapting the restored network");
        INDArray x = Fixtures.convInput(2, DataType.FLOAT, 312);
        Checks.assertClose(net.output(x), a.network().output(x), 1e-5, "output of the adapted restored network");
    }

    @Test
    void jsonKeepsEveryLokrField() {
        MultiLayerNetwork net = Fixtures.denseMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 321);
        LokrAdapter adapter = LokrAdapter.builder().rank(3).alpha(5).factor(4).decomposeBoth(true).tucker(true)
                .scalar(true).dora(true).doraOnInput(true).detachNorm(true).rsLora(true).fullMatrix(true)
                .unbalancedFactorization(true).rankDropout(0.25).rankDropoutScale(true).moduleDropout(0.125)
                .multiplier(0.75).seed(99).build();
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(adapter, net, Targets.all());
        LokrLayer conf = a.layerConf("dense_0");
        conf.setEnabled(false);
        ((dev.lokr.dl4j.layers.BaseLokrLayerImpl) a.network().getLayer("dense_0")).setAdapterScale(0.3);
        conf.setUpdater(new Sgd(0.5));
        conf.setIDropout(new Dropout(0.7));
        MultiLayerConfiguration c = a.network().getLayerWiseConfigurations();
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(c.toJson());
        LokrLayer restored = (LokrLayer) back.getConf(0).getLayer();
        assertEquals(conf, restored);
        assertEquals(adapter, restored.options());
        assertFalse(restored.isEnabled());
        assertEquals(0.3, restored.getScale());
        assertEquals(new Sgd(0.5), restored.getUpdater());
        assertEquals(new Dropout(0.7), restored.getIDropout());
        assertEquals(new Dropout(0.7), restored.getBase().getIDropout());
        assertEquals(c, back);

        ComputationGraph g = Fixtures.denseGraph(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 322);
        ComputationGraphConfiguration gc = LokrNetworks.apply(adapter, g, Targets.all()).network().getConfiguration();
        assertEquals(gc, ComputationGraphConfiguration.fromJson(gc.toJson()));
    }
}
