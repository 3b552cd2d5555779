package dev.lokr.dl4j.scenario;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.LokrNetwork;
import dev.lokr.dl4j.LokrNetworks;
import dev.lokr.dl4j.Targets;
import dev.lokr.dl4j.checkpoint.CheckpointedTrainer;
import dev.lokr.dl4j.checkpoint.Segmentation;
import dev.lokr.dl4j.offload.EncoderOffload;
import dev.lokr.dl4j.offload.FeatureCache;
import dev.lokr.dl4j.train.TrainingOptions;
import dev.lokr.io.AdapterFile;
import dev.lokr.io.SafetensorsReader;
import dev.lokr.io.TensorInfo;
import dev.lokr.math.LokrLayout;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * End-to-end use of a conv + dense {@link ComputationGraph} through the public API only, as the README
 * documents it: apply with each adapter option, train with the README's training options, merge, save, and
 * reload into a freshly built copy of the base.
 */
class GraphScenarioTest {

    static final int CHANNELS = 3;
    static final int IMAGE = 6;
    static final int CLASSES = 4;
    static final int BATCH = 8;

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() {
        Nd4j.getEnvironment().setMaxThreads(1);
        Nd4j.getEnvironment().setMaxMasterThreads(1);
    }

    /** in [3, 6, 6] -> conv_0 (3x3, 8) -> conv_1 (3x3, 32) -> dense_0 (16) -> out (4): a chain. At rank 2, conv_0's
     * and out's w2 are full (out's w1 too, so its scale is 1), conv_1's w2 is low-rank (or Tucker), and dense_0's
     * w1 is low-rank with decomposeBoth. */
    static ComputationGraph base(long seed) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed)
                .dataType(DataType.FLOAT).updater(new Adam(1e-2)).weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("in")
                .addLayer("conv_0", new ConvolutionLayer.Builder(3, 3).nOut(8).convolutionMode(ConvolutionMode.Same)
                        .activation(Activation.TANH).build(), "in")
                .addLayer("conv_1", new ConvolutionLayer.Builder(3, 3).nOut(32).convolutionMode(ConvolutionMode.Same)
                        .activation(Activation.TANH).build(), "conv_0")
                .addLayer("dense_0", new DenseLayer.Builder().nOut(16).activation(Activation.TANH).build(), "conv_1")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "dense_0")
                .setOutputs("out")
                .setInputTypes(InputType.convolutional(IMAGE, IMAGE, CHANNELS))
                .build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    static List<DataSet> batches(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<DataSet> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] x = new float[BATCH * CHANNELS * IMAGE * IMAGE];
            for (int j = 0; j < x.length; j++) {
                x[j] = (float) r.nextDouble(-1, 1);
            }
            INDArray y = Nd4j.zeros(DataType.FLOAT, BATCH, CLASSES);
            for (int j = 0; j < BATCH; j++) {
                y.putScalar(j, r.nextInt(CLASSES), 1f);
            }
            out.add(new DataSet(Nd4j.create(x, new long[] {BATCH, CHANNELS, IMAGE, IMAGE}), y));
        }
        return out;
    }

    static LokrAdapter adapter(String option) {
        LokrAdapter.Builder b = LokrAdapter.builder().rank(2).alpha(4).seed(11);
        switch (option) {
            case "plain" -> { }
            case "decomposeBoth" -> b.decomposeBoth(true);
            case "tucker" -> b.tucker(true);
            case "scalar" -> b.scalar(true);
            case "doraOut" -> b.dora(true);
            case "doraIn" -> b.dora(true).doraOnInput(true);
            case "factor4Unbalanced" -> b.factor(4).unbalancedFactorization(true);
            case "fullMatrix" -> b.fullMatrix(true).decomposeBoth(true);
            case "rsLora" -> b.rsLora(true);
            default -> throw new IllegalArgumentException(option);
        }
        return b.build();
    }

    static Targets targets() {
        return Targets.names("dense_.*", "out").orTypes(ConvolutionLayer.class);
    }

    static Map<String, INDArray> snapshot(ComputationGraph g) {
        Map<String, INDArray> m = new TreeMap<>();
        g.paramTable().forEach((k, v) -> m.put(k, v.dup()));
        return m;
    }

    static double maxAbsDiff(INDArray a, INDArray b) {
        return a.castTo(DataType.DOUBLE).sub(b.castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
    }

    /** LyCORIS's factorization(dimension, factor): a split m <= n, the most balanced one with m <= factor. */
    static int[] lycorisSplit(int dimension, int factor) {
        if (factor > 0 && dimension % factor == 0) {
            int m = factor;
            int n = dimension / factor;
            return m > n ? new int[] {n, m} : new int[] {m, n};
        }
        int limit = factor < 0 ? dimension : factor;
        int m = 1;
        int n = dimension;
        int length = m + n;
        while (m < n) {
            int newM = m + 1;
            while (dimension % newM != 0) {
                newM++;
            }
            int newN = dimension / newM;
            if (newM + newN > length || newM > limit) {
                break;
            }
            m = newM;
            n = newN;
        }
        return m > n ? new int[] {n, m} : new int[] {m, n};
    }

    /** The README's training options, every one switched on (numWorkers 2 so the prefetcher is used). */
    static TrainingOptions allOptions() {
        return TrainingOptions.builder().numWorkers(2).queueSize(2).persistentWorkers(true).pinMemory(true)
                .gradientCheckpointing(true).offloadEncoder(true).build();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"plain", "decomposeBoth", "tucker", "scalar", "doraOut", "doraIn", "factor4Unbalanced",
        "fullMatrix", "rsLora"})
    void graphAdaptTrainMergeSaveReload(String option) throws Exception {
        LokrAdapter adapter = adapter(option);
        ComputationGraph pretrained = base(5);
        List<DataSet> data = batches(3, 17);
        INDArray x = data.get(0).getFeatures();
        INDArray baseOut = pretrained.outputSingle(x).dup();

        LokrNetwork<ComputationGraph> adapted = LokrNetworks.apply(adapter, pretrained, targets());
        ComputationGraph g = adapted.network();
        assertEquals(List.of("conv_0", "conv_1", "dense_0", "out"), new ArrayList<>(new TreeSet<>(adapted.adaptedLayers())));
        // dW = 0 at step 0 (with the scalar, g = 0): the adapted graph computes the base exactly
        assertEquals(0.0, maxAbsDiff(baseOut, g.outputSingle(x)), 1e-6, option);
        Map<String, INDArray> before = snapshot(g);

        // training as the README says for a ComputationGraph: options.wrap(data) + CheckpointedTrainer
        TrainingOptions opts = allOptions();
        CheckpointedTrainer trainer = CheckpointedTrainer.of(g, Segmentation.automatic());
        DataSetIterator wrapped = opts.wrap(new ExistingDataSetIterator(data));
        try {
            for (int epoch = 0; epoch < 2; epoch++) {
                trainer.fit(wrapped);
            }
        } finally {
            ((AutoCloseable) wrapped).close();
        }
        assertEquals(2, g.getEpochCount(), option);
        assertEquals(6, g.getIterationCount(), option);

        // only adapter tensors changed; the frozen W and b are bit-identical
        Map<String, INDArray> after = snapshot(g);
        int changed = 0;
        for (Map.Entry<String, INDArray> e : before.entrySet()) {
            String key = e.getKey();
            boolean frozen = key.endsWith("_W") || key.endsWith("_b");
            if (frozen) {
                assertEquals(e.getValue(), after.get(key), option + ": " + key + " changed");
            } else if (!e.getValue().equals(after.get(key))) {
                changed++;
            }
        }
        assertTrue(changed >= 4, option + ": only " + changed + " adapter tensors changed");

        // same as DL4J's own fit on the same batches
        ComputationGraph plainFit = LokrNetworks.apply(adapter, base(5), targets()).network();
        for (int epoch = 0; epoch < 2; epoch++) {
            plainFit.fit(new ExistingDataSetIterator(data));
        }
        double fitDiff = maxAbsDiff(plainFit.params(), g.params());
        assertTrue(fitDiff < 1e-5, option + ": checkpointed + prefetched training is " + fitDiff + " off DL4J's fit");

        INDArray adaptedOut = g.outputSingle(x).dup();
        assertTrue(maxAbsDiff(adaptedOut, baseOut) > 1e-4, option + ": training did not move the output");

        // the merged network: plain DL4J layers, same outputs
        ComputationGraph merged = adapted.merge();
        for (org.deeplearning4j.nn.api.Layer l : merged.getLayers()) {
            assertTrue(l.getClass().getName().startsWith("org.deeplearning4j."), l.getClass().getName());
        }
        assertFalse(merged.getConfiguration().toJson().contains("dev.lokr"), "the merged graph needs lokr to load");
        assertEquals(0.0, maxAbsDiff(adaptedOut, merged.outputSingle(x)), 2e-6, option);
        // and at another strength
        adapted.setMultiplier(0.6);
        INDArray at06 = g.outputSingle(x).dup();
        assertEquals(0.0, maxAbsDiff(at06, adapted.merge().outputSingle(x)), 2e-6, option);
        adapted.setMultiplier(1.0);

        // save; reload into a freshly built base (what a new JVM would do), two ways
        Path file = dir.resolve("adapter.safetensors");
        adapted.saveAdapter(file);
        LokrNetwork<ComputationGraph> reloaded = LokrNetworks.apply(adapter, base(5), targets());
        reloaded.loadAdapter(file);
        assertEquals(adaptedOut, reloaded.network().outputSingle(x), option + ": loadAdapter");
        try (AdapterFile af = AdapterFile.read(file)) {
            LokrNetwork<ComputationGraph> fromFile = LokrNetworks.apply(base(5), af);
            assertEquals(0.0, maxAbsDiff(adaptedOut, fromFile.network().outputSingle(x)), 1e-6,
                    option + ": apply(net, file)");
        }

        checkLycorisLayout(file, adapted, adapter, option);
    }

    /** Keys and shapes as LyCORIS's LokrModule creates them for these layers and options. */
    private static void checkLycorisLayout(Path file, LokrNetwork<ComputationGraph> adapted, LokrAdapter adapter,
                                           String option) throws Exception {
        // PyTorch weight shapes [out, in(, kh, kw)] of the four layers
        Map<String, long[]> weights = Map.of(
                "conv_0", new long[] {8, CHANNELS, 3, 3},
                "conv_1", new long[] {32, 8, 3, 3},
                "dense_0", new long[] {16, 32L * IMAGE * IMAGE},
                "out", new long[] {CLASSES, 16});
        int r = adapter.rank();
        TreeSet<String> expectedKeys = new TreeSet<>();
        try (SafetensorsReader reader = SafetensorsReader.open(file)) {
            for (Map.Entry<String, long[]> e : weights.entrySet()) {
                String module = "lycoris_" + e.getKey();
                long[] w = e.getValue();
                boolean conv = w.length == 4;
                int[] outSplit = lycorisSplit((int) w[0], adapter.factor());
                int[] inSplit = lycorisSplit((int) w[1], adapter.factor());
                int a = adapter.unbalancedFactorization() ? outSplit[1] : outSplit[0];
                int b = adapter.unbalancedFactorization() ? outSplit[0] : outSplit[1];
                int c = inSplit[0];
                int d = inSplit[1];
                LokrLayout layout = adapted.layouts().get(e.getKey());
                assertArrayEquals(new int[] {a, b, c, d}, new int[] {layout.a(), layout.b(), layout.c(), layout.d()},
                        option + " " + module);
                Map<String, long[]> expected = new TreeMap<>();
                boolean w1LowRank = adapter.decomposeBoth() && r < Math.max(a, c) / 2.0 && !adapter.fullMatrix();
                if (w1LowRank) {
                    expected.put("lokr_w1_a", new long[] {a, r});
                    expected.put("lokr_w1_b", new long[] {r, c});
                } else {
                    expected.put("lokr_w1", new long[] {a, c});
                }
                boolean w2Full = r >= Math.max(b, d) / 2.0 || adapter.fullMatrix();
                boolean tucker = conv && adapter.tucker();
                if (w2Full) {
                    expected.put("lokr_w2", conv ? new long[] {b, d, 3, 3} : new long[] {b, d});
                } else if (tucker) {
                    expected.put("lokr_w2_a", new long[] {r, b});
                    expected.put("lokr_t2", new long[] {r, r, 3, 3});
                    expected.put("lokr_w2_b", new long[] {r, d});
                } else {
                    expected.put("lokr_w2_a", new long[] {b, r});
                    expected.put("lokr_w2_b", new long[] {r, conv ? d * 9L : d});
                }
                expected.put("alpha", new long[] {});
                if (adapter.dora()) {
                    long[] shape = adapter.doraOnInput()
                            ? (conv ? new long[] {1, w[1], 1, 1} : new long[] {1, w[1]})
                            : (conv ? new long[] {w[0], 1, 1, 1} : new long[] {w[0], 1});
                    expected.put("dora_scale", shape);
                }
                for (Map.Entry<String, long[]> t : expected.entrySet()) {
                    String key = module + "." + t.getKey();
                    expectedKeys.add(key);
                    assertTrue(reader.contains(key), option + ": no " + key + " in " + names(reader));
                    TensorInfo info = reader.info(key);
                    assertArrayEquals(t.getValue(), info.shape(), option + ": " + key);
                }
                double storedAlpha = reader.readDoubles(module + ".alpha")[0];
                boolean bothFull = !w1LowRank && w2Full;
                // LyCORIS's LokrModule: alpha = r when both factors are full; r_factor = r (sqrt(r) with rs_lora);
                // it stores alpha * r / r_factor, and its loader's scale is that / r (1 when both are full)
                double rFactor = adapter.rsLora() ? Math.sqrt(r) : r;
                double alpha = bothFull ? r : adapter.alpha();
                if (!(bothFull && adapter.rsLora())) {
                    // (with both factors full, every LyCORIS reader takes scale 1 whatever the stored alpha; lokr
                    // stores r there even with rs_lora, where LyCORIS's module would store r * sqrt(r))
                    assertEquals(alpha * r / rFactor, storedAlpha, 1e-6 * storedAlpha, option + " " + module);
                }
                assertEquals(bothFull ? 1.0 : alpha / rFactor, layout.scale(), 1e-12, option + " " + module);
            }
            assertEquals(expectedKeys, names(reader), option);
            // the option did shape the file
            assertEquals(adapter.tucker(), expectedKeys.contains("lycoris_conv_1.lokr_t2"), option);
            assertEquals(adapter.decomposeBoth() && !adapter.fullMatrix(),
                    expectedKeys.contains("lycoris_dense_0.lokr_w1_a"), option);
            assertTrue(expectedKeys.contains("lycoris_out.lokr_w2") && expectedKeys.contains("lycoris_out.lokr_w1"));
            assertEquals(adapter.fullMatrix(), expectedKeys.contains("lycoris_dense_0.lokr_w2"), option);
        }
    }

    private static TreeSet<String> names(SafetensorsReader reader) {
        TreeSet<String> s = new TreeSet<>();
        for (TensorInfo t : reader.tensors()) {
            s.add(t.name());
        }
        return s;
    }

    @Test
    void unsupportedLayerIsRefusedByName() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(3)
                .dataType(DataType.FLOAT).updater(new Adam(1e-2)).graphBuilder()
                .addInputs("in")
                .addLayer("conv_0", new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.TANH).build(), "in")
                .addLayer("bn", new BatchNormalization.Builder().build(), "conv_0")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "bn")
                .setOutputs("out")
                .setInputTypes(InputType.convolutional(IMAGE, IMAGE, CHANNELS))
                .build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrNetworks.apply(LokrAdapter.builder().build(), g, Targets.names("bn", "conv_0")));
        assertTrue(e.getMessage().contains("bn") && e.getMessage().contains("BatchNormalization"), e.getMessage());
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> LokrNetworks.apply(LokrAdapter.builder().build(), g, Targets.names("dense_.*")));
        assertNotEquals(null, none.getMessage());
        // encoder offload is for MultiLayerNetworks only, and says so
        UnsupportedOperationException offload = assertThrows(UnsupportedOperationException.class,
                () -> EncoderOffload.prepare(g, new ExistingDataSetIterator(batches(1, 1)), FeatureCache.inMemory()));
        assertTrue(offload.getMessage().contains("ComputationGraph"), offload.getMessage());
        // Targets.all() adapts what is supported and passes the rest by
        LokrNetwork<ComputationGraph> all = LokrNetworks.apply(LokrAdapter.builder().build(), g, Targets.all());
        assertEquals(new TreeSet<>(Arrays.asList("conv_0", "out")), new TreeSet<>(all.adaptedLayers()));
    }
}
