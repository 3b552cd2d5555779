package dev.lokr.dl4j.train;

import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link LokrTraining#fit} with every combination of options equals plain {@code net.fit}. */
class LokrTrainingTest {

    static MultiLayerNetwork net(long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(DataType.DOUBLE)
                .updater(new Adam(1e-2)).list()
                .layer(new FrozenLayerWithBackprop(new DenseLayer.Builder().nIn(6).nOut(8).activation(Activation.TANH).build()))
                .layer(new DenseLayer.Builder().nIn(8).nOut(8).activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().nIn(8).nOut(8).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(8).nOut(3)
                        .activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork n = new MultiLayerNetwork(conf);
        n.init();
        return n;
    }

    static List<DataSet> data(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<DataSet> list = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            double[] x = new double[6];
            for (int k = 0; k < 6; k++) {
                x[k] = r.nextDouble() * 2 - 1;
            }
            INDArray y = Nd4j.zeros(DataType.DOUBLE, 1, 3);
            y.putScalar(0, r.nextInt(3), 1.0);
            list.add(new DataSet(Nd4j.create(x, new long[] {1, 6}, DataType.DOUBLE), y));
        }
        return list;
    }

    @ParameterizedTest(name = "checkpointing={0} offload={1} workers={2} seed={3}")
    @CsvSource({"false,false,0,1", "true,false,0,2", "false,true,0,3", "true,true,2,4", "true,false,2,5"})
    void equalsPlainFit(boolean checkpointing, boolean offload, int workers, long seed) {
        String ctx = "checkpointing=" + checkpointing + " offload=" + offload + " workers=" + workers + " seed=" + seed;
        List<DataSet> d = data(seed);
        MultiLayerNetwork ref = net(seed);
        ref.fit(new ListDataSetIterator<>(d, 5), 3);
        MultiLayerNetwork net = net(seed);
        TrainingOptions opts = TrainingOptions.builder().gradientCheckpointing(checkpointing).offloadEncoder(offload)
                .numWorkers(workers).pinMemory(false).build();
        LokrTraining.fit(net, new ListDataSetIterator<>(d, 5), 3, opts);
        double diff = ref.params().sub(net.params()).amaxNumber().doubleValue();
        assertTrue(diff < 1e-9, ctx + ": params differ by " + diff);
        assertTrue(net.params().sub(net(seed).params()).amaxNumber().doubleValue() > 1e-4, ctx + ": nothing trained");
        assertEquals(ref.getIterationCount(), net.getIterationCount(), ctx);
    }

    @Test
    void offloadedTrainingCallsTheNetworksListenersAndSetsItsScore() {
        List<DataSet> d = data(9);
        MultiLayerNetwork ref = net(9);
        ref.fit(new ListDataSetIterator<>(d, 5), 2);
        MultiLayerNetwork net = net(9);
        int[] calls = {0};
        net.setListeners(new org.deeplearning4j.optimize.api.BaseTrainingListener() {
            @Override
            public void iterationDone(org.deeplearning4j.nn.api.Model model, int iteration, int epoch) {
                calls[0]++;
            }
        });
        LokrTraining.fit(net, new ListDataSetIterator<>(d, 5), 2,
                TrainingOptions.builder().offloadEncoder(true).numWorkers(0).gradientCheckpointing(false).build());
        assertEquals(ref.getIterationCount(), calls[0], "one listener call per iteration");
        assertEquals(ref.score(), net.score(), 1e-9, "the network's score is the last step's");
    }

    /** Records each callback as text: the model's layer count, and what iterationDone and the epoch calls see. */
    static final class Recorder extends org.deeplearning4j.optimize.api.BaseTrainingListener {
        final List<String> events = new ArrayList<>();
        final List<MultiLayerNetwork> models = new ArrayList<>();

        @Override
        public void onEpochStart(org.deeplearning4j.nn.api.Model model) {
            events.add("es");
            models.add((MultiLayerNetwork) model);
        }

        @Override
        public void onEpochEnd(org.deeplearning4j.nn.api.Model model) {
            events.add("ee");
            models.add((MultiLayerNetwork) model);
        }

