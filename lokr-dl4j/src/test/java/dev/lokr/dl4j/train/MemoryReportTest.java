package dev.lokr.dl4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.Frozen;
import dev.lokr.dl4j.LokrNetwork;
import dev.lokr.dl4j.LokrNetworks;
import dev.lokr.dl4j.Targets;
import dev.lokr.io.Json;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

class MemoryReportTest {

    static Stream<Long> seeds() {
        return Stream.of(1L, 2L, 3L, 4L);
    }

    private static long dense(long nIn, long nOut) {
        return nIn * nOut + nOut;
    }

    @ParameterizedTest(name = "seed={0}")
    @MethodSource("seeds")
    void multiLayerNetworkFrozenTrainableAndAdamState(long seed) {
        Random r = new Random(seed);
        int a = 2 + r.nextInt(6);
        int b = 2 + r.nextInt(6);
        int c = 2 + r.nextInt(6);
        int d = 2 + r.nextInt(4);
        int batch = 1 + r.nextInt(16);
        DataType dt = r.nextBoolean() ? DataType.FLOAT : DataType.DOUBLE;
        int w = dt.width();
        MultiLayerConfiguration conf =
                new NeuralNetConfiguration.Builder()
                        .seed(seed)
                        .dataType(dt)
                        .updater(new Adam(1e-3))
                        .list()
                        .layer(new DenseLayer.Builder().nIn(a).nOut(b).updater(Frozen.updater()).build())
                        .layer(
                                new DenseLayer.Builder()
                                        .nIn(b)
                                        .nOut(c)
                                        .activation(Activation.TANH)
                                        .build())
                        .layer(
                                new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                                        .nIn(c)
                                        .nOut(d)
                                        .activation(Activation.SOFTMAX)
                                        .build())
                        .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        String ctx = "seed=" + seed + " dims=" + a + "," + b + "," + c + "," + d + " " + dt;

        MemoryReport m = MemoryReport.of(net, batch);
        long frozen = dense(a, b);
        long trainable = dense(b, c) + dense(c, d);
        assertEquals(frozen, m.frozenParams(), ctx);
        assertEquals(trainable, m.trainableParams(), ctx);
        assertEquals(frozen * w, m.frozenParamBytes(), ctx);
        assertEquals(trainable * w, m.trainableParamBytes(), ctx);
        assertEquals(net.numParams(), m.frozenParams() + m.trainableParams(), ctx);
        assertEquals(2 * trainable * w, m.updaterStateBytes(), ctx + ": Adam keeps m and v");
        assertEquals((long) (b + c + d) * batch * w, m.activationBytes(), ctx + ": activations");
        assertEquals(-1, m.measuredPeakBytes(), ctx);
        assertEquals("MultiLayerNetwork", m.modelType());
        assertEquals(dt.name(), m.dataType());
        assertEquals(batch, m.batchSize());
        assertEquals(
                m,
                MemoryReport.of(net, batch, InputType.feedForward(a)),
                ctx + ": explicit input type");

        MemoryReport measured = m.withMeasuredPeak(123_456);
        assertEquals(123_456, measured.measuredPeakBytes());
        assertEquals(m.trainableParamBytes(), measured.trainableParamBytes());

        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) Json.parse(measured.toJson());
        assertEquals(frozen * w, json.get("frozenParamBytes"), ctx);
        assertEquals(trainable * w, json.get("trainableParamBytes"), ctx);
        assertEquals(2 * trainable * w, json.get("updaterStateBytes"), ctx);
        assertEquals(123_456L, json.get("measuredPeakBytes"), ctx);
        assertEquals(measured.estimatedTotalBytes(), json.get("estimatedTotalBytes"), ctx);
        assertEquals(
                m.paramBytes() + m.updaterStateBytes() + m.activationBytes(),
                m.estimatedTotalBytes(),
                ctx);

        String s = measured.toString();
        assertTrue(s.contains("trainable params " + trainable), s);
        assertTrue(s.contains("frozen params " + frozen), s);
        assertTrue(s.contains("measured peak 120.56 KiB"), s);
        assertTrue(m.toString().contains("not measured"), m.toString());

