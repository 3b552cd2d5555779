package dev.lokr.dl4j.scenario;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.LokrNetwork;
import dev.lokr.dl4j.LokrNetworks;
import dev.lokr.dl4j.Targets;
import dev.lokr.dl4j.train.LokrTraining;
import dev.lokr.dl4j.train.PrefetchingDataSetIterator;
import dev.lokr.dl4j.train.TrainingOptions;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.File;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A user's session with an adapted network, through the public API only: checkpoint it mid-training with
 * {@code ModelSerializer} and resume, train with every README training option, switch adapters and
 * strengths.
 */
class LifecycleScenarioTest {

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() {
        Nd4j.getEnvironment().setMaxThreads(1);
        Nd4j.getEnvironment().setMaxMasterThreads(1);
    }

    /** conv_0 (3x3, 8) -> dense_0 (16) -> out (4), NCHW [3, 6, 6] input. */
    static MultiLayerNetwork mln(long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed)
                .dataType(DataType.FLOAT).updater(new Adam(1e-2)).weightInit(WeightInit.XAVIER).list()
                .layer(new ConvolutionLayer.Builder(3, 3).name("conv_0").nOut(8).convolutionMode(ConvolutionMode.Same)
                        .activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().name("dense_0").nOut(16).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(4)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(GraphScenarioTest.IMAGE, GraphScenarioTest.IMAGE,
                        GraphScenarioTest.CHANNELS))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    static LokrAdapter adapter(boolean dora) {
        return LokrAdapter.builder().rank(2).alpha(4).dora(dora).seed(3).build();
    }

    // ---- 2. ModelSerializer mid-training, then resume ----

    @ParameterizedTest(name = "graph={0}")
    @ValueSource(booleans = {false, true})
    void resumeFromModelSerializerEqualsUninterruptedRun(boolean graph) throws Exception {
        List<DataSet> data = GraphScenarioTest.batches(6, 41);
        Targets targets = Targets.names("dense_.*", "out").orTypes(ConvolutionLayer.class);
        LokrAdapter adapter = LokrAdapter.builder().rank(2).alpha(4).dora(true).scalar(true).seed(3).build();

        // uninterrupted: six steps
        org.deeplearning4j.nn.api.Model straight = graph
                ? LokrNetworks.apply(adapter, GraphScenarioTest.base(5), targets).network()
                : LokrNetworks.apply(adapter, mln(5), targets).network();
        for (DataSet d : data) {
            fit(straight, d);
        }

        // three steps, save with the updater, restore in a "new process", three more steps
        LokrNetwork<?> first = graph ? LokrNetworks.apply(adapter, GraphScenarioTest.base(5), targets)
                : LokrNetworks.apply(adapter, mln(5), targets);
        for (DataSet d : data.subList(0, 3)) {
            fit(first.network(), d);
        }
        File zip = dir.resolve("checkpoint.zip").toFile();
        ModelSerializer.writeModel(first.network(), zip, true);
        org.deeplearning4j.nn.api.Model resumed = graph ? ModelSerializer.restoreComputationGraph(zip, true)
                : ModelSerializer.restoreMultiLayerNetwork(zip, true);
        LokrNetwork<?> view = graph ? LokrNetwork.of((ComputationGraph) resumed)
                : LokrNetwork.of((MultiLayerNetwork) resumed);
        assertEquals(graph ? 4 : 3, view.adaptedLayers().size());
        assertEquals(first.network().params(), resumed.params());
        for (DataSet d : data.subList(3, 6)) {
            fit(resumed, d);
        }
        assertEquals(straight.params(), resumed.params(), "graph=" + graph);
        assertEquals(updaterState(straight), updaterState(resumed), "graph=" + graph);
        // and the resumed adapter merges like the uninterrupted one
        INDArray x = data.get(0).getFeatures();
        LokrNetwork<?> straightView = graph ? LokrNetwork.of((ComputationGraph) straight)
                : LokrNetwork.of((MultiLayerNetwork) straight);
        assertEquals(output(straightView.merge(), x), output(view.merge(), x));
    }

    private static void fit(org.deeplearning4j.nn.api.Model net, DataSet d) {
        if (net instanceof MultiLayerNetwork m) {
            m.fit(d);
        } else {
            ((ComputationGraph) net).fit(d);
        }
    }