        @Override
        public void onForwardPass(org.deeplearning4j.nn.api.Model model, List<INDArray> activations) {
            events.add("fwd");
        }

        @Override
        public void onBackwardPass(org.deeplearning4j.nn.api.Model model) {
            events.add("bwd");
        }

        @Override
        public void onGradientCalculation(org.deeplearning4j.nn.api.Model model) {
            events.add("grad");
        }

        @Override
        public void iterationDone(org.deeplearning4j.nn.api.Model model, int iteration, int epoch) {
            events.add("it" + iteration);
            models.add((MultiLayerNetwork) model);
        }
    }

    @Test
    void offloadedListenersThatEvaluateOrSaveSeeTheWholeUpToDateNetwork() throws Exception {
        List<DataSet> d = data(11);
        MultiLayerNetwork net = net(11);
        Recorder recorder = new Recorder();
        List<String> evaluated = new ArrayList<>();
        java.io.ByteArrayOutputStream saved = new java.io.ByteArrayOutputStream();
        net.setListeners(recorder, new org.deeplearning4j.optimize.api.BaseTrainingListener() {
            @Override
            public void onEpochEnd(org.deeplearning4j.nn.api.Model model) {
                // what DL4J's EvaluativeListener and CheckpointListener do: use the model on the raw input, save it
                MultiLayerNetwork m = (MultiLayerNetwork) model;
                evaluated.add(m.output(d.get(0).getFeatures()).shapeInfoToString());
                saved.reset();
                try {
                    org.deeplearning4j.util.ModelSerializer.writeModel(m, saved, true);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        });
        LokrTraining.fit(net, new ListDataSetIterator<>(d, 5), 2,
                TrainingOptions.builder().offloadEncoder(true).numWorkers(0).gradientCheckpointing(false).build());
        for (MultiLayerNetwork m : recorder.models) {
            assertTrue(m == net, "iterationDone and the epoch callbacks get the network itself");
        }
        assertEquals(2, evaluated.size());
        MultiLayerNetwork restored = org.deeplearning4j.util.ModelSerializer.restoreMultiLayerNetwork(
                new java.io.ByteArrayInputStream(saved.toByteArray()), true);
        assertEquals(4, restored.getnLayers(), "the saved model is the whole network, encoder included");
        assertEquals(0.0, restored.params().sub(net.params()).amaxNumber().doubleValue(), 0.0, "saved after the last step");
        assertEquals(net.getUpdater().getStateViewArray(), restored.getUpdater().getStateViewArray(), "with its updater state");
    }

    @Test
    void aListenerThatFailsLeavesTheStepsTrainedSoFarInTheNetwork() {
        List<DataSet> d = data(13);
        MultiLayerNetwork ref = net(13);
        for (int i = 0; i < 3; i++) {
            ref.fit(DataSet.merge(d.subList(i * 5, i * 5 + 5)));
        }
        MultiLayerNetwork net = net(13);
        net.setListeners(new org.deeplearning4j.optimize.api.BaseTrainingListener() {
            @Override
            public void iterationDone(org.deeplearning4j.nn.api.Model model, int iteration, int epoch) {
                if (iteration == 2) {
                    throw new IllegalStateException("listener failed at iteration 2");
                }
            }
        });
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> LokrTraining.fit(net,
                new ListDataSetIterator<>(d, 5), 1,
                TrainingOptions.builder().offloadEncoder(true).numWorkers(0).gradientCheckpointing(false).build()));
        assertEquals("listener failed at iteration 2", e.getMessage());
        double diff = ref.params().sub(net.params()).amaxNumber().doubleValue();
        assertTrue(diff < 1e-9, "the network holds the three steps trained before the failure: differs by " + diff);
    }

    /**
     * Offloaded, the callbacks inside a step reach the network's listeners (with the head), in fit's order;
     * with checkpointing as well, every one but the forward pass.
     */
    @ParameterizedTest(name = "checkpointing={0}")
    @CsvSource({"false", "true"})
    void offloadedTrainingCallsEveryListenerCallback(boolean checkpointing) {
        List<DataSet> d = data(17);
        MultiLayerNetwork ref = net(17);
        Recorder plain = new Recorder();
        List<String> plainCounts = new ArrayList<>();
        ref.setListeners(plain, new CountRecorder(plainCounts));
        ref.fit(new ListDataSetIterator<>(d, 5), 2);
        MultiLayerNetwork net = net(17);
        Recorder offloaded = new Recorder();
        List<String> offloadedCounts = new ArrayList<>();
        net.setListeners(offloaded, new CountRecorder(offloadedCounts));
        LokrTraining.fit(net, new ListDataSetIterator<>(d, 5), 2, TrainingOptions.builder().offloadEncoder(true)
                .gradientCheckpointing(checkpointing).numWorkers(0).pinMemory(false).build());
        List<String> expected = new ArrayList<>(plain.events);
        if (checkpointing) {
            expected.removeIf("fwd"::equals);
        }
        assertEquals(expected, offloaded.events, "checkpointing=" + checkpointing);
        assertEquals(plainCounts, offloadedCounts, "checkpointing=" + checkpointing
                + ": the network's iteration and epoch counts seen by iterationDone and the epoch callbacks");
    }

    /** Records, at iterationDone and the epoch callbacks, the network's own iteration and epoch counts. */
    static final class CountRecorder extends org.deeplearning4j.optimize.api.BaseTrainingListener {
        private final List<String> into;

        CountRecorder(List<String> into) {
            this.into = into;
        }

        private void add(String event, org.deeplearning4j.nn.api.Model model) {
            MultiLayerNetwork m = (MultiLayerNetwork) model;
            into.add(event + " " + m.getIterationCount() + "/" + m.getEpochCount());
        }

        @Override
        public void onEpochStart(org.deeplearning4j.nn.api.Model model) {
            add("es", model);
        }

        @Override
        public void onEpochEnd(org.deeplearning4j.nn.api.Model model) {
            add("ee", model);
        }

        @Override
        public void iterationDone(org.deeplearning4j.nn.api.Model model, int iteration, int epoch) {
            add("it" + iteration + "/" + epoch, model);
        }
    }

    /** The prefetching iterator LokrTraining wraps the data in is closed: no prefetch thread outlives fit. */
    @ParameterizedTest(name = "offload={0}")
    @CsvSource({"false", "true"})
    void noPrefetchThreadOutlivesFit(boolean offload) {
        java.util.Set<Thread> before = PrefetchTestSupport.liveThreads("lokr-prefetch-");
        LokrTraining.fit(net(19), new ListDataSetIterator<>(data(19), 5), 2, TrainingOptions.builder()
                .offloadEncoder(offload).gradientCheckpointing(false).numWorkers(2).persistentWorkers(true)
                .pinMemory(false).build());
        java.util.Set<Thread> left = PrefetchTestSupport.liveThreads("lokr-prefetch-");
        left.removeAll(before);
        assertEquals(java.util.Set.of(), left, "offload=" + offload + ": prefetch threads left after fit");
    }

    @Test
    void checkpointedTrainingCallsEveryListenerCallbackButTheForwardPass() {
        List<DataSet> d = data(15);
        MultiLayerNetwork ref = net(15);
        Recorder plain = new Recorder();
        ref.setListeners(plain);
        ref.fit(new ListDataSetIterator<>(d, 5), 1);
        MultiLayerNetwork net = net(15);
        Recorder checkpointed = new Recorder();
        INDArray[] gradientSeen = new INDArray[1];
        net.setListeners(checkpointed, new org.deeplearning4j.optimize.api.BaseTrainingListener() {
            @Override
            public void onGradientCalculation(org.deeplearning4j.nn.api.Model model) {
                if (gradientSeen[0] == null) {
                    gradientSeen[0] = model.gradient().gradient().dup();
                }
            }
        });
        LokrTraining.fit(net, new ListDataSetIterator<>(d, 5), 1,
                TrainingOptions.builder().numWorkers(0).gradientCheckpointing(true).build());
        List<String> expected = new ArrayList<>(plain.events);
        expected.removeIf("fwd"::equals);
        assertEquals(expected, checkpointed.events);
        MultiLayerNetwork fresh = net(15);
        fresh.setInput(DataSet.merge(d.subList(0, 5)).getFeatures());
        fresh.setLabels(DataSet.merge(d.subList(0, 5)).getLabels());
        fresh.computeGradientAndScore();
        double diff = fresh.gradient().gradient().sub(gradientSeen[0]).amaxNumber().doubleValue();
        assertTrue(diff < 1e-10, "onGradientCalculation sees the step's gradient: differs by " + diff);
    }

    /** Batches of 5 examples that it reshuffles on every reset with its own seeded generator; counts the resets. */
    static final class ReshufflingIterator implements DataSetIterator {
        private static final long serialVersionUID = 1L;
        private final List<DataSet> examples;
        private final Random random;
        private int cursor;
        int resets;

        ReshufflingIterator(List<DataSet> examples, long seed) {
            this.examples = new ArrayList<>(examples);
            this.random = new Random(seed);
        }

        @Override
        public boolean hasNext() {
            return cursor < examples.size();
        }

        @Override
        public DataSet next() {
            return next(5);
        }

        @Override
        public DataSet next(int num) {
            List<DataSet> batch = examples.subList(cursor, Math.min(examples.size(), cursor + num));
            cursor += batch.size();
            return DataSet.merge(batch);
        }

        @Override
        public void reset() {
            resets++;
            cursor = 0;
            Collections.shuffle(examples, random);
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
        public int inputColumns() {
            return 6;
        }

        @Override
        public int totalOutcomes() {
            return 3;
        }

        @Override
        public int batch() {
            return 5;
        }

        @Override
        public void setPreProcessor(DataSetPreProcessor preProcessor) {
            throw new UnsupportedOperationException();
        }

        @Override
        public DataSetPreProcessor getPreProcessor() {
            return null;
        }

        @Override
        public List<String> getLabels() {
            return null;
        }
    }

    @ParameterizedTest(name = "checkpointing={0} workers={1}")
    @CsvSource({"false,0", "true,0", "true,2"})
    void anIteratorThatReshufflesOnResetIsResetAsNetFitResetsIt(boolean checkpointing, int workers) {
        String ctx = "checkpointing=" + checkpointing + " workers=" + workers;
        List<DataSet> d = data(12);
        MultiLayerNetwork ref = net(12);
        ReshufflingIterator refData = new ReshufflingIterator(d, 5);
        ref.fit(refData, 3);
        MultiLayerNetwork net = net(12);
        ReshufflingIterator data = new ReshufflingIterator(d, 5);
        LokrTraining.fit(net, data, 3, TrainingOptions.builder().gradientCheckpointing(checkpointing)
                .numWorkers(workers).pinMemory(false).build());
        assertEquals(refData.resets, data.resets, ctx + ": resets");
        double diff = ref.params().sub(net.params()).amaxNumber().doubleValue();
        assertTrue(diff < 1e-9, ctx + ": params differ by " + diff);
    }

    @Test
    void severalEpochsNeedAnIteratorThatResets() {
        DataSetIterator once = new ListDataSetIterator<>(data(3), 5) {
            @Override
            public boolean resetSupported() {
                return false;
            }
        };
        for (boolean checkpointing : new boolean[] {false, true}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LokrTraining.fit(net(3),
                    once, 2, TrainingOptions.builder().gradientCheckpointing(checkpointing).numWorkers(0).build()));
            assertTrue(e.getMessage().contains("2 epochs needs an iterator that supports reset()"), e.getMessage());
        }
    }

    @ParameterizedTest(name = "epochs={0}")
    @CsvSource({"0", "-1"})
    void refusesBadEpochs(int epochs) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LokrTraining.fit(net(1),
                new ListDataSetIterator<>(data(1), 5), epochs, TrainingOptions.defaults()));
        assertTrue(e.getMessage().contains("epochs must be >= 1, got " + epochs), e.getMessage());
    }
}
