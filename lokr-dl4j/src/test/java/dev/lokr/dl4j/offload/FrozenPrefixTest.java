package dev.lokr.dl4j.offload;

import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.config.Sgd;

import java.util.List;
import java.util.stream.Stream;

import static dev.lokr.dl4j.offload.OffloadFixtures.HIDDEN;
import static dev.lokr.dl4j.offload.OffloadFixtures.IN;
import static dev.lokr.dl4j.offload.OffloadFixtures.base;
import static dev.lokr.dl4j.offload.OffloadFixtures.dense;
import static dev.lokr.dl4j.offload.OffloadFixtures.init;
import static dev.lokr.dl4j.offload.OffloadFixtures.out;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which leading layers form the encoder, and what prepare refuses. */
class FrozenPrefixTest {

    @BeforeAll
    static void setUp() {
        OffloadFixtures.singleThreaded();
    }

    static Stream<Long> seeds() {
        return Stream.of(1L, 2L);
    }

    static List<DataSet> data(long seed) {
        return OffloadFixtures.data(new long[] {6, IN}, 2, DataType.FLOAT, false, seed);
    }

    @ParameterizedTest(name = "seed={0}")
    @MethodSource("seeds")
    void frozenLayersAfterTheFirstTrainableLayerStayInTheHead(long seed) {
        MultiLayerNetwork net = init(base(DataType.FLOAT, seed)
                .layer(dense("enc_0", IN, HIDDEN, true))
                .layer(dense("dense_1", HIDDEN, HIDDEN, false))
                .layer(dense("frozen_2", HIDDEN, HIDDEN, true))
                .layer(out(HIDDEN))
                .build());
        assertEquals(1, EncoderOffload.frozenPrefix(net), "seed=" + seed);
        try (FeatureCache cache = FeatureCache.inMemory()) {
            OffloadedTraining off = EncoderOffload.prepare(net, new OffloadFixtures.Batches(data(seed)), cache);
            assertEquals(3, off.head().getnLayers(), "seed=" + seed);
            assertEquals("frozen_2", off.head().getLayerWiseConfigurations().getConf(1).getLayer().getLayerName());
            assertEquals(net.getLayer(2).params(), off.head().getLayer(1).params(), "seed=" + seed);
        }
    }

    @ParameterizedTest(name = "seed={0}")
    @MethodSource("seeds")
    void parameterlessAndFrozenWrappedLayersAreFrozen(long seed) {
        DenseLayer trainableConfig = dense("wrapped_1", HIDDEN, HIDDEN, false);
        MultiLayerNetwork net = init(base(DataType.FLOAT, seed)
                .layer(new ActivationLayer.Builder().name("act_0").activation(Activation.RELU).build())
                .layer(dense("enc_0", IN, HIDDEN, true))
                .layer(new FrozenLayer.Builder().layer(trainableConfig).build())
                .layer(dense("dense_3", HIDDEN, HIDDEN, false))
                .layer(out(HIDDEN))
                .build());
        assertEquals(3, EncoderOffload.frozenPrefix(net), "seed=" + seed);
    }

    @ParameterizedTest(name = "seed={0}")
    @MethodSource("seeds")
    void onlyAZeroRateSgdCountsAsAFrozenUpdater(long seed) {
        MultiLayerNetwork net = init(base(DataType.FLOAT, seed)
                .layer(new DenseLayer.Builder().name("sgd0_0").nIn(IN).nOut(HIDDEN).updater(new Sgd(0.0)).build())
                .layer(new DenseLayer.Builder().name("sgd_1").nIn(HIDDEN).nOut(HIDDEN).updater(new Sgd(1e-3)).build())
                .layer(out(HIDDEN))
                .build());
        assertEquals(1, EncoderOffload.frozenPrefix(net), "seed=" + seed);
        MultiLayerNetwork biasTrains = init(base(DataType.FLOAT, seed)
                .layer(new DenseLayer.Builder().name("half_0").nIn(IN).nOut(HIDDEN).updater(new NoOp())
                        .biasUpdater(new Sgd(1e-3)).build())
                .layer(out(HIDDEN))
                .build());
        assertEquals(0, EncoderOffload.frozenPrefix(biasTrains), "seed=" + seed + ": a trainable bias");
    }

