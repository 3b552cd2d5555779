package dev.lokr.dl4j;

import dev.lokr.io.ParityCases;
import dev.lokr.LokrAdapter;
import dev.lokr.io.AdapterFile;
import dev.lokr.io.Json;
import dev.lokr.io.SafetensorsReader;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Sgd;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parity with the Python reference (LyCORIS / PEFT): each case of lokr-core's {@code parity-cases} is built as a
 * DL4J graph (one branch per adapted layer, named like the PyTorch path with {@code '.'} as {@code '_'}), its
 * base weights loaded from {@code base.safetensors}, the adapter file loaded, and the merged weights compared
 * with {@code expected.safetensors}.
 */
class ParityTest {

    private static final int IMAGE = 6;
    private static Path root;

    @BeforeAll
    static void setUp() throws Exception {
        Fixtures.singleThreaded();
        root = parityRoot();
    }

    private static Path parityRoot() {
        return ParityCases.root();
    }

    static Stream<String> cases() throws Exception {
        Path r = parityRoot();
        try (Stream<Path> s = Files.list(r)) {
            List<String> names = s.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted()
                    .collect(Collectors.toList());
            assertEquals(6, names.size(), "parity cases " + names);
            return names.stream();
        }
    }

    /** One adapted layer of a case: its PyTorch path, kind and shape. */
    private static final class Spec {
        final String path;
        final boolean conv;
        final long in;
        final long out;
        final int k;

        Spec(String path, boolean conv, long in, long out, int k) {
            this.path = path;
            this.conv = conv;
            this.in = in;
            this.out = out;
            this.k = k;
        }

        String layerName() {
            return path.replace('.', '_');
        }
    }

    private static final class Case {
        final String name;
        final Path dir;
        final Path adapter;
        final List<Spec> layers = new ArrayList<>();
        final double multiplier;
        final LokrAdapter options;

        @SuppressWarnings("unchecked")
        Case(String name) throws Exception {
            this.name = name;
            this.dir = root.resolve(name);
            Map<String, Object> json = (Map<String, Object>) Json.parse(Files.readString(dir.resolve("case.json")));
            this.multiplier = ((Number) json.get("multiplier")).doubleValue();
            boolean peft = "peft".equals(json.get("layout"));
            this.adapter = dir.resolve(peft ? "adapter_model.safetensors" : "adapter.safetensors");
            LokrAdapter.Builder b = LokrAdapter.builder();
            if (peft) {
                Map<String, Object> cfg = (Map<String, Object>) Json.parse(
                        Files.readString(dir.resolve("adapter_config.json")));
                b.rank(((Number) cfg.get("r")).intValue()).alpha(((Number) cfg.get("alpha")).doubleValue())
                        .decomposeBoth(Boolean.TRUE.equals(cfg.get("decompose_both")))
                        .factor(((Number) cfg.get("decompose_factor")).intValue());
                try (AdapterFile f = AdapterFile.read(adapter); SafetensorsReader base =
                        SafetensorsReader.open(dir.resolve("base.safetensors"))) {
                    for (String m : f.modules()) {
                        long[] w = base.info(m + ".weight").shape();
                        layers.add(w.length == 4 ? new Spec(m, true, w[1], w[0], (int) w[2])
                                : new Spec(m, false, w[1], w[0], 1));
                    }
                }
            } else {
                for (Map<String, Object> l : (List<Map<String, Object>>) json.get("layers")) {
                    boolean conv = "conv".equals(l.get("kind"));
                    layers.add(new Spec((String) l.get("path"), conv, ((Number) l.get("in")).longValue(),
                            ((Number) l.get("out")).longValue(), conv ? ((Number) l.get("k")).intValue() : 1));
                }
                Map<String, Object> o = (Map<String, Object>) json.get("opts");
                b.rank(((Number) o.get("lora_dim")).intValue()).alpha(((Number) o.get("alpha")).doubleValue())
                        .decomposeBoth(Boolean.TRUE.equals(o.get("decompose_both")))
                        .tucker(Boolean.TRUE.equals(o.get("use_tucker")))
                        .scalar(Boolean.TRUE.equals(o.get("use_scalar")))
                        .dora(Boolean.TRUE.equals(o.get("weight_decompose")));
            }
            this.options = b.build();
        }
    }

