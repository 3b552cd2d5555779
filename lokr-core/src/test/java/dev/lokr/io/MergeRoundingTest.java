package dev.lokr.io;

import dev.lokr.LokrAdapter;
import dev.lokr.math.LokrCases;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import dev.lokr.math.NaiveLokr;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Merging into F16 and BF16 weights: each merged value is the float64 effective weight rounded once, to nearest
 * with ties to even, to the weight's dtype, bit for bit. Computing in float32 first rounds twice (and adds float32
 * arithmetic's own errors): one value in a few thousand then lands one F16 or BF16 step away.
 */
class MergeRoundingTest {

    @TempDir
    Path dir;

    /** A weight of {@code dtype} whose values lie around {@code center} with spread {@code spread}. */
    record Case(DType dtype, boolean dora, double center, double spread, long seed) {
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case(DType.F16, false, 0, 1, 1),
                new Case(DType.F16, true, 0, 1, 2),
                new Case(DType.F16, false, 0, 1e-4, 3),          // F16 subnormals: below 6.1e-5
                new Case(DType.F16, false, 6.4e4, 1000, 4),      // up to F16's largest finite, 65504
                new Case(DType.BF16, false, 0, 1, 5),
                new Case(DType.BF16, true, 0, 1, 6),
                new Case(DType.BF16, false, 0, 1e-38, 7),        // BF16 subnormals: below 1.18e-38
                new Case(DType.BF16, false, -3e38, 2e37, 8));    // near BF16's largest finite, 3.39e38
    }

    @ParameterizedTest
    @MethodSource("cases")
    void mergedValuesAreTheFloat64WeightRoundedOnceToNearestEven(Case c) throws Exception {
        int n = 512;
        double multiplier = 0.75;
        LokrLayout l = LokrAdapter.builder().rank(4).alpha(2).dora(c.dora()).seed(c.seed()).build().layoutFor(n, n);
        LokrParams p = LokrParams.zeros(l, DataType.DOUBLE);
        LokrCases.randomize(p, c.seed());
        // dW of the spread's size: w1 [-1, 1), the low-rank w2 up to 4, the scale 0.5
        p.get(l.w1Mode() == dev.lokr.math.FactorMode.FULL ? LokrParam.W1 : LokrParam.W1_A).muli(c.spread() / 4);
        Random r = new Random(c.seed());
        double[] values = new double[n * n];
        for (int i = 0; i < values.length; i++) {
            values[i] = c.center() + c.spread() * (2 * r.nextDouble() - 1);
        }
        Path base = dir.resolve("base.safetensors");
        SafetensorsWriter.write(base, null, List.of(SafetensorsWriter.Tensor.of("l.weight",
                Nd4j.create(values, new long[] {n, n}, DataType.DOUBLE), c.dtype())));
        Path adapter = dir.resolve("adapter.safetensors");
        if (c.dora()) {
            // magnitudes near the base's row norms, as LyCORIS initialises them
            double norm = Math.sqrt(n * (c.center() * c.center() + c.spread() * c.spread() / 3));
            p.get(LokrParam.MAGNITUDE).muli(norm);
        }
        LycorisWriter.save(adapter, Map.of("l", p), null, DType.F64);
        Path out = dir.resolve("merged.safetensors");
        AdapterMerge.mergeFile(base, adapter, out, multiplier, null);

        double[] w;
        LokrParams resolved;
        try (SafetensorsReader b = SafetensorsReader.open(base); AdapterFile f = AdapterFile.read(adapter)) {
            w = b.readDoubles("l.weight");
            resolved = f.resolve("lycoris_l", new long[] {n, n}, DataType.DOUBLE);
        }
        double[] exact = NaiveLokr.effective(resolved, w, multiplier, null);
        try (SafetensorsReader o = SafetensorsReader.open(out)) {
            assertEquals(c.dtype(), o.info("l.weight").dtype(), c.toString());
            ByteBuffer bytes = o.raw("l.weight").order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < exact.length; i++) {
                int want = (c.dtype() == DType.F16 ? DType.doubleToHalf(exact[i]) : DType.doubleToBf16(exact[i]))
                        & 0xffff;
                int got = bytes.getShort(2 * i) & 0xffff;
                if (got != want) {
                    fail(c + ": merged value " + i + " is " + Integer.toHexString(got) + " ("
                            + c.dtype().getDouble(bytes, i) + "), the float64 value " + exact[i] + " rounds to "
                            + Integer.toHexString(want));
                }
            }
        }
    }
}
