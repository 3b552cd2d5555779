package dev.lokr.dl4j;

import dev.lokr.LokrAdapter;
import dev.lokr.dl4j.conf.LokrLayer;
import dev.lokr.dl4j.layers.BaseLokrLayerImpl;
import dev.lokr.math.FactorMode;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DL4J gradient checks (double precision, central differences) of the adapter tensors of every option
 * combination, on small dense and convolution networks, as MultiLayerNetwork and as ComputationGraph.
 */
class GradientCheckTest {

    private static DataType savedType;
    private static DataType savedFloatType;

    @BeforeAll
    static void doublePrecision() {
        Fixtures.singleThreaded();
        savedType = Nd4j.dataType();
        savedFloatType = Nd4j.defaultFloatingPointType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    @AfterAll
    static void restorePrecision() {
        Nd4j.setDefaultDataTypes(savedType, savedFloatType);
    }

    /** Option combinations; rank 2 for dense and 1 for conv keeps every factor mode reachable. */
    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        String[] archs = {"denseMln", "denseGraph", "convMln", "convGraph"};
        String[] options = {"plain", "decomposeBoth", "scalar", "dora", "doraOnInput", "doraMultiplier",
                "rsLora", "fullMatrix", "unbalanced", "tucker", "allOfThem"};
        long seed = 101;
        for (String arch : archs) {
            for (String opt : options) {
                if (opt.equals("tucker") && !arch.startsWith("conv")) {
                    continue;
                }
                out.add(Arguments.of(arch, opt, seed++));
            }
        }
        return out.stream();
    }

    static LokrAdapter options(String name, boolean conv) {
        LokrAdapter.Builder b = LokrAdapter.builder().rank(conv ? 1 : 2).alpha(3);
        switch (name) {
            case "plain": break;
            case "decomposeBoth": b.decomposeBoth(true); break;
            case "scalar": b.scalar(true); break;
            case "dora": b.dora(true); break;
            case "doraOnInput": b.dora(true).doraOnInput(true); break;
            case "doraMultiplier": b.dora(true).multiplier(0.6); break;
            case "rsLora": b.rsLora(true).multiplier(1.7); break;
            case "fullMatrix": b.fullMatrix(true); break;
            case "unbalanced": b.unbalancedFactorization(true); break;
            case "tucker": b.tucker(true); break;
            case "allOfThem": b.decomposeBoth(true).scalar(true).dora(true).tucker(true).rsLora(true); break;
            default: throw new IllegalArgumentException(name);
        }
        return b.build();
    }

    static Model network(String arch, long seed) {
        switch (arch) {
            case "denseMln": return Fixtures.denseMln(DataType.DOUBLE, WorkspaceMode.ENABLED, new NoOp(), seed);
            case "denseGraph": return Fixtures.denseGraph(DataType.DOUBLE, WorkspaceMode.ENABLED, new NoOp(), seed);
            case "convMln": return Fixtures.convMln(DataType.DOUBLE, WorkspaceMode.ENABLED, new NoOp(), seed);
            case "convGraph": return Fixtures.convGraph(DataType.DOUBLE, WorkspaceMode.ENABLED, new NoOp(), seed);
            default: throw new IllegalArgumentException(arch);
        }
    }

    static LokrNetwork<?> adapt(LokrAdapter adapter, Model net) {
        return net instanceof MultiLayerNetwork
                ? LokrNetworks.apply(adapter, (MultiLayerNetwork) net, Targets.all())
                : LokrNetworks.apply(adapter, (ComputationGraph) net, Targets.all());
    }

