package dev.lokr.dl4j.offload;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.LokrNetwork;
import dev.lokr.dl4j.LokrNetworks;
import dev.lokr.dl4j.Targets;
import dev.lokr.dl4j.conf.LokrLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Training the head on cached encoder outputs equals training the whole network. */
class EncoderOffloadTest {

    private static final int EPOCHS = 3;

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() {
        OffloadFixtures.singleThreaded();
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 11;
        for (String arch : new String[] {"dense", "conv"}) {
            for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
                for (String cache : new String[] {"memory", "mapped"}) {
                    String freezeBy = (seed % 2 == 0) ? "noop" : "wrapper";
                    out.add(Arguments.of(arch, type, cache, freezeBy, arch.equals("dense") && cache.equals("mapped"),
                            seed++));
                }
            }
        }
        return out.stream();
    }

    static double tolerance(DataType type) {
        return type == DataType.DOUBLE ? 1e-10 : 1e-5;
    }

    FeatureCache cache(String kind) {
        return kind.equals("memory") ? FeatureCache.inMemory() : FeatureCache.mappedFile(dir.resolve("features.bin"));
    }

    static List<DataSet> data(String arch, DataType type, boolean labelMask, long seed) {
        long[] shape = arch.equals("dense") ? new long[] {8, OffloadFixtures.IN}
                : new long[] {8, OffloadFixtures.CHANNELS, OffloadFixtures.IMAGE, OffloadFixtures.IMAGE};
        return OffloadFixtures.data(shape, 4, type, labelMask, seed);
    }

    @ParameterizedTest(name = "{0} {1} {2} {3} labelMask={4} seed={5}")
    @MethodSource("cases")
    void offloadedTrainingEqualsNormalTraining(String arch, DataType type, String cacheKind, String freezeBy,
                                               boolean labelMask, long seed) {
        String id = arch + " " + type + " " + cacheKind + " " + freezeBy + " labelMask=" + labelMask + " seed=" + seed;
        // b's encoder is frozen by NoOp updaters; a, the reference, wraps it in FrozenLayerWithBackprop
        // (or both wrap it), because DL4J's fit still moves NoOp-only layers by their raw gradient
        MultiLayerNetwork noOp = arch.equals("dense") ? OffloadFixtures.denseNet(type, seed)
                : OffloadFixtures.convNet(type, seed);
        int k = arch.equals("dense") ? 2 : 1;
        MultiLayerNetwork a = OffloadFixtures.wrapEncoder(noOp, k);
        MultiLayerNetwork b = freezeBy.equals("noop") ? noOp : OffloadFixtures.wrapEncoder(noOp, k);
        assertEquals(a.params(), b.params(), id);
        List<DataSet> batches = data(arch, type, labelMask, seed + 100);
        INDArray encoderBefore = b.getLayer(0).params().dup();
        INDArray initial = a.params().dup();

        OffloadFixtures.Scores normal = new OffloadFixtures.Scores();
        a.setListeners(normal);
        a.fit(new OffloadFixtures.Batches(batches), EPOCHS);

        OffloadFixtures.Scores offloaded = new OffloadFixtures.Scores();
        try (FeatureCache cache = cache(cacheKind)) {
            OffloadedTraining off = EncoderOffload.prepare(b, new OffloadFixtures.Batches(batches), cache);
            assertEquals(k, off.encoderLayers(), id);
            assertEquals(batches.size(), cache.size(), id);
            assertEquals(b.getnLayers() - off.encoderLayers(), off.head().getnLayers(), id);
            off.head().setListeners(offloaded);
            off.fit(EPOCHS);
            off.writeBack(b);
        }

        assertEquals(EPOCHS * batches.size(), normal.values.size(), id);
        assertEquals(normal.values.size(), offloaded.values.size(), id);
        double tol = tolerance(type);
        for (int i = 0; i < normal.values.size(); i++) {
            assertEquals(normal.values.get(i), offloaded.values.get(i), tol, id + " iteration " + i);
        }
        assertClose(a.params(), b.params(), tol, id + " final params");
        assertEquals(encoderBefore, b.getLayer(0).params(), id + ": the encoder must not change");
        assertTrue(a.params().sub(initial).amaxNumber().doubleValue() > 1e-4, id + ": training must move the head");
        assertEquals(a.getIterationCount(), b.getIterationCount(), id);
        assertEquals(a.getEpochCount(), b.getEpochCount(), id);
        assertClose(a.getUpdater().getStateViewArray(), b.getUpdater().getStateViewArray(), tol, id + " updater state");
        INDArray x = batches.get(0).getFeatures();
        assertClose(a.output(x), b.output(x), tol, id + " outputs");
    }

    @ParameterizedTest(name = "{0} seed={1}")
    @MethodSource("adaptedCases")
    void lokrAdaptedNetworkWithFrozenEarlyLayers(String freezeBy, long seed) {
        String id = freezeBy + " seed=" + seed;
        DataType type = DataType.DOUBLE;
        // noop: enc_0 is frozen by a NoOp updater in its config; the reference a wraps it in
        // FrozenLayerWithBackprop, since DL4J's fit still moves NoOp-only layers by their raw gradient.
        // freezeOthers: LokrNetworks freezes enc_0 itself, and a is the same network adapted again.
        MultiLayerNetwork base = OffloadFixtures.init(OffloadFixtures.base(type, seed)
                .layer(OffloadFixtures.dense("enc_0", OffloadFixtures.IN, OffloadFixtures.HIDDEN,
                        freezeBy.equals("noop")))
                .layer(OffloadFixtures.dense("dense_1", OffloadFixtures.HIDDEN, OffloadFixtures.HIDDEN, false))
                .layer(OffloadFixtures.out(OffloadFixtures.HIDDEN))
                .build());
        LokrAdapter adapter = LokrAdapter.builder().rank(2).alpha(2).seed(seed).build();
        boolean freezeOthers = freezeBy.equals("freezeOthers");
        LokrNetwork<MultiLayerNetwork> adaptedB = LokrNetworks.apply(adapter, base, Targets.names("dense_1"),
                freezeOthers);
        MultiLayerNetwork b = adaptedB.network();
        MultiLayerNetwork a = freezeOthers
                ? LokrNetworks.apply(adapter, base, Targets.names("dense_1"), true).network()
                : OffloadFixtures.wrapEncoder(b, 1);
        LokrNetwork<MultiLayerNetwork> adaptedA = LokrNetwork.of(a);
        assertEquals(a.params(), b.params(), id);
        assertEquals(1, EncoderOffload.frozenPrefix(a), id);
        assertEquals(1, EncoderOffload.frozenPrefix(b), id);
        INDArray initial = b.params().dup();
        List<DataSet> batches = data("dense", type, false, seed + 7);

        OffloadFixtures.Scores normal = new OffloadFixtures.Scores();
        a.setListeners(normal);
        a.fit(new OffloadFixtures.Batches(batches), EPOCHS);
        OffloadFixtures.Scores offloaded = new OffloadFixtures.Scores();
        Path file = dir.resolve("adapted.bin");
        try (FeatureCache cache = FeatureCache.mappedFile(file)) {
            OffloadedTraining off = EncoderOffload.prepare(b, new OffloadFixtures.Batches(batches), cache);
            assertInstanceOf(LokrLayer.class, off.head().getLayerWiseConfigurations().getConf(0).getLayer(), id);
            off.head().setListeners(offloaded);
            off.fit(EPOCHS);
            off.writeBack(b);
            assertTrue(Files.exists(file), id);
        }
        assertFalse(Files.exists(file), id + ": the cache file must be deleted on close");
        assertEquals(normal.values.size(), offloaded.values.size(), id);
        for (int i = 0; i < normal.values.size(); i++) {
            assertEquals(normal.values.get(i), offloaded.values.get(i), 1e-10, id + " iteration " + i);
        }
        assertClose(a.params(), b.params(), 1e-10, id + " final params");
        assertClose(adaptedA.adapterParams().get("dense_1").get(dev.lokr.math.LokrParam.W1),
                adaptedB.adapterParams().get("dense_1").get(dev.lokr.math.LokrParam.W1), 1e-10, id + " adapter w1");
        assertTrue(b.params().sub(initial).amaxNumber().doubleValue() > 1e-6, id + ": training must move the adapter");
    }

    static Stream<Arguments> adaptedCases() {
        return Stream.of(Arguments.of("noop", 31L), Arguments.of("freezeOthers", 32L));
    }

    @ParameterizedTest(name = "seed={0}")
    @MethodSource("seeds")
    void featuresReplayTheEncoderOutputsInOrder(long seed) {
        String id = "seed=" + seed;
        MultiLayerNetwork net = OffloadFixtures.denseNet(DataType.DOUBLE, seed);
        List<DataSet> batches = data("dense", DataType.DOUBLE, true, seed);
        try (FeatureCache cache = FeatureCache.inMemory()) {
            OffloadedTraining off = EncoderOffload.prepare(net, new OffloadFixtures.Batches(batches), cache);
            DataSetIterator it = off.features();
            for (int pass = 0; pass < 2; pass++) {
                for (DataSet expected : batches) {
                    assertTrue(it.hasNext(), id);
                    DataSet got = it.next();
                    List<INDArray> acts = net.feedForwardToLayer(1, expected.getFeatures(), false);
                    assertClose(acts.get(acts.size() - 1), got.getFeatures(), 0, id + " features");
                    assertEquals(expected.getLabels(), got.getLabels(), id);
                    assertEquals(expected.getLabelsMaskArray(), got.getLabelsMaskArray(), id);
                }
                assertFalse(it.hasNext(), id);
                it.reset();
            }
        }
    }

    /**
     * A network that has trained already: the head goes on from its iteration and epoch counts and its updater
     * state (Adam's moments and bias correction), as the network's own fit would.
     */
    @ParameterizedTest(name = "seed={0}")
    @MethodSource("seeds")
    void offloadGoesOnFromTheCountsAndUpdaterStateOfATrainedNetwork(long seed) {
        String id = "seed=" + seed;
        MultiLayerNetwork noOp = OffloadFixtures.denseNet(DataType.DOUBLE, seed);
        MultiLayerNetwork a = OffloadFixtures.wrapEncoder(noOp, 2);
        MultiLayerNetwork b = OffloadFixtures.wrapEncoder(noOp, 2);
        List<DataSet> batches = data("dense", DataType.DOUBLE, false, seed + 3);
        a.fit(new OffloadFixtures.Batches(batches), 2);
        b.fit(new OffloadFixtures.Batches(batches), 2);
        assertEquals(a.params(), b.params(), id);
        assertEquals(2 * batches.size(), b.getIterationCount(), id);
        assertEquals(2, b.getEpochCount(), id);

        a.fit(new OffloadFixtures.Batches(batches), EPOCHS);
        try (FeatureCache cache = FeatureCache.inMemory()) {
            OffloadedTraining off = EncoderOffload.prepare(b, new OffloadFixtures.Batches(batches), cache);
            assertEquals(2 * batches.size(), off.head().getIterationCount(), id + ": the head's iteration count");
            assertEquals(2, off.head().getEpochCount(), id + ": the head's epoch count");
            off.fit(EPOCHS);
            off.writeBack(b);
        }
        assertEquals(a.getIterationCount(), b.getIterationCount(), id);
        assertEquals(a.getEpochCount(), b.getEpochCount(), id);
        assertClose(a.getUpdater().getStateViewArray(), b.getUpdater().getStateViewArray(), 1e-10, id + " updater state");
        assertClose(a.params(), b.params(), 1e-10, id + " final params");
    }

    /** writeBack refuses a network whose layers differ from the one prepare was given; fit refuses 0 epochs. */
    @org.junit.jupiter.api.Test
    void writeBackRefusesAnotherNetworkAndFitRefusesZeroEpochs() {
        MultiLayerNetwork net = OffloadFixtures.denseNet(DataType.FLOAT, 5);
        try (FeatureCache cache = FeatureCache.inMemory()) {
            OffloadedTraining off = EncoderOffload.prepare(net,
                    new OffloadFixtures.Batches(data("dense", DataType.FLOAT, false, 5)), cache);
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> off.fit(0));
            assertTrue(e.getMessage().contains("got 0"), e.getMessage());

            MultiLayerNetwork shorter = OffloadFixtures.init(OffloadFixtures.base(DataType.FLOAT, 5)
                    .layer(OffloadFixtures.dense("enc_0", OffloadFixtures.IN, OffloadFixtures.HIDDEN, true))
                    .layer(OffloadFixtures.dense("dense_2", OffloadFixtures.HIDDEN, OffloadFixtures.HIDDEN, false))
                    .layer(OffloadFixtures.out(OffloadFixtures.HIDDEN))
                    .build());
            INDArray shorterBefore = shorter.params().dup();
            e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> off.writeBack(shorter));
            assertTrue(e.getMessage().contains("has 3 layers but the offloaded one had 4"), e.getMessage());
            assertEquals(shorterBefore, shorter.params(), "a refused network is not changed");

            MultiLayerNetwork widerEncoder = OffloadFixtures.init(OffloadFixtures.base(DataType.FLOAT, 5)
                    .layer(OffloadFixtures.dense("enc_0", OffloadFixtures.IN + 1, OffloadFixtures.HIDDEN, true))
                    .layer(OffloadFixtures.dense("enc_1", OffloadFixtures.HIDDEN, OffloadFixtures.HIDDEN, true))
                    .layer(OffloadFixtures.dense("dense_2", OffloadFixtures.HIDDEN, OffloadFixtures.HIDDEN, false))
                    .layer(OffloadFixtures.out(OffloadFixtures.HIDDEN))
                    .build());
            INDArray widerBefore = widerEncoder.params().dup();
            e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> off.writeBack(widerEncoder));
            assertTrue(e.getMessage().contains("encoder layer 0") && e.getMessage().contains("enc_0"), e.getMessage());
            assertEquals(widerBefore, widerEncoder.params(), "a refused network is not changed");
        }
    }

    /** The features iterator applies its own preprocessor to copies, and refuses to re-split a cached batch. */
    @org.junit.jupiter.api.Test
    void theFeaturesIteratorPreprocessesCopiesAndCannotResplit() {
        MultiLayerNetwork net = OffloadFixtures.denseNet(DataType.DOUBLE, 8);
        List<DataSet> batches = data("dense", DataType.DOUBLE, false, 8);
        try (FeatureCache cache = FeatureCache.inMemory()) {
            OffloadedTraining off = EncoderOffload.prepare(net, new OffloadFixtures.Batches(batches), cache);
            DataSetIterator it = off.features();
            it.setPreProcessor(ds -> ds.getFeatures().muli(2));
            for (int i = 0; i < batches.size(); i++) {
                assertEquals(cache.get(i).getFeatures().mul(2), it.next().getFeatures(), "batch " + i);
            }
            it.reset();
            assertEquals(cache.get(0).getFeatures().mul(2), it.next().getFeatures(), "the cache is unchanged");
            DataSetIterator plain = off.features();
            assertEquals(batches.get(0).numExamples(), plain.next(batches.get(0).numExamples()).numExamples());
            UnsupportedOperationException e = org.junit.jupiter.api.Assertions.assertThrows(
                    UnsupportedOperationException.class, () -> plain.next(3));
            assertTrue(e.getMessage().contains("asked for 3"), e.getMessage());
        }
    }

    static Stream<Long> seeds() {
        return Stream.of(41L, 42L);
    }

    static void assertClose(INDArray expected, INDArray actual, double tol, String message) {
        assertEquals(java.util.Arrays.toString(expected.shape()), java.util.Arrays.toString(actual.shape()), message);
        double diff = expected.castTo(DataType.DOUBLE).sub(actual.castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
        assertTrue(diff <= tol, message + ": max |difference| " + diff + " > " + tol);
    }
}