    private static INDArray output(Object net, INDArray x) {
        return net instanceof MultiLayerNetwork m ? m.output(x) : ((ComputationGraph) net).outputSingle(x);
    }

    private static INDArray updaterState(org.deeplearning4j.nn.api.Model net) {
        return net instanceof MultiLayerNetwork m ? m.getUpdater().getStateViewArray()
                : ((ComputationGraph) net).getUpdater().getStateViewArray();
    }

    private static INDArray mergedWeight(LokrNetwork<MultiLayerNetwork> adapted, String layer, double m) {
        adapted.setMultiplier(m);
        return adapted.merge().getLayer(layer).getParam("W").castTo(DataType.DOUBLE);
    }

    // ---- 1b. LokrTraining.fit with every option (offload needs a MultiLayerNetwork) ----

    @Test
    void everyTrainingOptionEqualsPlainFit() {
        List<DataSet> data = GraphScenarioTest.batches(4, 43);
        // conv_0 is not adapted and frozen by freezeOthers: the encoder that offload caches
        Targets targets = Targets.names("dense_0", "out");
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(adapter(true), mln(9), targets, true);
        LokrNetwork<MultiLayerNetwork> reference = LokrNetworks.apply(adapter(true), mln(9), targets, true);
        INDArray convW = adapted.network().getLayer("conv_0").getParam("W").dup();

        TrainingOptions opts = GraphScenarioTest.allOptions();
        LokrTraining.fit(adapted.network(), new ExistingDataSetIterator(data), 3, opts);
        reference.network().fit(new ExistingDataSetIterator(data), 3);

        assertEquals(12, adapted.network().getIterationCount());
        assertEquals(3, adapted.network().getEpochCount());
        assertEquals(convW, adapted.network().getLayer("conv_0").getParam("W"));
        double diff = adapted.network().params().sub(reference.network().params()).amaxNumber().doubleValue();
        assertTrue(diff < 1e-5, "LokrTraining.fit with every option is " + diff + " off net.fit");
        assertNotEquals(mln(9).params(), adapted.network().params());

        // interrupted: one epoch with every option, a ModelSerializer checkpoint, two more epochs after a restore
        LokrNetwork<MultiLayerNetwork> split = LokrNetworks.apply(adapter(true), mln(9), targets, true);
        LokrTraining.fit(split.network(), new ExistingDataSetIterator(data), 1, opts);
        File zip = dir.resolve("epoch1.zip").toFile();
        try {
            ModelSerializer.writeModel(split.network(), zip, true);
            MultiLayerNetwork resumed = ModelSerializer.restoreMultiLayerNetwork(zip, true);
            LokrTraining.fit(resumed, new ExistingDataSetIterator(data), 2, opts);
            assertEquals(adapted.network().params(), resumed.params());
            assertEquals(adapted.network().getUpdater().getStateViewArray(), resumed.getUpdater().getStateViewArray());
            assertEquals(3, resumed.getEpochCount());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }

        // the README's prefetching snippet: same batches, same order
        LokrNetwork<MultiLayerNetwork> prefetched = LokrNetworks.apply(adapter(true), mln(9), targets, true);
        try (PrefetchingDataSetIterator it = new PrefetchingDataSetIterator(new ExistingDataSetIterator(data),
                TrainingOptions.builder().numWorkers(2).build())) {
            prefetched.network().fit(it, 3);
        }
        assertEquals(reference.network().params(), prefetched.network().params());
    }

    // ---- 3. two adapters on one base; multiplier and enabled ----

