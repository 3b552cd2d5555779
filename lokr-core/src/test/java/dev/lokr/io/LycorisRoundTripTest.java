package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.lokr.LokrAdapter;
import dev.lokr.math.DoraAxis;
import dev.lokr.math.FactorMode;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Saving with {@link LycorisWriter} and loading with {@link AdapterFile} keeps the effective
 * weight.
 */
class LycorisRoundTripTest {

    record Combo(String name, UnaryOperator<LokrAdapter.Builder> opts, long[] shape) {}

    static List<Combo> combos() {
        long[] dense = {96, 64};
        long[] conv = {32, 16, 3, 3};
        List<Combo> list = new ArrayList<>();
        list.add(new Combo("plain", b -> b.rank(4).alpha(2), dense));
        list.add(new Combo("decomposeBoth", b -> b.rank(2).alpha(3).decomposeBoth(true), dense));
        list.add(new Combo("tuckerConv", b -> b.rank(2).alpha(1).tucker(true), conv));
        list.add(new Combo("lowRankConv", b -> b.rank(2).alpha(1.5), conv));
        list.add(new Combo("scalar", b -> b.rank(4).alpha(2).scalar(true), dense));
        list.add(new Combo("doraOut", b -> b.rank(4).alpha(4).dora(true), dense));
        list.add(new Combo("doraIn", b -> b.rank(4).alpha(4).dora(true).doraOnInput(true), dense));
        list.add(
                new Combo(
                        "doraInConv", b -> b.rank(2).alpha(4).dora(true).doraOnInput(true), conv));
        list.add(new Combo("rsLora", b -> b.rank(4).alpha(3).rsLora(true), dense));
        list.add(new Combo("fullMatrix", b -> b.rank(4).alpha(3).fullMatrix(true), dense));
        list.add(
                new Combo(
                        "fullMatrixScalar",
                        b -> b.rank(4).alpha(3).fullMatrix(true).scalar(true),
                        conv));
        list.add(
                new Combo(
                        "unbalanced",
                        b -> b.rank(2).alpha(2).unbalancedFactorization(true),
                        dense));
        list.add(
                new Combo(
                        "everything",
                        b ->
                                b.rank(2)
                                        .alpha(5)
                                        .decomposeBoth(true)
                                        .scalar(true)
                                        .dora(true)
                                        .rsLora(true),
                        dense));
        return list;
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 1000;
        for (Combo c : combos()) {
            for (DType dt : IoTestSupport.readableDTypes()) {
                out.add(Arguments.of(c.name(), c, dt, seed++));
            }
        }
        return out.stream();
    }