        // adapting the first layer keeps the activation estimate (its nIn is the base layer's)
        MultiLayerNetwork adapted = dev.lokr.dl4j.LokrNetworks.apply(dev.lokr.LokrAdapter.builder().rank(1).build(),
                net, dev.lokr.dl4j.Targets.all()).network();
        assertEquals(m.activationBytes(), MemoryReport.of(adapted, batch).activationBytes(), ctx + ": adapted");
    }

    @Test
    void frozenWrapperAndSgdHaveNoUpdaterState() {
        MultiLayerConfiguration conf =
                new NeuralNetConfiguration.Builder()
                        .seed(5)
                        .updater(new Sgd(0.1))
                        .list()
                        .layer(
                                new FrozenLayerWithBackprop(
                                        new DenseLayer.Builder().nIn(4).nOut(3).build()))
                        .layer(
                                new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                                        .nIn(3)
                                        .nOut(2)
                                        .activation(Activation.IDENTITY)
                                        .build())
                        .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        MemoryReport m = MemoryReport.of(net, 8);
        assertEquals(dense(4, 3), m.frozenParams());
        assertEquals(dense(3, 2), m.trainableParams());
        assertEquals(0, m.updaterStateBytes(), "SGD has no state");
        assertEquals((3 + 2) * 8 * 4L, m.activationBytes());
    }

    @Test
    void layersFrozenByFreezeOthersCountAsFrozen() {
        MultiLayerConfiguration conf =
                new NeuralNetConfiguration.Builder()
                        .seed(6)
                        .updater(new Adam(1e-3))
                        .list()
                        .layer(new DenseLayer.Builder().name("dense_0").nIn(8).nOut(8).build())
                        .layer(new DenseLayer.Builder().name("other").nIn(8).nOut(6).build())
                        .layer(
                                new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                                        .name("out")
                                        .nIn(6)
                                        .nOut(2)
                                        .activation(Activation.IDENTITY)
                                        .build())
                        .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        LokrNetwork<MultiLayerNetwork> adapted =
                LokrNetworks.apply(
                        LokrAdapter.builder().rank(1).build(), net, Targets.names("dense_0"), true);
        MemoryReport m = MemoryReport.of(adapted.network(), 4);
        // trainable: only the adapter; frozen: dense_0's W and b, and every parameter of "other" and "out"
        assertEquals(adapted.adapterParamCount(), m.trainableParams());
        assertEquals(dense(8, 8) + dense(8, 6) + dense(6, 2), m.frozenParams());
    }

    @Test
    void computationGraph() {
        ComputationGraphConfiguration conf =
                new NeuralNetConfiguration.Builder()
                        .seed(7)
                        .updater(new Adam(1e-3))
                        .graphBuilder()
                        .addInputs("in")
                        .addLayer(
                                "enc",
                                new DenseLayer.Builder().nIn(6).nOut(5).updater(Frozen.updater()).build(),
                                "in")
                        .addLayer(
                                "out",
                                new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                                        .nIn(5)
                                        .nOut(3)
                                        .activation(Activation.IDENTITY)
                                        .build(),
                                "enc")
                        .setOutputs("out")
                        .build();
        ComputationGraph cg = new ComputationGraph(conf);
        cg.init();
        MemoryReport m = MemoryReport.of(cg, 4);
        assertEquals("ComputationGraph", m.modelType());
        assertEquals(dense(6, 5), m.frozenParams());
        assertEquals(dense(5, 3), m.trainableParams());
        assertEquals(dense(5, 3) * 4 * 2, m.updaterStateBytes());
        assertEquals((5 + 3) * 4 * 4L, m.activationBytes());
        assertEquals(m, MemoryReport.of(cg, 4, InputType.feedForward(6)));
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                MemoryReport.of(
                                        cg, 4, InputType.feedForward(6), InputType.feedForward(6)));
        assertTrue(e.getMessage().contains("has 1 inputs [in], got 2 input types"), e.getMessage());
    }

    /** An input type that cannot be inferred: activations unknown (-1), counted as 0 in the total. */
    @Test
    void unknownActivationsCountAsNothingInTheTotal() {
        MultiLayerNetwork net =
                new MultiLayerNetwork(
                        new NeuralNetConfiguration.Builder()
                                .seed(8)
                                .updater(new Adam(1e-3))
                                .list()
                                .layer(
                                        new org.deeplearning4j.nn.conf.layers.ActivationLayer.Builder()
                                                .activation(Activation.TANH)
                                                .build())
                                .layer(
                                        new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                                                .nIn(5)
                                                .nOut(2)
                                                .activation(Activation.IDENTITY)
                                                .build())
                                .build());
        net.init();
        MemoryReport m = MemoryReport.of(net, 16);
        assertEquals(-1, m.activationBytes());
        assertEquals(dense(5, 2) * 4, m.paramBytes());
        assertEquals(2 * dense(5, 2) * 4, m.updaterStateBytes());
        assertEquals(m.paramBytes() + m.updaterStateBytes(), m.estimatedTotalBytes());
        assertTrue(m.toString().contains("activations/batch unknown"), m.toString());
        assertEquals((5 + 2) * 16 * 4L, MemoryReport.of(net, 16, InputType.feedForward(5)).activationBytes(),
                "with the input type given");
    }

    @Test
    void validation() {
        MultiLayerNetwork net =
                new MultiLayerNetwork(
                        new NeuralNetConfiguration.Builder()
                                .list()
                                .layer(
                                        new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                                                .nIn(2)
                                                .nOut(1)
                                                .activation(Activation.IDENTITY)
                                                .build())
                                .build());
        net.init();
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> MemoryReport.of(net, 0));
        assertEquals("batchSize must be >= 1, got 0", e.getMessage());
        MemoryReport m = MemoryReport.of(net, 1);
        e = assertThrows(IllegalArgumentException.class, () -> m.withMeasuredPeak(-5));
        assertEquals("peakBytes must be >= 0, got -5", e.getMessage());
        assertEquals("1.00 KiB", MemoryReport.human(1024));
        assertEquals("1023 B", MemoryReport.human(1023));
        assertEquals("1.50 MiB", MemoryReport.human(1024 * 1536));
        MultiLayerNetwork fresh = new MultiLayerNetwork(net.getLayerWiseConfigurations().clone());
        e = assertThrows(IllegalArgumentException.class, () -> MemoryReport.of(fresh, 1));
        assertEquals("net must be initialised (call net.init()): it has no layers", e.getMessage());
        NullPointerException npe = assertThrows(NullPointerException.class,
                () -> new PrefetchingDataSetIterator(new PrefetchTestSupport.SeededIterator(1, 1, 2, 2), null));
        assertEquals("options", npe.getMessage());
        NullPointerException npeMulti = assertThrows(NullPointerException.class,
                () -> new PrefetchingMultiDataSetIterator(
                        new org.nd4j.linalg.dataset.adapter.MultiDataSetIteratorAdapter(
                                new PrefetchTestSupport.SeededIterator(1, 1, 2, 2)), null));
        assertEquals("options", npeMulti.getMessage());
        ComputationGraph freshGraph = new ComputationGraph(new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("in").addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(2)
                        .nOut(1).activation(Activation.IDENTITY).build(), "in").setOutputs("out").build());
        e = assertThrows(IllegalArgumentException.class, () -> MemoryReport.of(freshGraph, 1));
        assertEquals("net must be initialised (call net.init()): it has no layers", e.getMessage());
    }

    /**
     * A NoOp updater on a plain layer does not keep its parameters fixed in DL4J's fit (the raw gradient is
     * applied), so the report counts them as trainable; a LoKR layer's W and b (NoOp and a zero gradient) and
     * a zero-rate Sgd count as frozen.
     */
    @Test
    void aNoOpUpdaterAloneIsTrainable() {
        MultiLayerConfiguration conf =
                new NeuralNetConfiguration.Builder()
                        .seed(9)
                        .dataType(DataType.DOUBLE)
                        .updater(new Sgd(0.1))
                        .list()
                        .layer(new DenseLayer.Builder().name("enc").nIn(4).nOut(3).updater(new NoOp()).build())
                        .layer(new DenseLayer.Builder().nIn(3).nOut(3).updater(Frozen.updater()).build())
                        .layer(
                                new OutputLayer.Builder(LossFunctions.LossFunction.MSE)
                                        .nIn(3)
                                        .nOut(2)
                                        .activation(Activation.IDENTITY)
                                        .build())
                        .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        MemoryReport m = MemoryReport.of(net, 2);
        assertEquals(dense(3, 3), m.frozenParams());
        assertEquals(dense(4, 3) + dense(3, 2), m.trainableParams());
        INDArray w0 = net.getParam("0_W").dup();
        INDArray w1 = net.getParam("1_W").dup();
        net.fit(
                Nd4j.rand(DataType.DOUBLE, 5, 4),
                Nd4j.rand(DataType.DOUBLE, 5, 2));
        assertTrue(!w0.equals(net.getParam("0_W")), "the NoOp layer moved in fit, as counted");
        assertEquals(w1, net.getParam("1_W"), "the zero-rate layer stayed, as counted");
        MultiLayerNetwork adapted =
                LokrNetworks.apply(LokrAdapter.builder().rank(1).build(), net, Targets.names("enc"))
                        .network();
        MemoryReport ma = MemoryReport.of(adapted, 2);
        long adapter = adapted.getLayer(0).numParams() - dense(4, 3);
        assertEquals(dense(4, 3) + dense(3, 3), ma.frozenParams(), "the LoKR layer's W and b are frozen");
        assertEquals(adapter + dense(3, 2), ma.trainableParams());
    }
}
