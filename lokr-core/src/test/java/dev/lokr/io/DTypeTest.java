package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;

class DTypeTest {

    @Test
    @SuppressWarnings("deprecation") // DataType.HALF is what ND4J arrays report
    void namesSizesAndNd4jTypes() {
        assertEquals(4, DType.F32.byteSize());
        assertEquals(2, DType.F16.byteSize());
        assertEquals(2, DType.BF16.byteSize());
        assertEquals(8, DType.F64.byteSize());
        for (DType t : DType.values()) {
            assertEquals(t, DType.fromName(t.name()));
            if (t.readable()) {
                assertEquals(t, DType.fromNd4j(t.toNd4j()));
            } else {
                UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, t::toNd4j);
                assertTrue(e.getMessage().contains(t.name()) && e.getMessage().contains("byte for byte"), e.getMessage());
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8);
                assertThrows(UnsupportedOperationException.class, () -> t.getFloat(b, 0));
                assertThrows(UnsupportedOperationException.class, () -> t.getDouble(b, 0));
                assertThrows(UnsupportedOperationException.class, () -> t.putFloat(b, 0, 1f));
                assertThrows(UnsupportedOperationException.class, () -> t.putDouble(b, 0, 1.0));
            }
        }
        assertEquals(List.of(DType.F32, DType.F16, DType.BF16, DType.F64),
                java.util.Arrays.stream(DType.values()).filter(DType::readable).toList());
        assertEquals(8, DType.I64.byteSize());
        assertEquals(1, DType.BOOL.byteSize());
        assertEquals(2, DType.U16.byteSize());
        assertEquals(4, DType.I32.byteSize());
        assertEquals(DataType.FLOAT, DType.F32.toNd4j());
        assertEquals(DataType.HALF, DType.F16.toNd4j());
        assertEquals(DType.F16, DType.fromNd4j(DataType.FLOAT16));
        assertEquals(DataType.BFLOAT16, DType.BF16.toNd4j());
        assertEquals(DataType.DOUBLE, DType.F64.toNd4j());
        for (String bad : new String[] {"F4", "XYZ", "f32", "i64", "F6_E2M3", ""}) {
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> DType.fromName(bad));
            assertTrue(
                    e.getMessage().contains("'" + bad + "'")
                            && e.getMessage().contains("F32, F16, BF16, F64"),
                    e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> DType.fromNd4j(DataType.INT32));
    }

    private static void half(int bits, float value) {
        assertEquals(bits, DType.floatToHalf(value) & 0xffff, () -> "floatToHalf(" + value + ")");
        assertEquals(bits, DType.doubleToHalf(value) & 0xffff, () -> "doubleToHalf(" + value + ")");
        assertEquals(
                Float.floatToRawIntBits(value),
                Float.floatToRawIntBits(DType.halfToFloat((short) bits)),
                () -> "halfToFloat(" + Integer.toHexString(bits) + ")");
    }

    private static void bf16(int bits, float value) {
        assertEquals(bits, DType.floatToBf16(value) & 0xffff, () -> "floatToBf16(" + value + ")");
        assertEquals(bits, DType.doubleToBf16(value) & 0xffff, () -> "doubleToBf16(" + value + ")");
        assertEquals(
                Float.floatToRawIntBits(value),
                Float.floatToRawIntBits(DType.bf16ToFloat((short) bits)),
                () -> "bf16ToFloat(" + Integer.toHexString(bits) + ")");
    }

    @Test
    void halfKnownBitPatterns() {
        half(0x3C00, 1.0f);
        half(0xC000, -2.0f);
        half(0x7BFF, 65504f);
        half(0xFBFF, -65504f);
        half(0x0001, 0x1p-24f); // smallest subnormal
        half(0x8001, -0x1p-24f);
        half(0x03FF, 1023 * 0x1p-24f); // largest subnormal
        half(0x0400, 0x1p-14f); // smallest normal
        half(0x3555, 0.333251953125f);
        half(0x0000, 0.0f);
        half(0x8000, -0.0f);
        half(0x7C00, Float.POSITIVE_INFINITY);
        half(0xFC00, Float.NEGATIVE_INFINITY);
        short nan = DType.floatToHalf(Float.NaN);
        assertEquals(0x7C00, nan & 0x7C00);
        assertTrue((nan & 0x3FF) != 0);
        assertTrue(Float.isNaN(DType.halfToFloat(nan)));
        assertTrue(Float.isNaN(DType.halfToFloat((short) 0x7E00)));
        assertTrue(Float.isNaN(DType.halfToFloat((short) 0xFC01)));
        assertTrue(Double.isNaN(DType.halfToFloat(DType.doubleToHalf(Double.NaN))));
    }

    @Test
    void halfRounding() {
        assertEquals(0x7BFF, DType.floatToHalf(65519f) & 0xffff);
        assertEquals(0x7C00, DType.floatToHalf(65520f) & 0xffff); // tie to even: overflows
        assertEquals(0x7C00, DType.floatToHalf(1e10f) & 0xffff);
        assertEquals(0xFC00, DType.doubleToHalf(-1e300) & 0xffff);
        assertEquals(0x3C00, DType.floatToHalf(1 + 0x1p-11f) & 0xffff); // tie, down to even
        assertEquals(0x3C02, DType.floatToHalf(1 + 3 * 0x1p-11f) & 0xffff); // tie, up to even
        assertEquals(0x3C01, DType.floatToHalf(1 + 0x1p-11f + 0x1p-20f) & 0xffff);
        assertEquals(
                0x0000,
                DType.floatToHalf(0x1p-25f) & 0xffff); // tie between 0 and the smallest subnormal
        assertEquals(0x0001, DType.floatToHalf(0x1.000002p-25f) & 0xffff);
        assertEquals(0x0002, DType.floatToHalf(3 * 0x1p-25f) & 0xffff);
        assertEquals(
                0x0400,
                DType.floatToHalf(0x1.ffcp-15f + 0x1p-26f) & 0xffff); // rounds up into the normals
        assertEquals(0x8000, DType.doubleToHalf(-1e-300) & 0xffff);
        assertEquals(0x0000, DType.doubleToHalf(Double.MIN_VALUE) & 0xffff);
        // A double just above a half-way point must round up, even though the nearest float is the
        // tie.
        double justAbove = 1 + 0x1p-11 + 0x1p-40;
        assertEquals(0x3C00, DType.floatToHalf((float) justAbove) & 0xffff);
        assertEquals(0x3C01, DType.doubleToHalf(justAbove) & 0xffff);
    }

    @Test
    void bf16KnownBitPatterns() {
        bf16(0x3F80, 1.0f);
        bf16(0xC000, -2.0f);
        bf16(0x7F7F, Float.intBitsToFloat(0x7F7F0000)); // largest finite
        bf16(0x0001, Float.intBitsToFloat(0x00010000)); // smallest subnormal
        bf16(0x0080, Float.MIN_NORMAL);
        bf16(0x0000, 0f);
        bf16(0x8000, -0f);
        bf16(0x7F80, Float.POSITIVE_INFINITY);
        bf16(0xFF80, Float.NEGATIVE_INFINITY);
        assertEquals(0x7F80, DType.floatToBf16(Float.MAX_VALUE) & 0xffff);
        assertEquals(0x3F80, DType.floatToBf16(1 + 0x1p-8f) & 0xffff); // tie, even
        assertEquals(0x3F82, DType.floatToBf16(1 + 3 * 0x1p-8f) & 0xffff);
        assertEquals(0x3F81, DType.floatToBf16(1 + 0x1p-8f + 0x1p-20f) & 0xffff);
        assertEquals(0x0000, DType.floatToBf16(Float.MIN_VALUE) & 0xffff);
        short nan = DType.floatToBf16(Float.NaN);
        assertEquals(0x7F80, nan & 0x7F80);
        assertTrue((nan & 0x7F) != 0);
        assertTrue(Float.isNaN(DType.bf16ToFloat(nan)));
        // A NaN whose payload lives only in the low bits must stay NaN.
        assertTrue(
                Float.isNaN(
                        DType.bf16ToFloat(DType.floatToBf16(Float.intBitsToFloat(0x7F800001)))));
        assertTrue(
                Float.isNaN(
                        DType.halfToFloat(DType.floatToHalf(Float.intBitsToFloat(0x7F800001)))));
    }

    @Test
    void allHalfValuesRoundTrip() {
        for (int h = 0; h < 0x10000; h++) {
            float f = DType.halfToFloat((short) h);
            int viaFloat = DType.floatToHalf(f) & 0xffff;
            int viaDouble = DType.doubleToHalf(f) & 0xffff;
            boolean isNaN = (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
            assertEquals(isNaN, Float.isNaN(f), "half " + Integer.toHexString(h));
            assertEquals(h, viaFloat, "half " + Integer.toHexString(h) + " -> " + f);
            if (isNaN) {
                assertTrue(
                        Float.isNaN(DType.halfToFloat((short) viaDouble)),
                        "half " + Integer.toHexString(h));
            } else {
                assertEquals(h, viaDouble, "half " + Integer.toHexString(h) + " -> " + f);
            }
        }
    }

    @Test
    void allBf16ValuesRoundTrip() {
        for (int h = 0; h < 0x10000; h++) {
            float f = DType.bf16ToFloat((short) h);
            assertEquals(h << 16, Float.floatToRawIntBits(f));
            assertEquals(h, DType.floatToBf16(f) & 0xffff, "bf16 " + Integer.toHexString(h));
            if (!Float.isNaN(f)) {
                assertEquals(h, DType.doubleToBf16(f) & 0xffff, "bf16 " + Integer.toHexString(h));
            }
        }
    }

    /**
     * Brute-force nearest-even rounding: binary search over the sorted non-negative finite values
     * of a 16-bit format, comparing distances exactly with BigDecimal. The pattern just past the
     * largest finite one (the infinity) stands for 2^(emax+1), as IEEE overflow rounding requires.
     */
    private static int oracle(double x, boolean halfFormat) {
        int maxFinite = halfFormat ? 0x7BFF : 0x7F7F;
        int sign = x < 0 || (x == 0 && 1 / x < 0) ? 0x8000 : 0;
        BigDecimal a = new BigDecimal(Math.abs(x));
        int lo = 0;
        int hi = maxFinite;
        if (a.compareTo(value(maxFinite, halfFormat)) >= 0) {
            lo = maxFinite;
        } else {
            while (hi - lo > 1) { // invariant: value(lo) <= a < value(hi)
                int mid = (lo + hi) >>> 1;
                if (value(mid, halfFormat).compareTo(a) <= 0) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        }
        int up = lo + 1;
        BigDecimal below = a.subtract(value(lo, halfFormat));
        BigDecimal above =
                (up > maxFinite
                                ? (halfFormat
                                        ? new BigDecimal(65536)
                                        : new BigDecimal(Math.scalb(1.0, 128)))
                                : value(up, halfFormat))
                        .subtract(a);
        int c = below.compareTo(above);
        int pick = c < 0 ? lo : c > 0 ? up : ((lo & 1) == 0 ? lo : up);
        return sign | pick;
    }

    private static BigDecimal value(int bits, boolean halfFormat) {
        return new BigDecimal(
                halfFormat ? DType.halfToFloat((short) bits) : DType.bf16ToFloat((short) bits));
    }

    static LongStream seeds() {
        return LongStream.range(0, 8).map(i -> 0xD7E5_0000L + i);
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void roundingMatchesBruteForce(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < 3000; i++) {
            boolean halfFormat = r.nextBoolean();
            double x;
            switch (r.nextInt(4)) {
                case 0 ->
                        x =
                                Math.scalb(
                                        1 + r.nextDouble(),
                                        halfFormat ? r.nextInt(-27, 17) : r.nextInt(-136, 129));
                case 1 -> { // exactly half-way between two neighbours, or one double ulp either
                            // side
                    int bits = r.nextInt(0, halfFormat ? 0x7BFF : 0x7F7F);
                    double a =
                            halfFormat
                                    ? DType.halfToFloat((short) bits)
                                    : DType.bf16ToFloat((short) bits);
                    double b =
                            halfFormat
                                    ? DType.halfToFloat((short) (bits + 1))
                                    : DType.bf16ToFloat((short) (bits + 1));
                    double mid = (a + b) / 2;
                    x =
                            switch (r.nextInt(3)) {
                                case 0 -> mid;
                                case 1 -> Math.nextUp(mid);
                                default -> Math.nextDown(mid);
                            };
                }
                case 2 ->
                        x =
                                Float.intBitsToFloat(
                                        r
                                                .nextInt()); // any float, including subnormals and
                                                             // huge ones
                default -> x = r.nextDouble(-70000, 70000);
            }
            if (!Double.isFinite(x)) {
                continue;
            }
            if (r.nextBoolean()) {
                x = -x;
            }
            int want = oracle(x, halfFormat);
            int got = (halfFormat ? DType.doubleToHalf(x) : DType.doubleToBf16(x)) & 0xffff;
            double shown = x;
            assertEquals(
                    want,
                    got,
                    () ->
                            "seed "
                                    + seed
                                    + ": "
                                    + (halfFormat ? "half" : "bf16")
                                    + " of double "
                                    + shown);
            float f = (float) x;
            if (Float.isFinite(f)) {
                int wantF = oracle(f, halfFormat);
                int gotF = (halfFormat ? DType.floatToHalf(f) : DType.floatToBf16(f)) & 0xffff;
                assertEquals(
                        wantF,
                        gotF,
                        () ->
                                "seed "
                                        + seed
                                        + ": "
                                        + (halfFormat ? "half" : "bf16")
                                        + " of float "
                                        + f);
            }
        }
    }

    @Test
    void bufferAccessorsAreLittleEndian() {
        for (ByteOrder order : new ByteOrder[] {ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN}) {
            ByteBuffer b = ByteBuffer.allocate(8).order(order);
            DType.F32.putFloat(b, 1, 1.0f);
            assertArrayEquals(
                    new byte[] {0, 0, 0, 0, 0, 0, (byte) 0x80, 0x3F}, b.array(), order.toString());
            assertEquals(1.0f, DType.F32.getFloat(b, 1));
            assertEquals(1.0, DType.F32.getDouble(b, 1));
            b = ByteBuffer.allocate(4).order(order);
            DType.F16.putDouble(b, 1, -2.0);
            DType.BF16.putFloat(b, 0, 1.0f);
            assertArrayEquals(
                    new byte[] {(byte) 0x80, 0x3F, 0x00, (byte) 0xC0}, b.array(), order.toString());
            assertEquals(-2.0f, DType.F16.getFloat(b, 1));
            assertEquals(1.0, DType.BF16.getDouble(b, 0));
            b = ByteBuffer.allocate(8).order(order);
            DType.F64.putDouble(b, 0, 1.0);
            assertArrayEquals(
                    new byte[] {0, 0, 0, 0, 0, 0, (byte) 0xF0, 0x3F}, b.array(), order.toString());
            assertEquals(1.0, DType.F64.getDouble(b, 0));
            DType.F64.putFloat(b, 0, 0.1f);
            assertEquals((double) 0.1f, DType.F64.getDouble(b, 0));
            assertEquals(0.1f, DType.F64.getFloat(b, 0));
            assertEquals(0, b.position(), "position unchanged");
        }
        ByteBuffer small = ByteBuffer.allocate(6);
        assertThrows(IndexOutOfBoundsException.class, () -> DType.F32.getFloat(small, 1));
        assertThrows(IndexOutOfBoundsException.class, () -> DType.F16.getFloat(small, -1));
        assertThrows(IndexOutOfBoundsException.class, () -> DType.F64.putDouble(small, 0, 1));
    }

    @Test
    void narrowingFromDoubleToF32RoundsOnce() {
        ByteBuffer b = ByteBuffer.allocate(4);
        double x = 1 + 0x1p-24 + 0x1p-50; // just above a float tie
        DType.F32.putDouble(b, 0, x);
        assertEquals(Math.nextUp(1.0f), DType.F32.getFloat(b, 0));
    }
}