    @ParameterizedTest(name = "dora={0}")
    @ValueSource(booleans = {false, true})
    void switchAdaptersMultiplierAndEnabled(boolean dora) throws Exception {
        List<DataSet> taskA = GraphScenarioTest.batches(3, 51);
        List<DataSet> taskB = GraphScenarioTest.batches(3, 52);
        INDArray x = taskA.get(0).getFeatures();
        Targets targets = Targets.names("dense_.*", "out").orTypes(ConvolutionLayer.class);
        MultiLayerNetwork pretrained = mln(13);
        INDArray baseOut = pretrained.output(x);

        // adapter A and adapter B, each trained on its own adapted copy of the base, saved as files
        LokrNetwork<MultiLayerNetwork> a = LokrNetworks.apply(adapter(dora), mln(13), targets);
        a.network().fit(new ExistingDataSetIterator(taskA), 2);
        LokrNetwork<MultiLayerNetwork> b = LokrNetworks.apply(adapter(dora), mln(13), targets);
        b.network().fit(new ExistingDataSetIterator(taskB), 2);
        Path fileA = dir.resolve("a.safetensors");
        Path fileB = dir.resolve("b.safetensors");
        a.saveAdapter(fileA);
        b.saveAdapter(fileB);
        INDArray outA = a.network().output(x);
        INDArray outB = b.network().output(x);
        assertTrue(outA.sub(outB).amaxNumber().doubleValue() > 1e-4);

        // one base network, adapters switched by file
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(adapter(dora), pretrained, targets);
        MultiLayerNetwork net = adapted.network();
        assertEquals(baseOut, net.output(x));
        adapted.loadAdapter(fileA);
        assertEquals(outA, net.output(x));
        adapted.loadAdapter(fileB);
        assertEquals(outB, net.output(x));
        adapted.loadAdapter(fileA);
        assertEquals(outA, net.output(x));

        adapted.setEnabled(false);
        assertEquals(baseOut, net.output(x), "enabled false computes the base");
        assertEquals(baseOut, adapted.merge().output(x), "merged while disabled is the base");
        adapted.setEnabled(true);
        assertEquals(outA, net.output(x));

        adapted.setMultiplier(0.0);
        INDArray zero = net.output(x);
        double zeroDiff = zero.sub(baseOut).amaxNumber().doubleValue();
        if (dora) {
            // README: with DoRA, m = 0 still adds dW (only the magnitude ratio is scaled), so it is not the base
            assertTrue(zeroDiff > 1e-6, "DoRA m=0 equals the base: " + zeroDiff);
        } else {
            assertEquals(0.0, zeroDiff, 1e-6, "multiplier 0 computes the base");
        }
        assertEquals(0.0, zero.sub(adapted.merge().output(x)).amaxNumber().doubleValue(), 2e-6);
        adapted.setMultiplier(0.5);
        INDArray half = net.output(x);
        assertEquals(0.0, half.sub(adapted.merge().output(x)).amaxNumber().doubleValue(), 2e-6);
        assertTrue(half.sub(outA).amaxNumber().doubleValue() > 1e-5);
        assertTrue(half.sub(baseOut).amaxNumber().doubleValue() > 1e-5);
        assertEquals(0.5, adapted.getMultiplier());
        adapted.setMultiplier(1.0);
        assertEquals(outA, net.output(x));

        // the merged weight is affine in the multiplier (plain: W + m dW; DoRA, as LyCORIS:
        // (W + dW) (m (magnitude / ||W + dW|| - 1) + 1)), so W'(0.5) = (W'(0) + W'(1)) / 2 and W'(2) = 2 W'(1) - W'(0)
        for (String layer : List.of("conv_0", "dense_0", "out")) {
            INDArray w1 = mergedWeight(adapted, layer, 1.0);
            INDArray w0 = mergedWeight(adapted, layer, 0.0);
            INDArray wHalf = mergedWeight(adapted, layer, 0.5);
            INDArray w2 = mergedWeight(adapted, layer, 2.0);
            double tol = 4e-7 * (w1.amaxNumber().doubleValue() + w0.amaxNumber().doubleValue());
            assertEquals(0.0, wHalf.sub(w0.add(w1).muli(0.5)).amaxNumber().doubleValue(), tol, layer);
            assertEquals(0.0, w2.sub(w1.mul(2).subi(w0)).amaxNumber().doubleValue(), 2 * tol, layer);
            if (!dora) {
                assertEquals(pretrained.getLayer(layer).getParam("W").castTo(DataType.DOUBLE), w0, layer + ": W'(0) = W");
            }
        }
        adapted.setMultiplier(1.0);
        // the base weights never changed
        assertEquals(pretrained.getLayer("dense_0").getParam("W"),
                net.getLayer("dense_0").getParam("W"));
    }
}