    /** The network parameter keys of the adapted layers' frozen tensors (and, optionally, of their factors). */
    static Set<String> excluded(Model net, boolean factorsToo) {
        Set<String> out = new HashSet<>();
        List<Layer> layers = Networks.layers(net);
        for (int i = 0; i < layers.size(); i++) {
            if (!(layers.get(i) instanceof BaseLokrLayerImpl)) {
                continue;
            }
            String prefix = (net instanceof MultiLayerNetwork ? String.valueOf(i) : Networks.name(layers.get(i))) + "_";
            for (String key : layers.get(i).paramTable().keySet()) {
                boolean adapterTensor = LokrLayer.isAdapterParam(key);
                boolean magnitude = key.equals(LokrLayer.paramKey(LokrParam.MAGNITUDE));
                if (!adapterTensor || (factorsToo && !magnitude)) {
                    out.add(prefix + key);
                }
            }
        }
        return out;
    }

    static boolean check(Model net, INDArray in, INDArray labels, Set<String> exclude) {
        if (net instanceof MultiLayerNetwork) {
            return GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net((MultiLayerNetwork) net)
                    .input(in).labels(labels).excludeParams(exclude).maxRelError(1e-5).minAbsoluteError(1e-9));
        }
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig().net((ComputationGraph) net)
                .inputs(new INDArray[] {in}).labels(new INDArray[] {labels}).excludeParams(exclude)
                .maxRelError(1e-5).minAbsoluteError(1e-9));
    }

    /**
     * Negative control: the frozen base weight reports a zero gradient, so a check that includes it must fail
     * (showing that the checks above do compare gradients).
     */
    @Test
    void frozenWeightHasZeroGradientSoCheckingItFails() {
        LokrNetwork<?> adapted = adapt(options("plain", false), network("denseMln", 601));
        Fixtures.randomizeAdapters(adapted, 602);
        MultiLayerNetwork net = (MultiLayerNetwork) adapted.network();
        INDArray in = input("denseMln", 603);
        INDArray labels = Fixtures.labels((int) in.size(0), DataType.DOUBLE, 604);
        net.setInput(in);
        net.setLabels(labels);
        net.computeGradientAndScore();
        INDArray gW = net.gradient().gradientForVariable().get("0_W");
        assertEquals(0.0, gW.amaxNumber().doubleValue(), "gradient of the frozen W");
        Set<String> exclude = excluded(net, false);
        exclude.remove("0_W");
        assertFalse(GradientCheckUtil.checkGradients(new GradientCheckUtil.MLNConfig().net(net).input(in).labels(labels)
                .excludeParams(exclude).subset(true).maxPerParam(8)), "a check including the frozen W must fail");
    }

    static INDArray input(String arch, long seed) {
        return arch.startsWith("conv") ? Fixtures.convInput(3, DataType.DOUBLE, seed)
                : Fixtures.denseInput(4, DataType.DOUBLE, seed);
    }

    @ParameterizedTest(name = "{0} {1} seed={2}")
    @MethodSource("cases")
    void adapterGradientsMatchNumericalGradients(String arch, String option, long seed) {
        boolean conv = arch.startsWith("conv");
        LokrNetwork<?> adapted = adapt(options(option, conv), network(arch, seed));
        Fixtures.randomizeAdapters(adapted, seed + 1000);
        INDArray in = input(arch, seed + 1);
        INDArray labels = Fixtures.labels((int) in.size(0), DataType.DOUBLE, seed + 2);
        assertTrue(check(adapted.network(), in, labels, excluded(adapted.network(), false)),
                "gradient check failed: " + arch + " " + option + " seed=" + seed + "\n" + adapted.report());
    }

    /** The option names used above do reach the factor modes they are meant to test. */
    @Test
    void optionCasesCoverEveryFactorMode() {
        LokrLayout dense = options("decomposeBoth", false).layoutFor(Fixtures.DENSE_HIDDEN, Fixtures.DENSE_IN);
        assertEquals(FactorMode.LOW_RANK, dense.w1Mode(), "decomposeBoth dense: " + dense);
        assertEquals(FactorMode.LOW_RANK, dense.w2Mode(), "decomposeBoth dense: " + dense);
        LokrLayout conv = options("allOfThem", true).layoutFor(Fixtures.CONV_OUT, Fixtures.CONV_IN, 3, 3);
        assertEquals(FactorMode.LOW_RANK, conv.w1Mode(), "allOfThem conv: " + conv);
        assertEquals(FactorMode.TUCKER, conv.w2Mode(), "allOfThem conv: " + conv);
        LokrLayout full = options("fullMatrix", false).layoutFor(Fixtures.DENSE_HIDDEN, Fixtures.DENSE_IN);
        assertEquals(FactorMode.FULL, full.w2Mode(), "fullMatrix: " + full);
        LokrLayout lowRankConv = options("plain", true).layoutFor(Fixtures.CONV_OUT, Fixtures.CONV_IN, 3, 3);
        assertEquals(FactorMode.LOW_RANK, lowRankConv.w2Mode(), "plain conv: " + lowRankConv);
    }

    static Stream<Arguments> detachCases() {
        return Stream.of(Arguments.of("denseMln", 501L), Arguments.of("denseGraph", 502L),
                Arguments.of("convMln", 503L), Arguments.of("convGraph", 504L));
    }

    /**
     * With detachNorm the factor gradients deliberately omit the norm's path (they are not the gradients
     * of the loss), so only the magnitude is checked numerically; the factor gradients must differ from
     * the undetached ones.
     */
    @ParameterizedTest(name = "{0} seed={1}")
    @MethodSource("detachCases")
    void detachNormChecksMagnitudeAndChangesFactorGradients(String arch, long seed) {
        boolean conv = arch.startsWith("conv");
        LokrAdapter attached = LokrAdapter.builder().rank(conv ? 1 : 2).alpha(3).dora(true).build();
        LokrAdapter detached = attached.toBuilder().detachNorm(true).build();
        LokrNetwork<?> a = adapt(attached, network(arch, seed));
        LokrNetwork<?> d = adapt(detached, network(arch, seed));
        Fixtures.randomizeAdapters(a, seed + 1000);
        Fixtures.randomizeAdapters(d, seed + 1000);
        INDArray in = input(arch, seed + 1);
        INDArray labels = Fixtures.labels((int) in.size(0), DataType.DOUBLE, seed + 2);
        assertTrue(check(d.network(), in, labels, excluded(d.network(), true)),
                "magnitude gradient check failed with detachNorm: " + arch + " seed=" + seed);
        Map<String, INDArray> ga = gradients(a.network(), in, labels);
        Map<String, INDArray> gd = gradients(d.network(), in, labels);
        boolean anyFactorDiffers = false;
        for (String key : ga.keySet()) {
            if (key.endsWith(LokrLayer.paramKey(LokrParam.MAGNITUDE))) {
                assertTrue(ga.get(key).equalsWithEps(gd.get(key), 1e-12), "magnitude gradient " + key + " " + arch);
            } else if (key.contains("_" + LokrLayer.PARAM_PREFIX) && !ga.get(key).equalsWithEps(gd.get(key), 1e-9)) {
                anyFactorDiffers = true;
            }
        }
        assertTrue(anyFactorDiffers, "detachNorm did not change any factor gradient: " + arch + " seed=" + seed);
        assertFalse(ga.isEmpty());
    }

    private static Map<String, INDArray> gradients(Model net, INDArray in, INDArray labels) {
        if (net instanceof MultiLayerNetwork) {
            MultiLayerNetwork m = (MultiLayerNetwork) net;
            m.setInput(in);
            m.setLabels(labels);
            m.computeGradientAndScore();
            return copy(m.gradient().gradientForVariable());
        }
        ComputationGraph g = (ComputationGraph) net;
        g.setInputs(in);
        g.setLabels(labels);
        g.computeGradientAndScore();
        return copy(g.gradient().gradientForVariable());
    }

    private static Map<String, INDArray> copy(Map<String, INDArray> m) {
        Map<String, INDArray> out = new java.util.LinkedHashMap<>();
        m.forEach((k, v) -> out.put(k, v.dup()));
        return out;
    }
}
