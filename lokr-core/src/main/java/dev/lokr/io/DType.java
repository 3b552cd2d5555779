package dev.lokr.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;
import java.util.StringJoiner;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The element types of safetensors files, with their safetensors names ({@link #name()}) and
 * sizes. This package reads and writes the values of the floating-point ones below, with their
 * ND4J equivalents and bit-exact conversions; the others (integers, booleans, 8-bit floats) are
 * carried byte for byte only (see {@link #readable()}).
 *
 * <ul>
 *   <li>{@link #F32}: IEEE 754 binary32, 4 bytes;
 *   <li>{@link #F16}: IEEE 754 binary16 (half), 2 bytes, with subnormals, infinities and NaN;
 *   <li>{@link #BF16}: bfloat16, the top 16 bits of a binary32, 2 bytes;
 *   <li>{@link #F64}: IEEE 754 binary64, 8 bytes.
 * </ul>
 *
 * <p>All values in safetensors files are little-endian. The element accessors ({@link
 * #getFloat(ByteBuffer, int)}, {@link #putDouble(ByteBuffer, int, double)} ...) always read and
 * write little-endian whatever {@link ByteBuffer#order()} says, use absolute element indices
 * (element {@code i} lives at byte {@code i * byteSize()} from the start of the buffer, its
 * position is ignored and unchanged), and throw {@link IndexOutOfBoundsException} outside the
 * buffer.
 *
 * <p>Narrowing conversions (double or float to F16/BF16/F32) round to nearest, ties to even,
 * directly from the source value (never through an intermediate format, which could round twice).
 * Values too large for the target become infinities of the same sign; values too small become
 * (signed) zeros or subnormals. NaN stays NaN: the top bits of its payload are kept, and a quiet
 * bit is set when they would all be zero. Widening conversions (F16/BF16/F32 to float or double)
 * are exact.
 */
public enum DType {
    /** IEEE 754 binary32. */
    F32(4, DataType.FLOAT),
    /** IEEE 754 binary16 (half precision). ND4J arrays of this type report {@code HALF}. */
    @SuppressWarnings(
            "deprecation") // HALF is what ND4J 1.0.0-M2.1 arrays report; FLOAT16 is its alias
    F16(2, DataType.HALF),
    /** bfloat16: sign, 8 exponent bits, 7 mantissa bits (the top half of a binary32). */
    BF16(2, DataType.BFLOAT16),
    /** IEEE 754 binary64. */
    F64(8, DataType.DOUBLE),
    /** Boolean, one byte; copied byte for byte only. */
    BOOL(1, null),
    /** Unsigned 8-bit integer; copied byte for byte only. */
    U8(1, null),
    /** Signed 8-bit integer; copied byte for byte only. */
    I8(1, null),
    /** 8-bit float with 5 exponent bits; copied byte for byte only. */
    F8_E5M2(1, null),
    /** 8-bit float with 4 exponent bits; copied byte for byte only. */
    F8_E4M3(1, null),
    /** 8-bit exponent-only scale; copied byte for byte only. */
    F8_E8M0(1, null),
    /** 8-bit float with 4 exponent bits, no negative zero or infinities; copied byte for byte only. */
    F8_E4M3FNUZ(1, null),
    /** 8-bit float with 5 exponent bits, no negative zero or infinities; copied byte for byte only. */
    F8_E5M2FNUZ(1, null),
    /** Signed 16-bit integer; copied byte for byte only. */
    I16(2, null),
    /** Unsigned 16-bit integer; copied byte for byte only. */
    U16(2, null),
    /** Signed 32-bit integer; copied byte for byte only. */
    I32(4, null),
    /** Unsigned 32-bit integer; copied byte for byte only. */
    U32(4, null),
    /** Signed 64-bit integer (token ids, position ids); copied byte for byte only. */
    I64(8, null),
    /** Unsigned 64-bit integer; copied byte for byte only. */
    U64(8, null),
    /** Complex number of two binary32; copied byte for byte only. */
    C64(8, null);

    /** The dtypes whose values this package converts, as a list for messages. */
    static final String READABLE = names(true);

    /** The dtypes only copied byte for byte, as a list for messages. */
    private static final String COPY_ONLY = names(false);

    private final int byteSize;
    private final DataType nd4j;

    DType(int byteSize, DataType nd4j) {
        this.byteSize = byteSize;
        this.nd4j = nd4j;
    }

    /**
     * Whether this package converts values of this dtype to and from numbers: F32, F16, BF16 and
     * F64. The other dtypes of the format (integers, booleans, 8-bit floats) can be opened and are
     * carried byte for byte ({@link SafetensorsWriter.Tensor#raw}, {@link
     * SafetensorsWriter.Tensor#copied}, merges), but {@link SafetensorsReader#read} and the element
     * accessors refuse them.
     *
     * @return true for F32, F16, BF16, F64
     */
    public boolean readable() {
        return nd4j != null;
    }

    /**
     * Whether {@code value}, rounded to this dtype as {@link #putDouble} rounds it, is a finite
     * number: false for NaN, infinities, and finite values beyond the dtype's range (above 65504 in
     * magnitude, after rounding, for F16; about 3.4e38 for F32 and BF16).
     *
     * @param value the value
     * @return whether this dtype stores it as a finite number
     * @throws UnsupportedOperationException if this dtype is not {@link #readable()}
     */
    public boolean holdsFinite(double value) {
        return Double.isFinite(rounded(value));
    }

    /**
     * {@code value} rounded to this dtype as {@link #putDouble} rounds it, as a double.
     *
     * @param value the value
     * @return the value this dtype stores for it
     * @throws UnsupportedOperationException if this dtype is not {@link #readable()}
     */
    public double rounded(double value) {
        return switch (this) {
            case F64 -> value;
            case F32 -> (float) value;
            case F16 -> halfToFloat(doubleToHalf(value));
            case BF16 -> bf16ToFloat(doubleToBf16(value));
            default -> throw notReadable();
        };
    }

    /**
     * The smallest positive normal number of this dtype: {@code 2^-14} (about 6.1e-5) for F16,
     * {@link Float#MIN_NORMAL} for F32 and BF16 (which share F32's exponent range),
     * {@link Double#MIN_NORMAL} for F64. Below it a value is stored as a subnormal, with fewer
     * significant bits, or as zero.
     *
     * @return the smallest positive normal value
     * @throws UnsupportedOperationException if this dtype is not {@link #readable()}
     */
    public double smallestNormal() {
        return switch (this) {
            case F64 -> Double.MIN_NORMAL;
            case F32, BF16 -> Float.MIN_NORMAL;
            case F16 -> 0x1p-14;
            default -> throw notReadable();
        };
    }

    private static String names(boolean readable) {
        StringJoiner out = new StringJoiner(", ");
        for (DType t : values()) {
            if (t.readable() == readable) {
                out.add(t.name());
            }
        }
        return out.toString();
    }

    private UnsupportedOperationException notReadable() {
        return new UnsupportedOperationException(
                "dtype " + this + " is only copied byte for byte; values can be read and written as "
                        + READABLE);
    }

    /**
     * The size of one element in bytes.
     *
     * @return 1, 2, 4 or 8
     */
    public int byteSize() {
        return byteSize;
    }

    /**
     * The matching ND4J data type: FLOAT, HALF, BFLOAT16 or DOUBLE.
     *
     * @return the ND4J data type
     * @throws UnsupportedOperationException for a dtype that is not {@link #readable()}
     */
    public DataType toNd4j() {
        if (nd4j == null) {
            throw notReadable();
        }
        return nd4j;
    }

    /**
     * Looks up a dtype by its safetensors name ({@code "F32"}, {@code "I64"} ...; case-sensitive,
     * as in the format).
     *
     * @param name the name as written in a safetensors header
     * @return the dtype
     * @throws IllegalArgumentException for any other name (including the sub-byte dtypes {@code F4},
     *     {@code F6_E2M3} and {@code F6_E3M2}); the message names the dtype and the supported ones
     * @throws NullPointerException if {@code name} is null
     */
    public static DType fromName(String name) {
        Objects.requireNonNull(name, "name");
        for (DType t : values()) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException(
                "unsupported dtype "
                        + Json.quote(name)
                        + " (supported: "
                        + READABLE
                        + "; copied unchanged: "
                        + COPY_ONLY
                        + ")");
    }

    /**
     * The dtype that stores an ND4J data type without loss: FLOAT &rarr; F32, HALF (or its alias
     * FLOAT16) &rarr; F16, BFLOAT16 &rarr; BF16, DOUBLE &rarr; F64.
     *
     * @param type an ND4J data type
     * @return the dtype
     * @throws IllegalArgumentException for any other ND4J type
     */
    public static DType fromNd4j(DataType type) {
        Objects.requireNonNull(type, "type");
        if (type == DataType.FLOAT16) {
            return F16;
        }
        for (DType t : values()) {
            if (t.nd4j == type) {
                return t;
            }
        }
        throw new IllegalArgumentException(
                "ND4J type "
                        + type
                        + " has no safetensors dtype here (supported: FLOAT, HALF, BFLOAT16, DOUBLE)");
    }

    /**
     * Reads element {@code index} as a float. F64 values are rounded to nearest-even; the others
     * are exact.
     *
     * @param buf the bytes (little-endian, whatever its order setting)
     * @param index the element index (absolute, not relative to the position)
     * @return the value
     * @throws IndexOutOfBoundsException if the element is not entirely inside the buffer
     * @throws UnsupportedOperationException if this dtype is not {@link #readable()}
     */
    public float getFloat(ByteBuffer buf, int index) {
        int at = byteIndex(index);
        boolean swap = buf.order() != ByteOrder.LITTLE_ENDIAN;
        return switch (this) {
            case F32 ->
                    Float.intBitsToFloat(
                            swap ? Integer.reverseBytes(buf.getInt(at)) : buf.getInt(at));
            case F16 -> halfToFloat(swap ? Short.reverseBytes(buf.getShort(at)) : buf.getShort(at));
            case BF16 ->
                    bf16ToFloat(swap ? Short.reverseBytes(buf.getShort(at)) : buf.getShort(at));
            case F64 ->
                    (float)
                            Double.longBitsToDouble(
                                    swap ? Long.reverseBytes(buf.getLong(at)) : buf.getLong(at));
            default -> throw notReadable();
        };
    }

    /**
     * Reads element {@code index} as a double (always exact).
     *
     * @param buf the bytes (little-endian, whatever its order setting)
     * @param index the element index (absolute, not relative to the position)
     * @return the value
     * @throws IndexOutOfBoundsException if the element is not entirely inside the buffer
     * @throws UnsupportedOperationException if this dtype is not {@link #readable()}
     */
    public double getDouble(ByteBuffer buf, int index) {
        if (!readable()) {
            throw notReadable();
        }
        if (this == F64) {
            int at = byteIndex(index);
            long bits = buf.getLong(at);
            return Double.longBitsToDouble(
                    buf.order() != ByteOrder.LITTLE_ENDIAN ? Long.reverseBytes(bits) : bits);
        }
        return getFloat(buf, index);
    }

    /**
     * Writes {@code value} as element {@code index}, rounding to this dtype (nearest, ties to
     * even).
     *
     * @param buf the destination (written little-endian, whatever its order setting)
     * @param index the element index (absolute, not relative to the position)
     * @param value the value
     * @throws IndexOutOfBoundsException if the element is not entirely inside the buffer
     * @throws UnsupportedOperationException if this dtype is not {@link #readable()}
     * @throws java.nio.ReadOnlyBufferException if the buffer is read-only
     */
    public void putFloat(ByteBuffer buf, int index, float value) {
        int at = byteIndex(index);
        boolean swap = buf.order() != ByteOrder.LITTLE_ENDIAN;
        switch (this) {
            case F32 -> {
                int bits = Float.floatToRawIntBits(value);
                buf.putInt(at, swap ? Integer.reverseBytes(bits) : bits);
            }
            case F16 -> {
                short h = floatToHalf(value);
                buf.putShort(at, swap ? Short.reverseBytes(h) : h);
            }
            case BF16 -> {
                short h = floatToBf16(value);
                buf.putShort(at, swap ? Short.reverseBytes(h) : h);
            }
            case F64 -> {
                long bits = Double.doubleToRawLongBits(value);
                buf.putLong(at, swap ? Long.reverseBytes(bits) : bits);
            }
            default -> throw notReadable();
        }
    }

    /**
     * Writes {@code value} as element {@code index}, rounding to this dtype (nearest, ties to even,
     * directly from the double).
     *
     * @param buf the destination (written little-endian, whatever its order setting)
     * @param index the element index (absolute, not relative to the position)
     * @param value the value
     * @throws IndexOutOfBoundsException if the element is not entirely inside the buffer
     * @throws UnsupportedOperationException if this dtype is not {@link #readable()}
     * @throws java.nio.ReadOnlyBufferException if the buffer is read-only
     */
    public void putDouble(ByteBuffer buf, int index, double value) {
        int at = byteIndex(index);
        boolean swap = buf.order() != ByteOrder.LITTLE_ENDIAN;
        switch (this) {
            case F32 -> {
                int bits = Float.floatToRawIntBits((float) value);
                buf.putInt(at, swap ? Integer.reverseBytes(bits) : bits);
            }
            case F16 -> {
                short h = doubleToHalf(value);
                buf.putShort(at, swap ? Short.reverseBytes(h) : h);
            }
            case BF16 -> {
                short h = doubleToBf16(value);
                buf.putShort(at, swap ? Short.reverseBytes(h) : h);
            }
            case F64 -> {
                long bits = Double.doubleToRawLongBits(value);
                buf.putLong(at, swap ? Long.reverseBytes(bits) : bits);
            }
            default -> throw notReadable();
        }
    }

    private int byteIndex(int index) {
        if (index < 0 || index > Integer.MAX_VALUE / byteSize) {
            throw new IndexOutOfBoundsException(
                    "element index " + index + " out of range for " + this);
        }
        return index * byteSize;
    }

    // ---------------------------------------------------------------------------------------------
    // Bit conversions

    /**
     * Converts IEEE binary16 bits to a float (exact; subnormals, infinities and NaN payloads kept).
     *
     * @param half the 16 bits
     * @return the value
     */
    public static float halfToFloat(short half) {
        int h = half & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            // Zero or subnormal: mant * 2^-24, exact in float.
            float magnitude = mant * 0x1p-24f;
            return sign != 0 ? -magnitude : magnitude;
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    /**
     * Rounds a float to IEEE binary16 bits (nearest, ties to even; overflow gives infinity).
     *
     * @param value the value
     * @return the 16 bits
     */
    public static short floatToHalf(float value) {
        return (short) narrow(Float.floatToRawIntBits(value) & 0xffffffffL, 8, 23, 5, 10);
    }

    /**
     * Rounds a double to IEEE binary16 bits (nearest, ties to even, in one step; overflow gives
     * infinity).
     *
     * @param value the value
     * @return the 16 bits
     */
    public static short doubleToHalf(double value) {
        return (short) narrow(Double.doubleToRawLongBits(value), 11, 52, 5, 10);
    }

    /**
     * Converts bfloat16 bits to a float (exact: the bits become the top half of a binary32).
     *
     * @param bf16 the 16 bits
     * @return the value
     */
    public static float bf16ToFloat(short bf16) {
        return Float.intBitsToFloat((bf16 & 0xffff) << 16);
    }

    /**
     * Rounds a float to bfloat16 bits (nearest, ties to even; overflow gives infinity).
     *
     * @param value the value
     * @return the 16 bits
     */
    public static short floatToBf16(float value) {
        return (short) narrow(Float.floatToRawIntBits(value) & 0xffffffffL, 8, 23, 8, 7);
    }

    /**
     * Rounds a double to bfloat16 bits (nearest, ties to even, in one step; overflow gives
     * infinity).
     *
     * @param value the value
     * @return the 16 bits
     */
    public static short doubleToBf16(double value) {
        return (short) narrow(Double.doubleToRawLongBits(value), 11, 52, 8, 7);
    }

    /**
     * Rounds an IEEE-style binary value to a narrower IEEE-style format, nearest-even.
     *
     * @param bits the source bits, right-aligned
     * @param srcExpBits exponent width of the source
     * @param srcMantBits stored mantissa width of the source
     * @param dstExpBits exponent width of the target
     * @param dstMantBits stored mantissa width of the target (must be at most srcMantBits)
     * @return the target bits, right-aligned
     */
    private static int narrow(
            long bits, int srcExpBits, int srcMantBits, int dstExpBits, int dstMantBits) {
        int srcExpMax = (1 << srcExpBits) - 1;
        int dstExpMax = (1 << dstExpBits) - 1;
        int srcBias = (1 << (srcExpBits - 1)) - 1;
        int dstBias = (1 << (dstExpBits - 1)) - 1;
        int signBit = (int) ((bits >>> (srcExpBits + srcMantBits)) & 1);
        int sign = signBit << (dstExpBits + dstMantBits);
        int exp = (int) ((bits >>> srcMantBits) & srcExpMax);
        long mant = bits & ((1L << srcMantBits) - 1);
        int dstInf = dstExpMax << dstMantBits;

        if (exp == srcExpMax) {
            if (mant == 0) {
                return sign | dstInf;
            }
            int payload = (int) (mant >>> (srcMantBits - dstMantBits));
            if (payload == 0) {
                payload = 1 << (dstMantBits - 1);
            }
            return sign | dstInf | payload;
        }
        if (exp == 0 && mant == 0) {
            return sign;
        }
        // value = sig * 2^scale with sig a positive integer.
        long sig;
        int scale;
        if (exp == 0) {
            sig = mant;
            scale = 1 - srcBias - srcMantBits;
        } else {
            sig = mant | (1L << srcMantBits);
            scale = exp - srcBias - srcMantBits;
        }
        int msb = 63 - Long.numberOfLeadingZeros(sig);
        int unbiased = msb + scale; // value in [2^unbiased, 2^(unbiased+1))
        int dstExp = unbiased + dstBias;
        if (dstExp >= dstExpMax) {
            return sign | dstInf;
        }
        if (dstExp >= 1) {
            // Normal: keep dstMantBits + 1 significant bits.
            int shift = msb - dstMantBits;
            long q = shift > 0 ? roundShift(sig, shift) : sig << -shift;
            // q is in [2^m, 2^(m+1)]; adding carries a rounding overflow into the exponent (up to
            // infinity).
            long out = ((long) (dstExp - 1) << dstMantBits) + q;
            return sign | (int) out;
        }
        // Subnormal target: units of 2^(1 - dstBias - dstMantBits).
        int shift = (1 - dstBias - dstMantBits) - scale;
        long q = shift > 62 ? 0 : roundShift(sig, shift);
        // q == 2^dstMantBits is exactly the smallest normal, which has the same bit pattern.
        return sign | (int) q;
    }

    /** Shifts right by {@code shift} (1..62) rounding to nearest, ties to even. */
    private static long roundShift(long sig, int shift) {
        long q = sig >>> shift;
        long rem = sig & ((1L << shift) - 1);
        long half = 1L << (shift - 1);
        if (rem > half || (rem == half && (q & 1) != 0)) {
            q++;
        }
        return q;
    }
}
