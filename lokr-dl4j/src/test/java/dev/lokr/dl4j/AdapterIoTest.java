package dev.lokr.dl4j;

import dev.lokr.LokrAdapter;
import dev.lokr.io.AdapterFile;
import dev.lokr.io.SafetensorsReader;
import dev.lokr.io.SafetensorsWriter;
import dev.lokr.io.TensorInfo;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link LokrNetwork#saveAdapter} / {@link LokrNetwork#loadAdapter}, and loading a DL4J-written file onto a base
 * network with {@link LokrNetworks#apply(MultiLayerNetwork, AdapterFile)}.
 */
class AdapterIoTest {

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    private static LokrNetwork<?> fromFile(Model base, AdapterFile file) throws Exception {
        return base instanceof MultiLayerNetwork ? LokrNetworks.apply((MultiLayerNetwork) base, file)
                : LokrNetworks.apply((ComputationGraph) base, file);
    }

    private static LokrNetwork<?> wrap(Model net) {
        return net instanceof MultiLayerNetwork ? LokrNetwork.of((MultiLayerNetwork) net)
                : LokrNetwork.of((ComputationGraph) net);
    }

    @ParameterizedTest(name = "{0} {1} seed={2}")
    @CsvSource({"denseMln, plain, 401", "denseMln, decomposeBoth, 402", "denseGraph, dora, 403",
            "denseMln, doraOnInput, 404", "convMln, tucker, 405", "convGraph, plain, 406",
            "denseGraph, fullMatrix, 407", "denseMln, scalar, 408", "convMln, allOfThem, 409",
            "denseMln, rsLora, 410"})
    void savedAdapterLoadsBackWithTheSameOutputs(String arch, String option, long seed) throws Exception {
        String id = arch + " " + option + " seed=" + seed;
        LokrAdapter options = GradientCheckTest.options(option, arch.startsWith("conv"));
        LokrNetwork<?> trained = GradientCheckTest.adapt(options, LokrNetworkTest.network(arch, seed));
        Fixtures.randomizeAdapters(trained, seed + 1);
        INDArray x = LokrNetworkTest.input(arch, seed + 2);
        INDArray want = LokrNetworkTest.output(trained.network(), x);
        Path file = dir.resolve("adapter.safetensors");
        trained.saveAdapter(file);

        LokrNetwork<?> fresh = GradientCheckTest.adapt(options, LokrNetworkTest.network(arch, seed));
        assertTrue(Checks.maxAbsDiff(want, LokrNetworkTest.output(fresh.network(), x)) > 1e-4,
                "a fresh adapter must differ before loading, " + id);
        fresh.loadAdapter(file);
        // A scalar gain is folded into w1 in the file, and the file keeps alpha = s * r in float32 (rsLora's
        // s = alpha / sqrt(r)), so those outputs agree to rounding only.
        boolean folded = option.equals("scalar") || option.equals("allOfThem") || option.equals("rsLora");
        INDArray got = LokrNetworkTest.output(fresh.network(), x);
        if (folded) {
            Checks.assertClose(want, got, 1e-5, "loadAdapter outputs, " + id);
        } else {
            Checks.assertBitIdentical(want, got, "loadAdapter outputs, " + id);
        }

        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(trained.adaptedLayers().size(), f.modules().size(), "modules " + f.modules() + ", " + id);
            for (String layer : trained.adaptedLayers()) {
                assertTrue(f.modules().contains(LokrNetwork.moduleName(layer)),
                        layer + " in " + f.modules() + ", " + id);
            }
            LokrNetwork<?> loaded = fromFile(LokrNetworkTest.network(arch, seed), f);
            loaded.setMultiplier(trained.getMultiplier()); // files carry no multiplier
            Checks.assertClose(want, LokrNetworkTest.output(loaded.network(), x), 1e-5,
                    "apply(net, file) outputs, " + id);
            // The file's plan survives ModelSerializer.
            File zip = dir.resolve("loaded.zip").toFile();
            ModelSerializer.writeModel(loaded.network(), zip, false);
            Model restored = loaded.network() instanceof MultiLayerNetwork
                    ? ModelSerializer.restoreMultiLayerNetwork(zip, false)
                    : ModelSerializer.restoreComputationGraph(zip, false);
            Checks.assertBitIdentical(LokrNetworkTest.output(loaded.network(), x), LokrNetworkTest.output(restored, x),
                    "restored file-loaded network, " + id);
            assertEquals(loaded.layouts(), wrap(restored).layouts(), "layouts after restore, " + id);
        }
    }

    @Test
    void loadingAFileWithADifferentLayoutNamesTheTensorAndTheShapes() throws Exception {
        LokrNetwork<?> rank4 = GradientCheckTest.adapt(LokrAdapter.builder().rank(4).build(),
                LokrNetworkTest.network("denseMln", 411));
        Path file = dir.resolve("rank4.safetensors");
        rank4.saveAdapter(file);
        LokrNetwork<?> rank2 = GradientCheckTest.adapt(LokrAdapter.builder().rank(2).build(),
                LokrNetworkTest.network("denseMln", 411));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> rank2.loadAdapter(file));
        assertTrue(e.getMessage().contains("dense_0") && e.getMessage().contains("w2a"), e.getMessage());
    }

    @Test
    void loadingAFileWithoutTheLayersModuleNamesTheLayer() throws Exception {
        LokrNetwork<?> dense = LokrNetworks.apply(LokrAdapter.builder().build(),
                (MultiLayerNetwork) LokrNetworkTest.network("denseMln", 412), Targets.names("dense_0"));
        Path file = dir.resolve("dense.safetensors");
        dense.saveAdapter(file);
        LokrNetwork<?> both = GradientCheckTest.adapt(LokrAdapter.builder().build(),
                LokrNetworkTest.network("denseMln", 412));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> both.loadAdapter(file));
        assertTrue(e.getMessage().contains("'out'") && e.getMessage().contains("lycoris_out"), e.getMessage());
    }

    @Test
    void fileModulesThatMatchNoLayerAreNamed() throws Exception {
        LokrNetwork<?> dense = GradientCheckTest.adapt(LokrAdapter.builder().build(),
                LokrNetworkTest.network("denseMln", 413));
        Path file = dir.resolve("dense.safetensors");
        dense.saveAdapter(file);
        try (AdapterFile f = AdapterFile.read(file)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LokrNetworks.apply((MultiLayerNetwork) LokrNetworkTest.network("convMln", 413), f));
            assertTrue(e.getMessage().contains("lycoris_dense_0") && e.getMessage().contains("match no layer"),
                    e.getMessage());
        }
    }

    /**
     * SDXL's two text encoders give LyCORIS modules such as {@code lora_te1_x} and {@code lora_te2_x}: both
     * reduce to layer {@code x}. Loading must refuse, not take whichever comes last in the file.
     */
    @Test
    void twoModulesForOneLayerAreRefusedByApplyAndLoadAdapter() throws Exception {
        LokrNetwork<?> dense = GradientCheckTest.adapt(LokrAdapter.builder().build(),
                LokrNetworkTest.network("denseMln", 414));
        Path saved = dir.resolve("saved.safetensors");
        dense.saveAdapter(saved);
        Path twice = dir.resolve("te1-te2.safetensors");
        List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
        try (SafetensorsReader r = SafetensorsReader.open(saved)) {
            for (TensorInfo t : r.tensors()) {
                if (t.name().startsWith("lycoris_dense_0.")) {
                    String param = t.name().substring("lycoris_dense_0".length());
                    for (String module : List.of("lora_te1_dense_0", "lora_te2_dense_0")) {
                        tensors.add(SafetensorsWriter.Tensor.raw(module + param, t.dtype(), t.shape(), r.raw(t.name())));
                    }
                } else {
                    tensors.add(SafetensorsWriter.Tensor.copied(r, t.name()));
                }
            }
            SafetensorsWriter.write(twice, r.metadata(), tensors);
        }
        try (AdapterFile f = AdapterFile.read(twice)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LokrNetworks.apply((MultiLayerNetwork) LokrNetworkTest.network("denseMln", 414), f));
            assertTrue(e.getMessage().contains("lora_te1_dense_0") && e.getMessage().contains("lora_te2_dense_0")
                    && e.getMessage().contains("both match layer dense_0"), e.getMessage());
        }
        INDArray before = dense.network().params().dup();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dense.loadAdapter(twice));
        assertTrue(e.getMessage().contains("[lora_te1_dense_0, lora_te2_dense_0]")
                && e.getMessage().contains("all match layer 'dense_0'"), e.getMessage());
        assertEquals(before, dense.network().params(), "nothing changes when loading is refused");
    }

    /** Layers 'a.b' (8 -> 8) and 'a_b' (8 -> 8), both adapted, and a file with one module for a layer 'a_b'. */
    @Test
    void oneModuleForTwoLayersIsRefusedByApplyAndLoadAdapter() throws Exception {
        ComputationGraph one = new ComputationGraph(Fixtures.base(DataType.FLOAT, WorkspaceMode.ENABLED,
                new Adam(1e-2), 5).graphBuilder()
                .addInputs("in")
                .addLayer("a_b", new DenseLayer.Builder().nIn(8).nOut(8).activation(Activation.TANH).build(), "in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(8).nOut(2)
                        .activation(Activation.IDENTITY).build(), "a_b")
                .setOutputs("out").build());
        one.init();
        Path file = dir.resolve("a_b.safetensors");
        LokrNetworks.apply(LokrAdapter.builder().rank(2).build(), one, Targets.names("a_b")).saveAdapter(file);

        ComputationGraph two = new ComputationGraph(Fixtures.base(DataType.FLOAT, WorkspaceMode.ENABLED,
                new Adam(1e-2), 5).graphBuilder()
                .addInputs("in")
                .addLayer("a.b", new DenseLayer.Builder().nIn(8).nOut(8).activation(Activation.TANH).build(), "in")
                .addLayer("a_b", new DenseLayer.Builder().nIn(8).nOut(8).activation(Activation.TANH).build(), "a.b")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(8).nOut(2)
                        .activation(Activation.IDENTITY).build(), "a_b")
                .setOutputs("out").build());
        two.init();
        try (AdapterFile f = AdapterFile.read(file)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LokrNetworks.apply(two, f));
            assertTrue(e.getMessage().contains("matches several layers [a.b, a_b]"), e.getMessage());
        }
        LokrNetwork<ComputationGraph> adapted = LokrNetworks.apply(LokrAdapter.builder().rank(2).build(), two,
                Targets.names("a\\.b", "a_b"));
        INDArray before = adapted.network().params().dup();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> adapted.loadAdapter(file));
        assertTrue(e.getMessage().contains("lycoris_a_b") && e.getMessage().contains("matches several layers ['a.b', 'a_b']"),
                e.getMessage());
        assertEquals(before, adapted.network().params(), "nothing changes when loading is refused");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"full w2,4,false,false,false", "low-rank w2,1,false,false,false", "tucker,1,true,false,false",
            "dora on output,1,false,true,false", "dora on input,4,false,true,true"})
    void conv1dAdaptersAreSavedInPyTorchsConv1dFormAndLoadBack(String what, int rank, boolean tucker, boolean dora,
                                                               boolean doraOnInput) throws Exception {
        LokrAdapter options = LokrAdapter.builder().rank(rank).tucker(tucker).dora(dora).doraOnInput(doraOnInput)
                .seed(5).build();
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(options,
                Fixtures.conv1dMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 414), Targets.names("conv1d_0"));
        Fixtures.randomizeAdapters(adapted, 21);
        Path file = dir.resolve("conv1d.safetensors");
        adapted.saveAdapter(file);
        try (AdapterFile f = AdapterFile.read(file)) {
            java.util.Map<String, long[]> shapes = f.moduleInfo("lycoris_conv1d_0").tensors();
            for (java.util.Map.Entry<String, long[]> e : shapes.entrySet()) {
                boolean kernel = e.getKey().equals("lokr_w2") || e.getKey().equals("lokr_t2")
                        || e.getKey().equals("dora_scale");
                if (kernel) {
                    assertEquals(3, e.getValue().length, what + ": " + e.getKey() + " is 3-D as PyTorch's Conv1d: "
                            + java.util.Arrays.toString(e.getValue()));
                }
            }
            // the module reads back onto a 3-D PyTorch weight [out, in, k] as onto DL4J's [out, in, k, 1]
            dev.lokr.math.LokrParams as3d = f.resolve("lycoris_conv1d_0", new long[] {Fixtures.CONV_OUT,
                    Fixtures.CONV_IN, 3}, DataType.FLOAT);
            dev.lokr.math.LokrParams as4d = f.resolve("lycoris_conv1d_0", new long[] {Fixtures.CONV_OUT,
                    Fixtures.CONV_IN, 3, 1}, DataType.FLOAT);
            for (dev.lokr.math.LokrParam p : as4d.layout().params()) {
                Checks.assertBitIdentical(as4d.get(p), as3d.get(p), what + " " + p);
            }
            LokrNetwork<?> fromFile = fromFile(Fixtures.conv1dMln(DataType.FLOAT, WorkspaceMode.ENABLED,
                    new Adam(1e-2), 414), f);
            INDArray x = Fixtures.uniform(new long[] {2, Fixtures.CONV_IN, Fixtures.SEQ}, -1, 1, DataType.FLOAT, 3);
            Checks.assertClose(adapted.network().output(x), ((MultiLayerNetwork) fromFile.network()).output(x), 1e-6,
                    what + ": apply(net, file)");
        }
        LokrNetwork<MultiLayerNetwork> other = LokrNetworks.apply(options,
                Fixtures.conv1dMln(DataType.FLOAT, WorkspaceMode.ENABLED, new Adam(1e-2), 414), Targets.names("conv1d_0"));
        other.loadAdapter(file);
        INDArray x = Fixtures.uniform(new long[] {2, Fixtures.CONV_IN, Fixtures.SEQ}, -1, 1, DataType.FLOAT, 4);
        Checks.assertClose(adapted.network().output(x), other.network().output(x), 1e-6, what + ": loadAdapter");
    }
}