    static INDArray random(Random rnd, DataType type, long... shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = rnd.nextDouble() * 2 - 1;
        }
        return Nd4j.create(v, shape, 'c').castTo(type);
    }

    static LokrParams randomParams(LokrLayout layout, DataType type, Random rnd) {
        Map<LokrParam, INDArray> m = new LinkedHashMap<>();
        for (LokrParam p : layout.params()) {
            INDArray v = random(rnd, type, layout.shapeOf(p));
            if (p == LokrParam.MAGNITUDE) {
                v = Nd4j.math.abs(v).addi(1.0);
            }
            m.put(p, v);
        }
        return LokrParams.of(layout, m);
    }

    @ParameterizedTest(name = "{0} {2}")
    @MethodSource("cases")
    void roundTripKeepsEffectiveWeight(
            String name, Combo combo, DType dt, long seed, @TempDir Path tmp) throws Exception {
        String label = "combo " + name + ", dtype " + dt + ", seed " + seed;
        DataType type = dt == DType.F64 ? DataType.DOUBLE : DataType.FLOAT;
        Random rnd = new Random(seed);
        LokrLayout layout =
                LokrLayout.plan(combo.opts().apply(LokrAdapter.builder()).build(), combo.shape());
        LokrParams params = randomParams(layout, type, rnd);
        INDArray base = random(rnd, DataType.DOUBLE, combo.shape());
        Path file = tmp.resolve("a.safetensors");
        Map<String, LokrParams> modules = new LinkedHashMap<>();
        modules.put("blocks.0.proj", params);
        LycorisWriter.save(file, modules, Map.of("note", "x"), dt);
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(AdapterFile.Format.LYCORIS, f.format(), label);
            assertEquals(List.of("lycoris_blocks_0_proj"), f.modules(), label);
            assertEquals("x", f.metadata().get("note"), label);
            AdapterFile.ModuleInfo info = f.moduleInfo("lycoris_blocks_0_proj");
            assertEquals(layout.w1Mode(), info.w1Mode(), label);
            assertEquals(layout.w2Mode(), info.w2Mode(), label);
            assertEquals(layout.doraAxis(), info.doraAxis(), label);
            assertEquals(dt, info.dtype(), label);
            LokrParams loaded = f.resolve("lycoris_blocks_0_proj", combo.shape(), DataType.DOUBLE);
            assertFalse(loaded.layout().scalar(), label + ": the scalar is folded");
            for (double m : new double[] {1.0, 0.7}) {
                INDArray want =
                        LokrWeights.effectiveWeight(params.castTo(DataType.DOUBLE), base, m, null);
                INDArray got = LokrWeights.effectiveWeight(loaded, base, m, null);
                INDArray delta = LokrWeights.deltaWeight(params.castTo(DataType.DOUBLE), m, null);
                double tol =
                        switch (dt) {
                            case F64 -> 1e-12;
                            case F32 -> 1e-6;
                            default -> 2e-2;
                        };
                double scaleRef =
                        Math.max(delta.amaxNumber().doubleValue(), 1e-3)
                                + base.amaxNumber().doubleValue();
                double err = got.sub(want).amaxNumber().doubleValue();
                if (err > tol * scaleRef) {
                    throw new AssertionError(
                            label + ", multiplier " + m + ": max |W' - W'_saved| = " + err);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("combos")
    void layoutIsDetectedFromTheFile(Combo combo, @TempDir Path tmp) throws Exception {
        LokrLayout layout =
                LokrLayout.plan(combo.opts().apply(LokrAdapter.builder()).build(), combo.shape());
        LokrParams params = randomParams(layout, DataType.FLOAT, new Random(7));
        Path file = tmp.resolve("a.safetensors");
        LycorisWriter.save(file, Map.of("m", params), null);
        try (AdapterFile f = AdapterFile.read(file)) {
            LokrParams loaded = f.resolve("lycoris_m", combo.shape(), DataType.FLOAT);
            LokrLayout l = loaded.layout();
            String label = "combo " + combo.name() + ": " + l + " vs " + layout;
            assertEquals(layout.a(), l.a(), label);
            assertEquals(layout.b(), l.b(), label);
            assertEquals(layout.c(), l.c(), label);
            assertEquals(layout.d(), l.d(), label);
            assertEquals(layout.rank(), l.rank(), label);
            assertEquals(layout.w1Mode(), l.w1Mode(), label);
            assertEquals(layout.w2Mode(), l.w2Mode(), label);
            assertEquals(layout.doraAxis(), l.doraAxis(), label);
            boolean bothFull = l.w1Mode() == FactorMode.FULL && l.w2Mode() == FactorMode.FULL;
            assertEquals(bothFull ? 1.0 : layout.scale(), l.scale(), 1e-6 * layout.scale(), label);
            assertEquals(layout.numParams() - (layout.scalar() ? 1 : 0), l.numParams(), label);
            assertEquals(layout.dora() ? l.doraAxis() : DoraAxis.NONE, l.doraAxis(), label);
        }
    }

    /**
     * Layouts the builder never makes but files do (PEFT's both-full modules with {@code s = alpha / r}, a low-rank
     * w1 beside a full w2): the saved file gives back the same delta weight.
     */
    @ParameterizedTest(name = "w1 {0}, w2 {1}, scale {2}")
    @MethodSource("explicitLayouts")
    void explicitLayoutsRoundTrip(FactorMode w1, FactorMode w2, double scale, @TempDir Path tmp) throws Exception {
        LokrLayout layout = LokrLayout.explicit(new long[] {8, 8}, 2, 4, 2, 4, 1, w1, w2, scale, false,
                DoraAxis.NONE, false);
        LokrParams params = randomParams(layout, DataType.DOUBLE, new Random(21));
        Path file = tmp.resolve("a.safetensors");
        LycorisWriter.save(file, Map.of("fc", params), null);
        String label = "w1 " + w1 + ", w2 " + w2 + ", scale " + scale;
        try (AdapterFile f = AdapterFile.read(file)) {
            AdapterFile.ModuleInfo info = f.moduleInfo("lycoris_fc");
            LokrParams loaded = f.resolve("lycoris_fc", new long[] {8, 8}, DataType.DOUBLE);
            if (w1 == FactorMode.LOW_RANK || w2 == FactorMode.LOW_RANK) {
                assertEquals(1, info.rank(), label + ": the rank comes from the low-rank factor");
                assertEquals(scale, loaded.layout().scale(), 1e-12, label);
            }
            INDArray want = LokrWeights.deltaWeight(params, 1.0, null);
            INDArray got = LokrWeights.deltaWeight(loaded, 1.0, null);
            double err = got.sub(want).amaxNumber().doubleValue();
            if (err > 1e-12 * Math.max(1, want.amaxNumber().doubleValue())) {
                throw new AssertionError(label + ": max |dW - dW_saved| = " + err);
            }
        }
    }

    static Stream<Arguments> explicitLayouts() {
        return Stream.of(
                Arguments.of(FactorMode.FULL, FactorMode.FULL, 0.25),
                Arguments.of(FactorMode.FULL, FactorMode.FULL, 3.0),
                Arguments.of(FactorMode.LOW_RANK, FactorMode.FULL, 0.5),
                Arguments.of(FactorMode.LOW_RANK, FactorMode.LOW_RANK, 0.5),
                Arguments.of(FactorMode.FULL, FactorMode.LOW_RANK, 2.0));
    }

    /** An {@code alpha} tensor of 0 means alpha = r (scale 1), as no alpha tensor does. */
    @ParameterizedTest(name = "alpha {0}")
    @MethodSource("zeroOrMissingAlpha")
    void aZeroOrMissingAlphaMeansScaleOne(String alpha, @TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("a.safetensors");
        List<SafetensorsWriter.Tensor> tensors = new ArrayList<>(List.of(
                SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2_a", Nd4j.ones(DataType.FLOAT, 4, 3), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2_b", Nd4j.ones(DataType.FLOAT, 3, 4), DType.F32)));
        if (!alpha.equals("missing")) {
            tensors.add(SafetensorsWriter.Tensor.of("lycoris_fc.alpha", Nd4j.scalar(Double.parseDouble(alpha)),
                    DType.F32));
        }
        SafetensorsWriter.write(file, null, tensors);
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(3, f.moduleInfo("lycoris_fc").rank());
            assertEquals(1.0, f.moduleInfo("lycoris_fc").scale(), 0.0, "alpha " + alpha);
            assertEquals(1.0, f.resolve("lycoris_fc", new long[] {8, 8}, DataType.FLOAT).layout().scale(), 0.0);
        }
    }

    static Stream<String> zeroOrMissingAlpha() {
        return Stream.of("0", "-0.0", "missing");
    }
}