    /** A graph with one input -> layer branch per spec, the base weights loaded. */
    private static ComputationGraph baseGraph(Case c) throws Exception {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder().seed(1)
                .dataType(DataType.DOUBLE).updater(new Sgd(0.1))
                .trainingWorkspaceMode(WorkspaceMode.ENABLED).inferenceWorkspaceMode(WorkspaceMode.ENABLED)
                .graphBuilder();
        List<String> outputs = new ArrayList<>();
        for (Spec s : c.layers) {
            String input = "in_" + s.layerName();
            g.addInputs(input);
            if (s.conv) {
                g.addLayer(s.layerName(), new ConvolutionLayer.Builder(s.k, s.k).nIn(s.in).nOut(s.out)
                        .convolutionMode(ConvolutionMode.Same).activation(Activation.IDENTITY).build(), input);
            } else {
                g.addLayer(s.layerName(), new DenseLayer.Builder().nIn(s.in).nOut(s.out)
                        .activation(Activation.IDENTITY).build(), input);
            }
            outputs.add(s.layerName());
        }
        ComputationGraph net = new ComputationGraph(g.setOutputs(outputs.toArray(new String[0])).build());
        net.init();
        try (SafetensorsReader base = SafetensorsReader.open(c.dir.resolve("base.safetensors"))) {
            for (Spec s : c.layers) {
                INDArray w = base.read(s.path + ".weight", DataType.DOUBLE);
                net.getLayer(s.layerName()).getParam("W").assign(s.conv ? w : w.transpose());
                INDArray bias = base.read(s.path + ".bias", DataType.DOUBLE);
                net.getLayer(s.layerName()).getParam("b").assign(bias.reshape(net.getLayer(s.layerName()).getParam("b").shape()));
            }
        }
        return net;
    }

    private static INDArray[] inputs(Case c, long seed) {
        INDArray[] in = new INDArray[c.layers.size()];
        for (int i = 0; i < in.length; i++) {
            Spec s = c.layers.get(i);
            long[] shape = s.conv ? new long[] {3, s.in, IMAGE, IMAGE} : new long[] {5, s.in};
            in[i] = Fixtures.uniform(shape, -1, 1, DataType.DOUBLE, seed + i);
        }
        return in;
    }

    /** Merged weights equal the reference's, and the adapted and merged networks agree. */
    private static void checkMerged(Case c, LokrNetwork<ComputationGraph> adapted, String how) throws Exception {
        String what = c.name + " (" + how + ")";
        assertEquals(c.layers.size(), adapted.adaptedLayers().size(), what + ": adapted layers " + adapted.adaptedLayers());
        adapted.setMultiplier(c.multiplier);
        ComputationGraph merged = adapted.merge();
        try (SafetensorsReader expected = SafetensorsReader.open(c.dir.resolve("expected.safetensors"));
             SafetensorsReader base = SafetensorsReader.open(c.dir.resolve("base.safetensors"))) {
            for (Spec s : c.layers) {
                INDArray want = expected.read(s.path + ".weight", DataType.DOUBLE);
                INDArray got = merged.getLayer(s.layerName()).getParam("W");
                assertReferencePrecision(s, base.read(s.path + ".weight", DataType.DOUBLE), want, want, got,
                        what + ": merged W of " + s.path);
                INDArray bias = expected.read(s.path + ".bias", DataType.DOUBLE).reshape(s.out);
                Checks.assertBitIdentical(bias, merged.getLayer(s.layerName()).getParam("b").reshape(s.out),
                        what + ": bias of " + s.path);
            }
        }
        INDArray[] x = inputs(c, 17);
        INDArray[] ya = adapted.network().output(false, x);
        INDArray[] ym = merged.output(false, x);
        for (int i = 0; i < ya.length; i++) {
            Checks.assertClose(ym[i], ya[i], 1e-9, what + ": adapted vs merged output " + i);
        }
    }

