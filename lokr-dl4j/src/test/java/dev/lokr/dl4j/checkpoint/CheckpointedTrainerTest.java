package dev.lokr.dl4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.LokrNetworks;
import dev.lokr.dl4j.Targets;
import java.util.function.Function;
import java.util.stream.Stream;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Checkpointed gradients and steps against DL4J's own {@code computeGradientAndScore} and {@code fit} on
 * identical networks with identical random seeds (dropout on).
 */
class CheckpointedTrainerTest {

    private static final int IN = 10;
    private static final int CLASSES = 4;

    static MultiLayerNetwork dense(long seed, DataType type, int hidden) {
        NeuralNetConfiguration.ListBuilder b = new NeuralNetConfiguration.Builder().seed(seed).dataType(type)
                .updater(new Adam(1e-2)).activation(Activation.TANH).list();
        int nIn = IN;
        for (int i = 0; i < hidden; i++) {
            b.layer(new DenseLayer.Builder().name("dense_" + i).nIn(nIn).nOut(12 + i).dropOut(0.7).build());
            nIn = 12 + i;
        }
        b.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").activation(Activation.SOFTMAX)
                .nIn(nIn).nOut(CLASSES).dropOut(0.8).build());
        MultiLayerNetwork net = new MultiLayerNetwork(b.build());
        net.init();
        return net;
    }

    static MultiLayerNetwork conv(long seed, DataType type) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(type)
                .updater(new Adam(1e-2)).activation(Activation.RELU).list()
                .layer(new ConvolutionLayer.Builder(3, 3).name("conv_0").nOut(4).dropOut(0.8).build())
                .layer(new SubsamplingLayer.Builder(2, 2).stride(2, 2).build())
                .layer(new ConvolutionLayer.Builder(2, 2).name("conv_1").nOut(5).dropOut(0.7).build())
                .layer(new DenseLayer.Builder().name("dense").nOut(9).dropOut(0.6).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(CLASSES).build())
                .setInputType(InputType.convolutional(8, 8, 2)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    static ComputationGraph graph(long seed, DataType type) {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder().seed(seed).dataType(type)
                .updater(new Adam(1e-2)).activation(Activation.TANH).graphBuilder().addInputs("in");
        String prev = "in";
        int nIn = IN;
        for (int i = 0; i < 5; i++) {
            g.addLayer("d" + i, new DenseLayer.Builder().nIn(nIn).nOut(11 + i).dropOut(0.75).build(), prev);
            prev = "d" + i;
            nIn = 11 + i;
        }
        g.addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                .nIn(nIn).nOut(CLASSES).build(), prev).setOutputs("out");
        ComputationGraph net = new ComputationGraph(g.build());
        net.init();
        return net;
    }

    static DataSet data(long seed, DataType type, long... featureShape) {
        return data(seed, type, 'c', featureShape);
    }

    /**
     * Features uniform in [-0.5, 0.5) in the given memory order, one-hot labels: {@code [N, CLASSES]}, or
     * {@code [N, CLASSES, T]} for sequence features {@code [N, IN, T]}.
     */
    static DataSet data(long seed, DataType type, char order, long... featureShape) {
        Nd4j.getRandom().setSeed(seed);
        INDArray f = Nd4j.rand(type, featureShape).subi(0.5).dup(order);
        boolean sequence = featureShape.length == 3;
        long steps = sequence ? featureShape[2] : 1;
        INDArray labels = sequence ? Nd4j.zeros(type, featureShape[0], CLASSES, steps)
                : Nd4j.zeros(type, featureShape[0], CLASSES);
        java.util.Random r = new java.util.Random(seed);
        for (int i = 0; i < featureShape[0]; i++) {
            for (int t = 0; t < steps; t++) {
                if (sequence) {
                    labels.putScalar(new long[] {i, r.nextInt(CLASSES), t}, 1.0);
                } else {
                    labels.putScalar(i, r.nextInt(CLASSES), 1.0);
                }
            }
        }
        return new DataSet(f, labels);
    }

    /** Two LSTMs, the second with dropout, and a sequence output: DL4J keeps recurrent activations in 'f' order. */
    static MultiLayerNetwork lstm(long seed, DataType type) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(type)
                .updater(new Adam(1e-2)).activation(Activation.TANH).list()
                .layer(new LSTM.Builder().nIn(IN).nOut(6).build())
                .layer(new LSTM.Builder().nOut(5).dropOut(0.8).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(CLASSES).build())
                .setInputType(InputType.recurrent(IN)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** {@link #lstm} over NWC data: recurrent activations are then permuted views. */
    static MultiLayerNetwork lstmNwc(long seed, DataType type) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(type)
                .updater(new Adam(1e-2)).activation(Activation.TANH).list()
                .layer(new LSTM.Builder().nIn(IN).nOut(6).dataFormat(org.deeplearning4j.nn.conf.RNNFormat.NWC).build())
                .layer(new LSTM.Builder().nOut(5).dropOut(0.6).dataFormat(org.deeplearning4j.nn.conf.RNNFormat.NWC)
                        .build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nOut(CLASSES).dataFormat(org.deeplearning4j.nn.conf.RNNFormat.NWC).build())
                .setInputType(InputType.recurrent(IN, org.deeplearning4j.nn.conf.RNNFormat.NWC)).build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** The copy keeps the memory layout of views: same shape and values, strides ranked alike. */
    @Test
    void segmentInputCopiesKeepTheMemoryLayout() {
        INDArray base = Nd4j.rand(DataType.DOUBLE, 3, 4, 5);
        for (INDArray x : new INDArray[] {base, base.dup('f'), base.permute(0, 2, 1), base.permute(2, 0, 1).dup('f'),
                base.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 3),
                        org.nd4j.linalg.indexing.NDArrayIndex.all())}) {
            INDArray copy = CheckpointedTrainer.copyInLayout(x);
            String ctx = "shape " + java.util.Arrays.toString(x.shape()) + " stride " + java.util.Arrays.toString(x.stride());
            assertEquals(x, copy, ctx);
            assertTrue(copy.data() != x.data(), ctx + ": a copy");
            for (int i = 0; i < x.rank(); i++) {
                for (int j = 0; j < x.rank(); j++) {
                    if (x.size(i) > 1 && x.size(j) > 1) {
                        assertEquals(Long.compare(x.stride(i), x.stride(j)), Long.compare(copy.stride(i), copy.stride(j)),
                                ctx + ": axes " + i + ", " + j);
                    }
                }
            }
        }
    }

    /** A trainable dense layer under a FrozenLayer: DL4J's backward pass ends at the frozen layer. */
    static MultiLayerNetwork underFrozen(long seed, DataType type) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(type)
                .updater(new Adam(1e-2)).activation(Activation.TANH).list()
                .layer(new DenseLayer.Builder().nIn(IN).nOut(8).dropOut(0.7).build())
                .layer(new FrozenLayer(new DenseLayer.Builder().nIn(8).nOut(7).build()))
                .layer(new DenseLayer.Builder().nIn(7).nOut(6).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nIn(6).nOut(CLASSES).dropOut(0.8).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** {@link #underFrozen} as a graph, which DL4J's own backward pass refuses: refused up front, by name. */
    @Test
    void aGraphWithATrainableVertexUnderAFrozenOneIsRefused() {
        ComputationGraph g = underFrozenGraph(5, DataType.DOUBLE);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CheckpointedTrainer.of(g, Segmentation.everyK(1)));
        assertTrue(e.getMessage().contains("vertex 'd0' lies below the frozen vertex 'frozen'"), e.getMessage());
        IllegalStateException dl4j = assertThrows(IllegalStateException.class,
                () -> referenceGradient(g, data(5, DataType.DOUBLE, 4, IN), 1));
        assertTrue(dl4j.getMessage().contains("all epsilons not set"), dl4j.getMessage());
    }

    /** {@link #underFrozen} as a graph. */
    static ComputationGraph underFrozenGraph(long seed, DataType type) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(type)
                .updater(new Adam(1e-2)).activation(Activation.TANH).graphBuilder().addInputs("in")
                .addLayer("d0", new DenseLayer.Builder().nIn(IN).nOut(8).dropOut(0.7).build(), "in")
                .addLayer("frozen", new FrozenLayer(new DenseLayer.Builder().nIn(8).nOut(7).build()), "d0")
                .addLayer("d2", new DenseLayer.Builder().nIn(7).nOut(6).build(), "frozen")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .activation(Activation.SOFTMAX).nIn(6).nOut(CLASSES).dropOut(0.8).build(), "d2")
                .setOutputs("out").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    /** Reference gradient of DL4J itself, with the random generator seeded first. */
    static INDArray referenceGradient(Model net, DataSet d, long rngSeed) {
        Nd4j.getRandom().setSeed(rngSeed);
        if (net instanceof MultiLayerNetwork) {
            MultiLayerNetwork m = (MultiLayerNetwork) net;
            m.setInput(d.getFeatures());
            m.setLabels(d.getLabels());
            m.computeGradientAndScore();
            return m.getFlattenedGradients().dup();
        }
        ComputationGraph g = (ComputationGraph) net;
        g.setInputs(d.getFeatures());
        g.setLabels(d.getLabels());
        g.computeGradientAndScore();
        return g.getFlattenedGradients().dup();
    }

    static INDArray checkpointedGradient(CheckpointedTrainer t, DataSet d, long rngSeed) {
        Nd4j.getRandom().setSeed(rngSeed);
        return t.computeGradientAndScore(d).getFirst().gradient().dup();
    }

    static void assertClose(INDArray expected, INDArray actual, double tol, String ctx) {
        assertEquals(expected.length(), actual.length(), ctx + ": length");
        double[] e = expected.castTo(DataType.DOUBLE).data().asDouble();
        double[] a = actual.castTo(DataType.DOUBLE).data().asDouble();
        for (int i = 0; i < e.length; i++) {
            double scale = Math.max(1.0, Math.abs(e[i]));
            assertTrue(Math.abs(e[i] - a[i]) <= tol * scale, ctx + ": element " + i + " expected " + e[i] + " got "
                    + a[i]);
        }
    }

    record Case(String name, DataType type, Function<Long, Model> build, long[] featureShape, Segmentation seg,
                char order) {
        Case(String name, DataType type, Function<Long, Model> build, long[] featureShape, Segmentation seg) {
            this(name, type, build, featureShape, seg, 'c');
        }

        DataSet data(long seed) {
            if (name.contains("nwc")) {
                // featureShape [N, T, IN]: sequence data made as [N, IN, T], then features and labels as NWC
                DataSet ncw = CheckpointedTrainerTest.data(seed, type, order, featureShape[0], featureShape[2],
                        featureShape[1]);
                return new DataSet(ncw.getFeatures().permute(0, 2, 1).dup('c'),
                        ncw.getLabels().permute(0, 2, 1).dup('c'));
            }
            return CheckpointedTrainerTest.data(seed, type, order, featureShape);
        }

        @Override
        public String toString() {
            return name + "/" + type + "/" + seg + (order == 'c' ? "" : "/features " + order);
        }
    }

    static CheckpointedTrainer trainer(Model net, Segmentation seg) {
        return net instanceof MultiLayerNetwork ? CheckpointedTrainer.of((MultiLayerNetwork) net, seg)
                : CheckpointedTrainer.of((ComputationGraph) net, seg);
    }

    static MultiLayerNetwork lokr(long seed) {
        LokrAdapter adapter = LokrAdapter.builder().rank(2).alpha(2).build();
        return LokrNetworks.apply(adapter, dense(seed, DataType.DOUBLE, 4), Targets.types(DenseLayer.class))
                .network();
    }

    static MultiLayerNetwork lokrDropout(long seed) {
        LokrAdapter adapter = LokrAdapter.builder().rank(2).alpha(2).rankDropout(0.3).rankDropoutScale(true)
                .moduleDropout(0.25).build();
        return LokrNetworks.apply(adapter, dense(seed, DataType.DOUBLE, 4), Targets.types(DenseLayer.class))
                .network();
    }

    /** Conv and dense adapters with Tucker, DoRA and both LoKR dropouts. */
    static MultiLayerNetwork lokrConv(long seed) {
        LokrAdapter adapter = LokrAdapter.builder().rank(2).alpha(2).tucker(true).dora(true).rankDropout(0.3)
                .moduleDropout(0.2).build();
        return LokrNetworks.apply(adapter, conv(seed, DataType.DOUBLE),
                Targets.types(ConvolutionLayer.class, DenseLayer.class)).network();
    }

    /** conv -> dense -> output as a graph: DL4J adds a CNN-to-feed-forward preprocessor to the dense vertex. */
    static ComputationGraph convGraph(long seed, DataType type) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).dataType(type)
                .updater(new Adam(1e-2)).activation(Activation.TANH).graphBuilder().addInputs("in")
                .addLayer("conv", new ConvolutionLayer.Builder(3, 3).nOut(3).dropOut(0.8).build(), "in")
                .addLayer("dense", new DenseLayer.Builder().nOut(7).dropOut(0.7).build(), "conv")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .activation(Activation.SOFTMAX).nOut(CLASSES).build(), "dense")
                .setOutputs("out").setInputTypes(InputType.convolutional(6, 6, 2)).build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    /** A graph whose vertices reshape by the batch size, fed batches of different sizes, one trainer throughout. */
    @Test
    void aGraphWithPreprocessorsFollowsTheBatchSize() {
        ComputationGraph ref = convGraph(41, DataType.DOUBLE);
        ComputationGraph ckpt = convGraph(41, DataType.DOUBLE);
        CheckpointedTrainer t = CheckpointedTrainer.of(ckpt, Segmentation.everyK(1));
        int step = 0;
        for (int batch : new int[] {5, 3, 7}) {
            DataSet d = data(41 + batch, DataType.DOUBLE, batch, 2, 6, 6);
            String ctx = "batch " + batch;
            assertClose(referenceGradient(ref, d, 100 + batch), checkpointedGradient(t, d, 100 + batch), 1e-10, ctx);
            Nd4j.getRandom().setSeed(200 + step);
            ref.fit(d);
            Nd4j.getRandom().setSeed(200 + step);
            assertEquals(ref.score(), t.fit(d), 1e-10, ctx + ": score");
            assertClose(ref.params(), ckpt.params(), 1e-9, ctx + ": parameters");
            step++;
        }
    }

    static Stream<Arguments> cases() {
        long[] flat = {6, IN};
        long[] image = {5, 2, 8, 8};
        Case[] cs = {
            new Case("mln-dense", DataType.DOUBLE, s -> dense(s, DataType.DOUBLE, 6), flat, Segmentation.everyK(2)),
            new Case("mln-dense", DataType.FLOAT, s -> dense(s, DataType.FLOAT, 6), flat, Segmentation.manual(1, 4)),
            new Case("mln-dense", DataType.DOUBLE, s -> dense(s, DataType.DOUBLE, 6), flat,
                    Segmentation.byMemoryBudget(900)),
            new Case("mln-conv", DataType.DOUBLE, s -> conv(s, DataType.DOUBLE), image, Segmentation.everyK(2)),
            new Case("mln-conv", DataType.FLOAT, s -> conv(s, DataType.FLOAT), image, Segmentation.automatic()),
            new Case("cg-chain", DataType.DOUBLE, s -> graph(s, DataType.DOUBLE), flat, Segmentation.everyK(2)),
            new Case("cg-chain", DataType.FLOAT, s -> graph(s, DataType.FLOAT), flat, Segmentation.manual(3)),
            new Case("lokr-mln", DataType.DOUBLE, CheckpointedTrainerTest::lokr, flat, Segmentation.everyK(2)),
            new Case("lokr-mln-dropout", DataType.DOUBLE, CheckpointedTrainerTest::lokrDropout, flat,
                    Segmentation.everyK(2)),
            new Case("lokr-conv-tucker-dora-dropout", DataType.DOUBLE, CheckpointedTrainerTest::lokrConv, image,
                    Segmentation.everyK(2)),
            // dropout masks follow the memory order of the array they apply to: recurrent activations are 'f'
            new Case("mln-lstm-dropout", DataType.DOUBLE, s -> lstm(s, DataType.DOUBLE), new long[] {4, IN, 5},
                    Segmentation.everyK(1)),
            new Case("mln-lstm-dropout", DataType.FLOAT, s -> lstm(s, DataType.FLOAT), new long[] {4, IN, 5},
                    Segmentation.everyK(1)),
            new Case("mln-dense", DataType.DOUBLE, s -> dense(s, DataType.DOUBLE, 4), flat, Segmentation.everyK(1),
                    'f'),
            new Case("mln-lstm-nwc-dropout", DataType.DOUBLE, s -> lstmNwc(s, DataType.DOUBLE), new long[] {4, 5, IN},
                    Segmentation.everyK(1)),
            new Case("mln-under-frozen", DataType.DOUBLE, s -> underFrozen(s, DataType.DOUBLE), flat,
                    Segmentation.everyK(1)),
        };
        return Stream.of(cs).flatMap(c -> Stream.of(11L, 29L).map(seed -> Arguments.of(c, seed)));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void gradientsEqualNonCheckpointed(Case c, long seed) {
        String ctx = "case " + c + " seed " + seed;
        double tol = c.type() == DataType.DOUBLE ? 1e-10 : 1e-5;
        Model ref = c.build().apply(seed);
        Model ckpt = c.build().apply(seed);
        DataSet d = c.data(seed);
        CheckpointedTrainer t = trainer(ckpt, c.seg());
        assertTrue(t.segmentStarts(d).length >= 2, ctx + ": expected several segments");
        INDArray expected = referenceGradient(ref, d, seed * 7 + 1);
        INDArray actual = checkpointedGradient(t, d, seed * 7 + 1);
        assertClose(expected, actual, tol, ctx);
        // dropout really acts: another random seed gives another gradient
        INDArray other = checkpointedGradient(t, d, seed * 7 + 2);
        assertTrue(other.sub(actual).norm2Number().doubleValue() > 1e-6, ctx + ": dropout had no effect");
        // the random generator is left where the plain pass leaves it
        double afterRef;
        double afterCkpt;
        referenceGradient(ref, d, seed);
        afterRef = Nd4j.getRandom().nextDouble();
        checkpointedGradient(t, d, seed);
        afterCkpt = Nd4j.getRandom().nextDouble();
        assertEquals(afterRef, afterCkpt, 0.0, ctx + ": random state after the step");
    }

    static Stream<Arguments> fitCases() {
        return cases().filter(a -> ((Case) a.get()[0]).type() == DataType.DOUBLE);
    }

    @ParameterizedTest
    @MethodSource("fitCases")
    void parametersAfterStepsEqualFit(Case c, long seed) {
        String ctx = "case " + c + " seed " + seed;
        Model ref = c.build().apply(seed);
        Model ckpt = c.build().apply(seed);
        CheckpointedTrainer t = trainer(ckpt, c.seg());
        INDArray before = ref.params().dup();
        for (int step = 0; step < 3; step++) {
            DataSet d = c.data(seed + step);
            Nd4j.getRandom().setSeed(seed + 100 + step);
            if (ref instanceof MultiLayerNetwork) {
                ((MultiLayerNetwork) ref).fit(d);
            } else {
                ((ComputationGraph) ref).fit(d);
            }
            Nd4j.getRandom().setSeed(seed + 100 + step);
            double score = t.fit(d);
            assertEquals(ref.score(), score, 1e-10, ctx + ": score of step " + step);
        }
        assertTrue(ref.params().sub(before).norm2Number().doubleValue() > 1e-4, ctx + ": fit changed nothing");
        assertClose(ref.params(), ckpt.params(), 1e-9, ctx);
    }

    @ParameterizedTest
    @MethodSource("seedList")
    void epochEqualsFitOnIterator(long seed) {
        String ctx = "seed " + seed;
        MultiLayerNetwork ref = dense(seed, DataType.DOUBLE, 5);
        MultiLayerNetwork ckpt = dense(seed, DataType.DOUBLE, 5);
        java.util.List<DataSet> batches = new java.util.ArrayList<>();
        for (int i = 0; i < 4; i++) {
            batches.add(data(seed * 10 + i, DataType.DOUBLE, 6, IN));
        }
        // one seed for the whole epoch: the trainer must draw exactly the random numbers DL4J draws
        Nd4j.getRandom().setSeed(seed);
        ref.fit(new org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator<>(batches));
        Nd4j.getRandom().setSeed(seed);
        CheckpointedTrainer.of(ckpt, Segmentation.everyK(2))
                .fit(new org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator<>(batches));
        assertEquals(1, ckpt.getEpochCount(), ctx + ": epoch count");
        assertEquals(ref.getIterationCount(), ckpt.getIterationCount(), ctx + ": iteration count");
        assertClose(ref.params(), ckpt.params(), 1e-9, ctx);
    }

    static Stream<Long> seedList() {
        return Stream.of(3L, 17L);
    }

    /** Listeners that read the batch from the network, such as DL4J's PerformanceListener, see this step's batch. */
    @ParameterizedTest
    @ValueSource(strings = {"mln", "graph"})
    void listenersSeeTheBatchInTheNetwork(String kind) {
        Model net = kind.equals("mln") ? dense(7, DataType.DOUBLE, 3) : graph(7, DataType.DOUBLE);
        java.util.List<Integer> batchSizes = new java.util.ArrayList<>();
        java.util.List<INDArray> inputs = new java.util.ArrayList<>();
        org.deeplearning4j.optimize.api.BaseTrainingListener probe =
                new org.deeplearning4j.optimize.api.BaseTrainingListener() {
                    @Override
                    public void iterationDone(Model model, int iteration, int epoch) {
                        batchSizes.add(model.batchSize());
                        inputs.add(model instanceof MultiLayerNetwork m ? m.getInput()
                                : ((ComputationGraph) model).getInput(0));
                    }
                };
        net.setListeners(new org.deeplearning4j.optimize.listeners.PerformanceListener(1, false), probe);
        CheckpointedTrainer t = trainer(net, Segmentation.everyK(2));
        for (int batch : new int[] {6, 3}) {
            DataSet d = data(batch, DataType.DOUBLE, batch, IN);
            t.fit(d);
            assertEquals(batch, batchSizes.get(batchSizes.size() - 1), kind + ": batch size seen by listeners");
            assertTrue(inputs.get(inputs.size() - 1) == d.getFeatures(), kind + ": input seen by listeners");
        }
    }

    /**
     * DL4J's step adds the regularization score to the loss and applies constraints after every update; a
     * listener reading the network's counts in iterationDone sees what it sees under fit.
     */
    @Test
    void regularizationConstraintsAndCountsFollowFit() {
        java.util.function.LongFunction<MultiLayerNetwork> build = seed -> {
            MultiLayerNetwork n = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(seed)
                    .dataType(DataType.DOUBLE).updater(new Adam(5e-2)).activation(Activation.TANH).l2(1e-2).list()
                    .layer(new DenseLayer.Builder().nIn(IN).nOut(9).dropOut(0.8)
                            .constrainWeights(new org.deeplearning4j.nn.conf.constraint.MaxNormConstraint(0.3, 1))
                            .build())
                    .layer(new DenseLayer.Builder().nIn(9).nOut(8)
                            .constrainBias(new org.deeplearning4j.nn.conf.constraint.NonNegativeConstraint()).build())
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                            .nIn(8).nOut(CLASSES).build())
                    .build());
            n.init();
            return n;
        };
        MultiLayerNetwork ref = build.apply(19);
        MultiLayerNetwork ckpt = build.apply(19);
        java.util.List<String> refCounts = new java.util.ArrayList<>();
        java.util.List<String> ckptCounts = new java.util.ArrayList<>();
        ref.setListeners(countRecorder(refCounts));
        ckpt.setListeners(countRecorder(ckptCounts));
        CheckpointedTrainer t = CheckpointedTrainer.of(ckpt, Segmentation.everyK(1));
        for (int step = 0; step < 3; step++) {
            DataSet d = data(19 + step, DataType.DOUBLE, 6, IN);
            Nd4j.getRandom().setSeed(300 + step);
            ref.fit(d);
            Nd4j.getRandom().setSeed(300 + step);
            assertEquals(ref.score(), t.fit(d), 1e-10, "score of step " + step + " (with the L2 term)");
        }
        assertClose(ref.params(), ckpt.params(), 1e-9, "parameters (constrained)");
        assertEquals(refCounts, ckptCounts, "iteration and epoch counts seen in iterationDone");
    }

    private static org.deeplearning4j.optimize.api.TrainingListener countRecorder(java.util.List<String> into) {
        return new org.deeplearning4j.optimize.api.BaseTrainingListener() {
            @Override
            public void iterationDone(Model model, int iteration, int epoch) {
                MultiLayerNetwork m = (MultiLayerNetwork) model;
                into.add(iteration + "/" + epoch + " net " + m.getIterationCount() + "/" + m.getEpochCount());
            }
        };
    }

    /** A dropout rate scheduled by iteration: each layer must know the network's iteration count. */
    @Test
    void scheduledDropoutFollowsTheIterationCount() {
        java.util.function.LongFunction<MultiLayerNetwork> build = seed -> {
            org.nd4j.linalg.schedule.ISchedule schedule = new org.nd4j.linalg.schedule.MapSchedule(
                    org.nd4j.linalg.schedule.ScheduleType.ITERATION, java.util.Map.of(0, 0.9, 1, 0.3, 2, 0.6));
            MultiLayerNetwork n = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(seed)
                    .dataType(DataType.DOUBLE).updater(new Adam(1e-2)).activation(Activation.TANH).list()
                    .layer(new DenseLayer.Builder().nIn(IN).nOut(9).build())
                    .layer(new DenseLayer.Builder().nIn(9).nOut(8)
                            .dropOut(new org.deeplearning4j.nn.conf.dropout.Dropout(schedule)).build())
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                            .nIn(8).nOut(CLASSES).build())
                    .build());
            n.init();
            return n;
        };
        MultiLayerNetwork ref = build.apply(23);
        MultiLayerNetwork ckpt = build.apply(23);
        CheckpointedTrainer t = CheckpointedTrainer.of(ckpt, Segmentation.everyK(1));
        for (int step = 0; step < 3; step++) {
            DataSet d = data(23 + step, DataType.DOUBLE, 6, IN);
            Nd4j.getRandom().setSeed(400 + step);
            ref.fit(d);
            Nd4j.getRandom().setSeed(400 + step);
            assertEquals(ref.score(), t.fit(d), 1e-10, "score of step " + step);
        }
        assertClose(ref.params(), ckpt.params(), 1e-9, "parameters");
    }

    /**
     * The memory checkpointing saves: while a later segment runs forward, the layers of the earlier ones are
     * cleared (they hold no input). Without checkpointing (one segment) layer 0 still holds its input then.
     */
    @Test
    void earlierSegmentsHoldNoActivationsWhileLaterOnesRun() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(27)
                .dataType(DataType.DOUBLE).updater(new Adam(1e-2)).activation(Activation.TANH).list()
                .layer(new DenseLayer.Builder().nIn(IN).nOut(12).dropOut(0.8).build())
                .layer(new DenseLayer.Builder().nIn(12).nOut(11).build())
                .layer(new DenseLayer.Builder().nIn(11).nOut(10).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .nIn(10).nOut(CLASSES).build())
                .inputPreProcessor(3, new HeldInputProbe())
                .build());
        net.init();
        HeldInputProbe probe = (HeldInputProbe) net.getLayerWiseConfigurations().getInputPreProcess(3);
        probe.net = net;
        DataSet d = data(27, DataType.DOUBLE, 5, IN);
        CheckpointedTrainer.of(net, Segmentation.everyK(2)).fit(d);
        assertEquals(java.util.List.of(false), probe.layer0Held, "segments [0, 2) and [2, 4): layer 0 cleared");
        probe.layer0Held.clear();
        CheckpointedTrainer.of(net, Segmentation.manual()).fit(d);
        assertEquals(java.util.List.of(true), probe.layer0Held, "one segment: layer 0 holds its input");
    }

    /** An identity preprocessor that notes, each time it runs forward, whether layer 0 of {@code net} holds an input. */
    static final class HeldInputProbe implements org.deeplearning4j.nn.conf.InputPreProcessor {
        private static final long serialVersionUID = 1L;
        transient MultiLayerNetwork net;
        final transient java.util.List<Boolean> layer0Held = new java.util.ArrayList<>();

        @Override
        public INDArray preProcess(INDArray input, int miniBatchSize,
                                   org.deeplearning4j.nn.workspace.LayerWorkspaceMgr workspaceMgr) {
            if (net != null) {
                layer0Held.add(net.getLayer(0).input() != null);
            }
            return input;
        }

        @Override
        public INDArray backprop(INDArray output, int miniBatchSize,
                                 org.deeplearning4j.nn.workspace.LayerWorkspaceMgr workspaceMgr) {
            return output;
        }

        @Override
        public org.deeplearning4j.nn.conf.InputPreProcessor clone() {
            return this;
        }

        @Override
        public InputType getOutputType(InputType inputType) {
            return inputType;
        }

        @Override
        public org.nd4j.common.primitives.Pair<INDArray, org.deeplearning4j.nn.api.MaskState> feedForwardMaskArray(
                INDArray maskArray, org.deeplearning4j.nn.api.MaskState currentMaskState, int minibatchSize) {
            return new org.nd4j.common.primitives.Pair<>(maskArray, currentMaskState);
        }
    }

    @Test
    void lokrBaseStaysFrozen() {
        MultiLayerNetwork net = lokr(5);
        INDArray w = net.getLayer(0).getParam("W").dup();
        INDArray adapterBefore = net.getLayer(0).params().dup();
        CheckpointedTrainer t = CheckpointedTrainer.of(net, Segmentation.everyK(2));
        for (int i = 0; i < 3; i++) {
            t.fit(data(i, DataType.DOUBLE, 6, IN));
        }
        assertEquals(w, net.getLayer(0).getParam("W"), "frozen base W of layer 0 changed");
        assertTrue(!adapterBefore.equals(net.getLayer(0).params()), "adapter of layer 0 did not train");
    }

    @Test
    void budgetSegmentsFollowOutputSizes() {
        MultiLayerNetwork net = dense(3, DataType.DOUBLE, 4); // outputs 12, 13, 14, 15, 4 wide
        DataSet d = data(3, DataType.DOUBLE, 5, IN);
        CheckpointedTrainer t = CheckpointedTrainer.of(net, Segmentation.byMemoryBudget(8L * 5 * 26));
        assertArrayEquals(new long[] {8L * 5 * 12, 8L * 5 * 13, 8L * 5 * 14, 8L * 5 * 15, 8L * 5 * 4},
                t.estimateOutputBytes(d));
        assertArrayEquals(new int[] {0, 2, 3}, t.segmentStarts(d)); // 480+520 | 560 | 600+160
        assertArrayEquals(new int[] {0, 3}, CheckpointedTrainer.of(net, Segmentation.everyK(3)).segmentStarts(d));
        // the same trainer resolves the budget again for another batch size: twice the bytes per unit
        DataSet twice = data(4, DataType.DOUBLE, 10, IN);
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, t.segmentStarts(twice)); // 960 | 1040 | 1120 | 1200 | 320
        assertArrayEquals(new int[] {0, 2, 3}, t.segmentStarts(d));
    }

    @Test
    void refusesUnsupportedInput() {
        MultiLayerNetwork net = dense(3, DataType.DOUBLE, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CheckpointedTrainer.of(net, Segmentation.manual(1, 3)));
        assertTrue(e.getMessage().contains("boundary 3") && e.getMessage().contains("units 3"), e.getMessage());

        ComputationGraph g = new ComputationGraph(new NeuralNetConfiguration.Builder().graphBuilder().addInputs("in")
                .addLayer("a", new DenseLayer.Builder().nIn(IN).nOut(5).build(), "in")
                .addLayer("b", new DenseLayer.Builder().nIn(IN).nOut(5).build(), "in")
                .addVertex("m", new org.deeplearning4j.nn.conf.graph.MergeVertex(), "a", "b")
                .addLayer("out", new OutputLayer.Builder().nIn(10).nOut(CLASSES).build(), "m").setOutputs("out")
                .build());
        g.init();
        e = assertThrows(IllegalArgumentException.class, () -> CheckpointedTrainer.of(g, Segmentation.automatic()));
        assertTrue(e.getMessage().contains("chain"), e.getMessage());

        DataSet masked = data(3, DataType.DOUBLE, 4, IN);
        masked.setFeaturesMaskArray(Nd4j.ones(DataType.DOUBLE, 4, 1));
        CheckpointedTrainer plain = CheckpointedTrainer.of(net, Segmentation.automatic());
        e = assertThrows(IllegalArgumentException.class, () -> plain.fit(masked));
        assertTrue(e.getMessage().contains("masks"), e.getMessage());
        DataSet labelMasked = data(3, DataType.DOUBLE, 4, IN);
        labelMasked.setLabelsMaskArray(Nd4j.ones(DataType.DOUBLE, 4, 1));
        e = assertThrows(IllegalArgumentException.class, () -> plain.fit(labelMasked));
        assertTrue(e.getMessage().contains("masks"), e.getMessage());

        MultiLayerNetwork tbptt = dense(3, DataType.DOUBLE, 2);
        tbptt.getLayerWiseConfigurations().setBackpropType(org.deeplearning4j.nn.conf.BackpropType.TruncatedBPTT);
        e = assertThrows(IllegalArgumentException.class, () -> CheckpointedTrainer.of(tbptt, Segmentation.automatic()));
        assertTrue(e.getMessage().contains("got TruncatedBPTT"), e.getMessage());

    }
}