    @Test
    void aNetworkWithoutFrozenPrefixIsRefusedNamingItsFirstLayer() {
        MultiLayerNetwork net = init(base(DataType.FLOAT, 3)
                .layer(dense("dense_0", IN, HIDDEN, false))
                .layer(dense("enc_1", HIDDEN, HIDDEN, true))
                .layer(out(HIDDEN))
                .build());
        assertEquals(0, EncoderOffload.frozenPrefix(net));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EncoderOffload.prepare(net,
                new OffloadFixtures.Batches(data(3)), FeatureCache.inMemory()));
        assertTrue(e.getMessage().contains("no frozen prefix") && e.getMessage().contains("dense_0"), e.getMessage());
    }

    @Test
    void aFullyFrozenNetworkIsRefused() {
        MultiLayerNetwork net = init(new NeuralNetConfiguration.Builder().seed(4).dataType(DataType.FLOAT)
                .updater(new NoOp()).list()
                .layer(dense("enc_0", IN, HIDDEN, true))
                .layer(out(HIDDEN))
                .build());
        assertEquals(2, EncoderOffload.frozenPrefix(net));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EncoderOffload.prepare(net,
                new OffloadFixtures.Batches(data(4)), FeatureCache.inMemory()));
        assertTrue(e.getMessage().contains("nothing to train"), e.getMessage());
    }

    @Test
    void anEncoderLayerWithDropoutIsRefused() {
        assertEncoderLayerRefused(new DenseLayer.Builder().dropOut(0.5), "dropout");
    }

    /** LoKR's rank and module dropout draw new masks in every training pass, as DL4J's dropout does. */
    @ParameterizedTest(name = "rankDropout={0}, moduleDropout={1}")
    @org.junit.jupiter.params.provider.CsvSource({"0.5,0", "0,0.3"})
    void aFrozenLokrEncoderLayerWithLokrDropoutIsRefused(double rankDropout, double moduleDropout) {
        MultiLayerNetwork base = init(base(DataType.FLOAT, 5)
                .layer(new DenseLayer.Builder().name("enc_0").nIn(IN).nOut(HIDDEN).build())
                .layer(out(HIDDEN))
                .build());
        dev.lokr.dl4j.LokrNetwork<MultiLayerNetwork> adapted = dev.lokr.dl4j.LokrNetworks.apply(
                dev.lokr.LokrAdapter.builder().rank(2).rankDropout(rankDropout).moduleDropout(moduleDropout).build(),
                base, dev.lokr.dl4j.Targets.names("enc_0"));
        adapted.layerConf("enc_0").setUpdater(dev.lokr.dl4j.Frozen.updater());
        MultiLayerNetwork net = adapted.network();
        assertEquals(1, EncoderOffload.frozenPrefix(net));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EncoderOffload.prepare(net,
                new OffloadFixtures.Batches(data(5)), FeatureCache.inMemory()));
        assertTrue(e.getMessage().contains("LoKR rank dropout " + rankDropout + " and module dropout "
                + moduleDropout) && e.getMessage().contains("enc_0"), e.getMessage());
        adapted.layerConf("enc_0").setRankDropout(0);
        adapted.layerConf("enc_0").setModuleDropout(0);
        try (FeatureCache cache = FeatureCache.inMemory()) {
            assertEquals(1, EncoderOffload.prepare(net, new OffloadFixtures.Batches(data(5)), cache).encoderLayers(),
                    "accepted once both are 0");
        }
    }

    @Test
    void anEncoderLayerWithWeightNoiseIsRefused() {
        assertEncoderLayerRefused(
                new DenseLayer.Builder().weightNoise(new org.deeplearning4j.nn.conf.weightnoise.DropConnect(0.5)),
                "weight noise");
    }

    @Test
    void anEncoderLayerWithConstraintsIsRefused() {
        // DL4J applies constraints after every step, also to a layer that gets no update
        assertEncoderLayerRefused(new DenseLayer.Builder().constrainWeights(
                new org.deeplearning4j.nn.conf.constraint.UnitNormConstraint(1)), "constraints");
        assertEncoderLayerRefused(new DenseLayer.Builder().constrainBias(
                new org.deeplearning4j.nn.conf.constraint.NonNegativeConstraint()), "constraints");
    }

    @Test
    void anEncoderLayerWithARandomActivationIsRefused() {
        assertEncoderLayerRefused(new DenseLayer.Builder().activation(Activation.RRELU), "random");
        MultiLayerNetwork net = init(base(DataType.FLOAT, 5)
                .layer(new DenseLayer.Builder().name("enc_0").nIn(IN).nOut(HIDDEN).updater(new NoOp()).build())
                .layer(new org.deeplearning4j.nn.conf.layers.ActivationLayer.Builder().name("act_1")
                        .activation(Activation.RRELU).build())
                .layer(out(HIDDEN))
                .build());
        assertEquals(2, EncoderOffload.frozenPrefix(net));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EncoderOffload.prepare(net,
                new OffloadFixtures.Batches(data(5)), FeatureCache.inMemory()));
        assertTrue(e.getMessage().contains("random") && e.getMessage().contains("act_1"), e.getMessage());
    }

    @Test
    void aLayerInsideAWrapperIsCheckedAsTheLayerItWraps() {
        MultiLayerNetwork net = init(new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().seed(5)
                .dataType(DataType.FLOAT).updater(new org.nd4j.linalg.learning.config.Adam(1e-2)).list()
                .layer(new org.deeplearning4j.nn.conf.layers.recurrent.TimeDistributed(new DenseLayer.Builder()
                        .name("td").nIn(IN).nOut(HIDDEN).activation(Activation.RRELU).updater(new NoOp()).build()))
                .layer(new org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep(
                        new org.deeplearning4j.nn.conf.layers.LSTM.Builder().nIn(HIDDEN).nOut(HIDDEN).build()))
                .layer(out(HIDDEN))
                .build());
        assertEquals(1, EncoderOffload.frozenPrefix(net), "the NoOp dense inside TimeDistributed is frozen");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EncoderOffload.prepare(net,
                new OffloadFixtures.Batches(data(5)), FeatureCache.inMemory()));
        assertTrue(e.getMessage().contains("random") && e.getMessage().contains("TimeDistributed"), e.getMessage());
    }

    @Test
    void constraintsAndRandomActivationsInsideAFrozenLayerAreAccepted() {
        MultiLayerNetwork net = init(base(DataType.FLOAT, 5)
                .layer(new org.deeplearning4j.nn.conf.layers.misc.FrozenLayer(new DenseLayer.Builder().nIn(IN)
                        .nOut(HIDDEN).activation(Activation.RRELU)
                        .constrainWeights(new org.deeplearning4j.nn.conf.constraint.UnitNormConstraint(1)).build()))
                .layer(out(HIDDEN))
                .build());
        try (FeatureCache cache = FeatureCache.inMemory()) {
            assertEquals(1, EncoderOffload.prepare(net, new OffloadFixtures.Batches(data(5)), cache).encoderLayers());
        }
    }

    /**
     * A frozen wrapper inherits the builder's global dropout, weight noise, activation, regularization and
     * constraints, but runs its layer in inference mode and never updates it: accepted.
     */
    @ParameterizedTest(name = "withBackprop={0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void aFrozenWrapperIsAcceptedWhateverItInheritsFromTheBuilder(boolean withBackprop) {
        DenseLayer inner = new DenseLayer.Builder().name("enc_0").nIn(IN).nOut(HIDDEN).build();
        MultiLayerNetwork net = init(new NeuralNetConfiguration.Builder().seed(5).dataType(DataType.FLOAT)
                .updater(new Adam(1e-2)).dropOut(0.5).activation(Activation.RRELU).l2(1e-3)
                .weightNoise(new org.deeplearning4j.nn.conf.weightnoise.DropConnect(0.5))
                .constrainWeights(new org.deeplearning4j.nn.conf.constraint.UnitNormConstraint(1)).list()
                .layer(withBackprop ? new org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop(inner)
                        : new FrozenLayer(inner))
                .layer(out(HIDDEN))
                .build());
        assertTrue(net.getLayerWiseConfigurations().getConf(0).getLayer().getIDropout() != null,
                "the wrapper has the builder's dropout");
        try (FeatureCache cache = FeatureCache.inMemory()) {
            assertEquals(1, EncoderOffload.prepare(net, new OffloadFixtures.Batches(data(5)), cache).encoderLayers());
        }
    }

    /** A NoOp-frozen first layer {@code enc_0} built from {@code encoder} is in the prefix but cannot be cached. */
    private static void assertEncoderLayerRefused(DenseLayer.Builder encoder, String mention) {
        MultiLayerNetwork net = init(base(DataType.FLOAT, 5)
                .layer(encoder.name("enc_0").nIn(IN).nOut(HIDDEN).updater(new NoOp()).build())
                .layer(out(HIDDEN))
                .build());
        assertEquals(1, EncoderOffload.frozenPrefix(net));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EncoderOffload.prepare(net,
                new OffloadFixtures.Batches(data(5)), FeatureCache.inMemory()));
        assertTrue(e.getMessage().contains(mention) && e.getMessage().contains("enc_0"), e.getMessage());
    }

    @Test
    void trainingOnAClosedCacheFails(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        for (FeatureCache cache : new FeatureCache[] {FeatureCache.inMemory(),
                FeatureCache.mappedFile(dir.resolve("features.bin"))}) {
            MultiLayerNetwork net = OffloadFixtures.denseNet(DataType.FLOAT, 6);
            OffloadedTraining off = EncoderOffload.prepare(net, new OffloadFixtures.Batches(data(6)), cache);
            cache.close();
            assertThrows(IllegalStateException.class, () -> off.fit(1), cache.toString());
            assertThrows(IllegalStateException.class, () -> off.features().hasNext(), cache.toString());
        }
    }

    @Test
    void anEncoderLayerWithRegularizationOrBatchNormalizationIsRefused() {
        MultiLayerNetwork l2 = init(base(DataType.FLOAT, 8)
                .layer(new DenseLayer.Builder().name("enc_l2").nIn(IN).nOut(HIDDEN).l2(1e-3).updater(new NoOp())
                        .build())
                .layer(out(HIDDEN))
                .build());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EncoderOffload.prepare(l2,
                new OffloadFixtures.Batches(data(8)), FeatureCache.inMemory()));
        assertTrue(e.getMessage().contains("regularization") && e.getMessage().contains("enc_l2"), e.getMessage());
        MultiLayerNetwork bn = init(base(DataType.FLOAT, 9)
                .layer(new BatchNormalization.Builder().name("enc_bn").nIn(IN).nOut(IN).updater(new NoOp()).build())
                .layer(out(IN))
                .build());
        assertEquals(1, EncoderOffload.frozenPrefix(bn));
        IllegalArgumentException f = assertThrows(IllegalArgumentException.class, () -> EncoderOffload.prepare(bn,
                new OffloadFixtures.Batches(data(9)), FeatureCache.inMemory()));
        assertTrue(f.getMessage().contains("BatchNormalization") && f.getMessage().contains("enc_bn"), f.getMessage());
    }

    /** prepare reads data from its start (resetting an exhausted iterator) and needs an empty cache and a batch. */
    @Test
    void prepareResetsExhaustedDataAndRefusesAFilledCacheOrNoData() {
        MultiLayerNetwork net = OffloadFixtures.denseNet(DataType.FLOAT, 10);
        List<DataSet> batches = data(10);
        OffloadFixtures.Batches exhausted = new OffloadFixtures.Batches(batches);
        while (exhausted.hasNext()) {
            exhausted.next();
        }
        try (FeatureCache cache = FeatureCache.inMemory()) {
            EncoderOffload.prepare(net, exhausted, cache);
            assertEquals(batches.size(), cache.size(), "an exhausted iterator is reset first");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> EncoderOffload.prepare(net, new OffloadFixtures.Batches(batches), cache));
            assertTrue(e.getMessage().contains("already holds " + batches.size() + " batches"), e.getMessage());
            assertEquals(batches.size(), cache.size(), "nothing added to a filled cache");
        }
        try (FeatureCache cache = FeatureCache.inMemory()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> EncoderOffload.prepare(net, new OffloadFixtures.Batches(List.of()), cache));
            assertTrue(e.getMessage().contains("no batches"), e.getMessage());
        }
    }

    @Test
    void featureMasksAreRefused() {
        MultiLayerNetwork net = OffloadFixtures.denseNet(DataType.FLOAT, 6);
        List<DataSet> batches = data(6);
        DataSet first = batches.get(0);
        batches.set(0, new DataSet(first.getFeatures(), first.getLabels(),
                Nd4j.ones(DataType.FLOAT, first.numExamples(), 1), null));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EncoderOffload.prepare(net,
                new OffloadFixtures.Batches(batches), FeatureCache.inMemory()));
        assertTrue(e.getMessage().contains("feature mask"), e.getMessage());
    }

    @Test
    void computationGraphsAreRefusedNamingTheLimitation() {
        ComputationGraph graph = new ComputationGraph(new NeuralNetConfiguration.Builder().seed(7)
                .updater(new Adam(1e-2)).graphBuilder()
                .addInputs("in")
                .addLayer("dense_0", dense("dense_0", IN, HIDDEN, true), "in")
                .addLayer("out", out(HIDDEN), "dense_0")
                .setOutputs("out")
                .build());
        graph.init();
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> EncoderOffload.prepare(graph, new OffloadFixtures.Batches(data(7)), FeatureCache.inMemory()));
        assertTrue(e.getMessage().contains("ComputationGraph"), e.getMessage());
    }
}
