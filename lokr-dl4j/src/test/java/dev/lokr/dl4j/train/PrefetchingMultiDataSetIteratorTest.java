package dev.lokr.dl4j.train;

import static dev.lokr.dl4j.train.PrefetchTestSupport.awaitNoThreads;
import static dev.lokr.dl4j.train.PrefetchTestSupport.reference;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.dl4j.train.PrefetchTestSupport.SeededIterator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.nd4j.linalg.dataset.adapter.MultiDataSetIteratorAdapter;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

class PrefetchingMultiDataSetIteratorTest {
    private static final Duration NO_HANG = Duration.ofSeconds(10);

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 40;
        for (int workers : new int[] {1, 2, 4}) {
            for (boolean persistent : new boolean[] {true, false}) {
                out.add(Arguments.of(seed++, workers, persistent));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "seed={0} workers={1} persistent={2}")
    @MethodSource("cases")
    void deliversSourceOrderOverEpochs(long seed, int workers, boolean persistent)
            throws InterruptedException {
        String ctx = "seed=" + seed + " workers=" + workers + " persistent=" + persistent;
        List<DataSet> ref = reference(seed, 9, 2, 3);
        MultiDataSetIteratorAdapter src =
                new MultiDataSetIteratorAdapter(new SeededIterator(seed, 9, 2, 3));
        List<String> notices = new ArrayList<>();
        try (PrefetchingMultiDataSetIterator it =
                new PrefetchingMultiDataSetIterator(
                        src,
                        workers,
                        2,
                        persistent,
                        new DeviceStaging(true, false, notices::add))) {
            it.setPreProcessor(
                    mds -> {
                        long idx = (long) mds.getFeatures(0).getFloat(0);
                        try {
                            Thread.sleep(new Random(seed ^ idx).nextInt(3));
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        mds.getLabels(0).addi(1);
                    });
            String prefix = it.threadNamePrefix();
            assertTimeoutPreemptively(
                    NO_HANG,
                    () -> {
                        for (int epoch = 0; epoch < 3; epoch++) {
                            if (epoch > 0) {
                                it.reset();
                            }
                            for (int i = 0; i < 9; i++) {
                                MultiDataSet got = it.next();
                                assertEquals(
                                        ref.get(i).getFeatures(),
                                        got.getFeatures(0),
                                        ctx + " epoch=" + epoch + " batch=" + i);
                                assertEquals(
                                        ref.get(i).getLabels().add(1),
                                        got.getLabels(0),
                                        ctx + " epoch=" + epoch + " batch=" + i);
                            }
                            assertFalse(it.hasNext(), ctx);
                        }
                    },
                    ctx);
            assertFalse(it.asyncSupported(), ctx);
            assertEquals(1, notices.size(), ctx + ": " + notices);
            it.close();
            assertEquals(Set.of(), awaitNoThreads(prefix, 5_000), ctx + ": threads left");
        }
    }

    /** reset() of a source that cannot reset is refused up front, and the epoch goes on undisturbed. */
    @Test
    void resetOfANonResettableSourceIsRefusedAndTheEpochGoesOn() {
        List<DataSet> ref = reference(4, 3, 2, 3);
        try (PrefetchingMultiDataSetIterator it =
                new PrefetchingMultiDataSetIterator(
                        new MultiDataSetIteratorAdapter(new SeededIterator(4, 3, 2, 3, -1, null, false)),
                        2,
                        2,
                        true,
                        new DeviceStaging(false, false, s -> {}))) {
            assertTimeoutPreemptively(
                    NO_HANG,
                    () -> {
                        assertEquals(ref.get(0).getFeatures(), it.next().getFeatures(0));
                        assertFalse(it.resetSupported());
                        UnsupportedOperationException e =
                                assertThrows(UnsupportedOperationException.class, it::reset);
                        assertTrue(e.getMessage().contains("does not support reset"), e.getMessage());
                        for (int i = 1; i < 3; i++) {
                            assertEquals(ref.get(i).getFeatures(), it.next().getFeatures(0), "batch " + i);
                        }
                        assertFalse(it.hasNext());
                    });
        }
    }

    @Test
    void workerFailureReachesCaller() {
        IllegalArgumentException boom = new IllegalArgumentException("bad batch");
        try (PrefetchingMultiDataSetIterator it =
                new PrefetchingMultiDataSetIterator(
                        new MultiDataSetIteratorAdapter(new SeededIterator(3, 6, 2, 3)),
                        3,
                        2,
                        true,
                        new DeviceStaging(false, false, s -> {}))) {
            it.setPreProcessor(
                    mds -> {
                        if (mds.getFeatures(0).getFloat(0) == 1) {
                            throw boom;
                        }
                    });
            assertTimeoutPreemptively(
                    NO_HANG,
                    () -> {
                        it.next();
                        PrefetchException e = assertThrows(PrefetchException.class, it::hasNext);
                        assertSame(boom, e.getCause());
                        assertEquals(1, e.batchIndex());
                    });
        }
    }

    @Test
    void dl4jFitsFromAWrappedIterator() throws Exception {
        MultiLayerConfiguration conf =
                new NeuralNetConfiguration.Builder()
                        .seed(12)
                        .updater(new Sgd(0.1))
                        .list()
                        .layer(
                                new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                                        .nIn(3)
                                        .nOut(2)
                                        .activation(Activation.SOFTMAX)
                                        .build())
                        .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(
                        new SeededIterator(12, 5, 4, 3),
                        2,
                        2,
                        false,
                        new DeviceStaging(false, false, s -> {}))) {
            assertTimeoutPreemptively(NO_HANG, () -> net.fit(it, 3));
            assertEquals(15, net.getIterationCount(), "5 batches x 3 epochs");
            assertEquals(
                    Set.of(),
                    awaitNoThreads(it.threadNamePrefix(), 5_000),
                    "non-persistent threads stop");
        }
    }

    /** A source that returns the same MultiDataSet objects every epoch: each is preprocessed once. */
    @ParameterizedTest(name = "workers={0}")
    @org.junit.jupiter.params.provider.ValueSource(ints = {0, 2})
    void reusedBatchObjectsArePreprocessedOnce(int workers) {
        List<MultiDataSet> batches = new ArrayList<>();
        List<MultiDataSet> original = new ArrayList<>();
        for (DataSet d : reference(8, 3, 2, 3)) {
            batches.add(d.toMultiDataSet());
            original.add(d.copy().toMultiDataSet());
        }
        org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator src =
                new org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator() {
                    private int next;

                    @Override
                    public MultiDataSet next(int num) {
                        throw new UnsupportedOperationException();
                    }

                    @Override
                    public void setPreProcessor(org.nd4j.linalg.dataset.api.MultiDataSetPreProcessor p) {
                        throw new UnsupportedOperationException();
                    }

                    @Override
                    public org.nd4j.linalg.dataset.api.MultiDataSetPreProcessor getPreProcessor() {
                        return null;
                    }

                    @Override
                    public boolean resetSupported() {
                        return true;
                    }

                    @Override
                    public boolean asyncSupported() {
                        return false;
                    }

                    @Override
                    public void reset() {
                        next = 0;
                    }

                    @Override
                    public boolean hasNext() {
                        return next < batches.size();
                    }

                    @Override
                    public MultiDataSet next() {
                        return batches.get(next++);
                    }
                };
        try (PrefetchingMultiDataSetIterator it = new PrefetchingMultiDataSetIterator(src, workers, 2, true,
                new DeviceStaging(false, false, s -> {}))) {
            it.setPreProcessor(m -> m.getFeatures(0).addi(1));
            for (int epoch = 0; epoch < 3; epoch++) {
                if (epoch > 0) {
                    it.reset();
                }
                for (int i = 0; i < batches.size(); i++) {
                    MultiDataSet got = it.next();
                    assertSame(batches.get(i), got, "workers=" + workers + " epoch=" + epoch + " batch=" + i);
                    assertEquals(original.get(i).getFeatures(0).add(1), got.getFeatures(0),
                            "workers=" + workers + " epoch=" + epoch + " batch=" + i + ": preprocessed exactly once");
                }
            }
        }
    }
}
