package dev.lokr.dl4j;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.layers.BaseLokrLayerImpl;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link LokrNetworks#apply(dev.lokr.LokrAdapter, MultiLayerNetwork, Targets, boolean)}: freezing the other layers. */
class FreezeTest {

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    /** dense_0 (24 -> 36) -> dense_1 (36 -> 36) -> out (36 -> 6), with L2 and weight decay on every layer. */
    private static Model network(boolean graph, long seed) {
        DenseLayer d0 = new DenseLayer.Builder().nIn(Fixtures.DENSE_IN).nOut(Fixtures.DENSE_HIDDEN).activation(Activation.TANH).build();
        DenseLayer d1 = new DenseLayer.Builder().nIn(Fixtures.DENSE_HIDDEN).nOut(Fixtures.DENSE_HIDDEN).activation(Activation.TANH).build();
        OutputLayer out = new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(Fixtures.DENSE_HIDDEN)
                .nOut(Fixtures.CLASSES).activation(Activation.SOFTMAX).build();
        if (graph) {
            ComputationGraphConfiguration conf = Fixtures.base(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), seed)
                    .l2(1e-2).weightDecay(1e-2).graphBuilder().addInputs("in")
                    .addLayer("dense_0", d0, "in").addLayer("dense_1", d1, "dense_0").addLayer("out", out, "dense_1")
                    .setOutputs("out").build();
            ComputationGraph net = new ComputationGraph(conf);
            net.init();
            return net;
        }
        d0.setLayerName("dense_0");
        d1.setLayerName("dense_1");
        out.setLayerName("out");
        MultiLayerConfiguration conf = Fixtures.base(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), seed)
                .l2(1e-2).weightDecay(1e-2).list().layer(d0).layer(d1).layer(out).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    private static Map<String, INDArray> params(Model net) {
        Map<String, INDArray> m = new LinkedHashMap<>();
        for (Layer l : Networks.layers(net)) {
            for (Map.Entry<String, INDArray> e : l.paramTable().entrySet()) {
                m.put(Networks.name(l) + "." + e.getKey(), e.getValue().dup());
            }
        }
        return m;
    }

    @ParameterizedTest(name = "graph={0} freeze={1} seed={2}")
    @CsvSource({"false, true, 501", "true, true, 502", "false, false, 503", "true, false, 504"})
    void frozenLayersKeepTheirBitsAndTheOthersTrain(boolean graph, boolean freeze, long seed) {
        String id = "graph=" + graph + " freeze=" + freeze + " seed=" + seed;
        Model base = network(graph, seed);
        LokrAdapter adapter = LokrAdapter.builder().rank(2).build();
        Targets targets = Targets.names("dense_0");
        LokrNetwork<?> adapted = graph ? LokrNetworks.apply(adapter, (ComputationGraph) base, targets, freeze)
                : LokrNetworks.apply(adapter, (MultiLayerNetwork) base, targets, freeze);
        INDArray x = Fixtures.denseInput(8, DataType.FLOAT, seed + 1);
        INDArray y = Fixtures.labels(8, DataType.FLOAT, seed + 2);
        Checks.assertClose(LokrNetworkTest.output(base, x), LokrNetworkTest.output(adapted.network(), x), 1e-6,
                "outputs right after apply, " + id);
        Map<String, INDArray> before = params(adapted.network());
        for (int i = 0; i < 3; i++) {
            if (graph) {
                ((ComputationGraph) adapted.network()).fit(new INDArray[] {x}, new INDArray[] {y});
            } else {
                ((MultiLayerNetwork) adapted.network()).fit(x, y);
            }
        }
        Map<String, INDArray> after = params(adapted.network());
        for (Map.Entry<String, INDArray> e : before.entrySet()) {
            String key = e.getKey();
            INDArray now = after.get(key);
            boolean adapterTensor = key.startsWith("dense_0.lokr");
            boolean frozenBase = key.equals("dense_0.W") || key.equals("dense_0.b");
            boolean other = key.startsWith("dense_1.");
            boolean mustStay = frozenBase || ((other || key.startsWith("out.")) && freeze);
            if (mustStay) {
                Checks.assertBitIdentical(e.getValue(), now, key + " must stay, " + id);
            } else if (adapterTensor || other || key.startsWith("out.")) {
                assertTrue(Checks.maxAbsDiff(e.getValue(), now) > 0, key + " must train, " + id);
            }
        }
        boolean sawAdapter = false;
        for (Layer l : Networks.layers(adapted.network())) {
            sawAdapter |= l instanceof BaseLokrLayerImpl;
        }
        assertTrue(sawAdapter, "dense_0 must be adapted, " + id);
        Model merged = adapted.merge();
        Checks.assertClose(LokrNetworkTest.output(adapted.network(), x), LokrNetworkTest.output(merged, x), 1e-5,
                "merged outputs, " + id);
    }
}