    /**
     * {@code got} (DL4J's layout) equals {@code want} (PyTorch's) within {@link ParityCases#tolerance} of the base
     * value and the reference's merged value {@code reference} at each element: the float32 precision of the
     * reference. An absolute 1e-5 (these weights are below 0.53) passed a scale 5e-5 off on every case.
     */
    private static void assertReferencePrecision(Spec s, INDArray base, INDArray reference, INDArray want, INDArray got,
                                                 String what) {
        double[] b = (s.conv ? base : base.transpose()).dup('c').data().asDouble();
        double[] r = (s.conv ? reference : reference.transpose()).dup('c').data().asDouble();
        double[] w = (s.conv ? want : want.transpose()).dup('c').data().asDouble();
        double[] g = got.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        assertEquals(w.length, g.length, what + ": size");
        for (int i = 0; i < w.length; i++) {
            double tol = ParityCases.tolerance(b[i], r[i]);
            assertTrue(Math.abs(g[i] - w[i]) <= tol,
                    what + ": element " + i + " = " + g[i] + ", expected " + w[i] + " within " + tol);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void fileAdapterMergesToTheReferenceWeights(String name) throws Exception {
        Case c = new Case(name);
        ComputationGraph base = baseGraph(c);
        try (AdapterFile file = AdapterFile.read(c.adapter)) {
            checkMerged(c, LokrNetworks.apply(base, file), "LokrNetworks.apply(net, file)");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void fileLoadsIntoAnAdapterMadeWithTheSameOptions(String name) throws Exception {
        Case c = new Case(name);
        LokrNetwork<ComputationGraph> adapted = LokrNetworks.apply(c.options, baseGraph(c), Targets.all());
        INDArray[] x = inputs(c, 5);
        INDArray before = adapted.network().output(false, x)[0].dup();
        adapted.loadAdapter(c.adapter);
        assertTrue(Checks.maxAbsDiff(before, adapted.network().output(false, x)[0]) > 1e-6,
                c.name + ": loading the file must change the outputs");
        checkMerged(c, adapted, "options + loadAdapter(path)");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void explicitLayerToModuleMapWithARuntimeMultiplier(String name) throws Exception {
        Case c = new Case(name);
        ComputationGraph base = baseGraph(c);
        double m = 0.5;
        try (AdapterFile file = AdapterFile.read(c.adapter)) {
            Map<String, String> modules = new LinkedHashMap<>();
            for (Spec s : c.layers) {
                String module = file.modules().stream().filter(n -> n.replace('.', '_').endsWith(s.layerName()))
                        .findFirst().orElseThrow();
                modules.put(s.layerName(), module);
            }
            LokrNetwork<ComputationGraph> adapted = LokrNetworks.apply(LokrAdapter.builder().multiplier(m).build(),
                    base, file, modules, true);
            assertEquals(m, adapted.getMultiplier(), c.name + ": multiplier");
            ComputationGraph merged = adapted.merge();
            boolean dora = file.moduleInfo(modules.values().iterator().next()).doraAxis() != dev.lokr.math.DoraAxis.NONE;
            try (SafetensorsReader expected = SafetensorsReader.open(c.dir.resolve("expected.safetensors"));
                 SafetensorsReader b = SafetensorsReader.open(c.dir.resolve("base.safetensors"))) {
                for (Spec s : c.layers) {
                    INDArray w0 = b.read(s.path + ".weight", DataType.DOUBLE);
                    INDArray w1 = expected.read(s.path + ".weight", DataType.DOUBLE);
                    INDArray got = merged.getLayer(s.layerName()).getParam("W");
                    INDArray half = w0.add(w1.sub(w0).muli(m));
                    if (dora) {
                        // DoRA is not linear in the multiplier: only check that it lies strictly between the ends.
                        assertTrue(Checks.maxAbsDiff(s.conv ? w0 : w0.transpose(), got) > 1e-6
                                && Checks.maxAbsDiff(s.conv ? w1 : w1.transpose(), got) > 1e-6, c.name + ": DoRA at " + m);
                    } else {
                        // the reference's rounding in w1, times m = 0.5, is within w1's bound
                        assertReferencePrecision(s, w0, w1, half, got, c.name + ": merged W at multiplier " + m);
                    }
                }
            }
        }
    }
}
