package dev.lokr.io;

import java.util.Arrays;
import java.util.Objects;

/**
 * Where and how one tensor is stored in a safetensors file, as described by the file's header.
 *
 * <p>The record is immutable: {@link #shape()} returns a copy, and the constructor copies its
 * argument. {@link #equals(Object)} and {@link #hashCode()} compare the shape by content.
 *
 * @param name the tensor's name (non-empty)
 * @param dtype its element type
 * @param shape its dimensions, outermost first (row-major / C order); empty for a 0-d (scalar)
 *     tensor; dimensions may be 0
 * @param byteOffset the <b>absolute</b> position in the file of the tensor's first byte, that is
 *     {@code 8 + headerLength + begin} where {@code begin} is the first of the header's {@code
 *     data_offsets}
 * @param byteLength the number of bytes, always {@code numel() * dtype.byteSize()}
 */
public record TensorInfo(String name, DType dtype, long[] shape, long byteOffset, long byteLength) {

    /**
     * Validates and copies.
     *
     * @param name the tensor's name
     * @param dtype its element type
     * @param shape its dimensions (copied)
     * @param byteOffset the absolute file position of its first byte
     * @param byteLength its size in bytes
     * @throws NullPointerException if name, dtype or shape is null
     * @throws IllegalArgumentException if the name is empty, a dimension or the offset is negative,
     *     the element count overflows a long, or byteLength is not numel x dtype size
     */
    public TensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(shape, "shape");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("empty tensor name");
        }
        shape = shape.clone();
        if (byteOffset < 0) {
            throw new IllegalArgumentException("negative byteOffset " + byteOffset);
        }
        long n = numel(shape);
        long expected;
        try {
            expected = Math.multiplyExact(n, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(
                    "shape " + Arrays.toString(shape) + " x " + dtype + " overflows a long");
        }
        if (byteLength != expected) {
            throw new IllegalArgumentException(
                    "byteLength "
                            + byteLength
                            + " but shape "
                            + Arrays.toString(shape)
                            + " x "
                            + dtype
                            + " needs "
                            + expected);
        }
    }

    /**
     * The tensor's dimensions.
     *
     * @return a copy of the shape
     */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /**
     * The number of dimensions (0 for a scalar).
     *
     * @return the rank
     */
    public int rank() {
        return shape.length;
    }

    /**
     * The number of elements: the product of the dimensions (1 for a 0-d tensor, 0 when a dimension
     * is 0).
     *
     * @return the element count
     */
    public long numel() {
        return numel(shape);
    }

    /**
     * Multiplies dimensions, checking each is non-negative and that the product fits in a long.
     *
     * @throws IllegalArgumentException on a negative dimension or an overflowing product
     */
    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(
                        "negative dimension in shape " + Arrays.toString(shape));
            }
        }
        for (long d : shape) {
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                // A later zero dimension still makes the product 0, but such a shape cannot be
                // indexed.
                throw new IllegalArgumentException(
                        "element count of shape " + Arrays.toString(shape) + " overflows a long");
            }
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t
                && name.equals(t.name)
                && dtype == t.dtype
                && Arrays.equals(shape, t.shape)
                && byteOffset == t.byteOffset
                && byteLength == t.byteLength;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), byteOffset, byteLength);
    }

    @Override
    public String toString() {
        return "TensorInfo[name="
                + name
                + ", dtype="
                + dtype
                + ", shape="
                + Arrays.toString(shape)
                + ", byteOffset="
                + byteOffset
                + ", byteLength="
                + byteLength
                + "]";
    }
}
