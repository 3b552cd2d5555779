package dev.lokr.math;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;

/**
 * The tensors of one LoKR module (or their gradients), keyed by {@link LokrParam}, each with the
 * shape its {@link LokrLayout} gives. The map is fixed; the arrays themselves are mutable and may
 * be views into a larger buffer (as DL4J's flat parameter vector).
 */
public final class LokrParams {

    private final LokrLayout layout;
    private final Map<LokrParam, INDArray> arrays;

    private LokrParams(LokrLayout layout, Map<LokrParam, INDArray> arrays) {
        this.layout = layout;
        this.arrays = Collections.unmodifiableMap(arrays);
    }

    /**
     * New zero-filled tensors for every parameter of {@code layout}.
     *
     * @param layout the module plan
     * @param type   FLOAT or DOUBLE
     * @return the tensors
     */
    public static LokrParams zeros(LokrLayout layout, DataType type) {
        Objects.requireNonNull(layout, "layout");
        checkType(type);
        Map<LokrParam, INDArray> m = new EnumMap<>(LokrParam.class);
        for (LokrParam p : layout.params()) {
            m.put(p, Nd4j.zeros(type, layout.shapeOf(p)));
        }
        return new LokrParams(layout, m);
    }

    /**
     * Wraps existing arrays, checking that exactly the layout's parameters are present with the
     * right shapes and one floating data type.
     *
     * @param layout the module plan
     * @param arrays the tensors (not copied)
     * @return the wrapper
     * @throws IllegalArgumentException naming the parameter and both shapes on a mismatch
     */
    public static LokrParams of(LokrLayout layout, Map<LokrParam, INDArray> arrays) {
        Objects.requireNonNull(layout, "layout");
        Objects.requireNonNull(arrays, "arrays");
        Map<LokrParam, INDArray> m = new EnumMap<>(LokrParam.class);
        DataType type = null;
        for (LokrParam p : layout.params()) {
            INDArray arr = arrays.get(p);
            if (arr == null) {
                throw new IllegalArgumentException("missing parameter " + p.key() + " for " + layout);
            }
            long[] want = layout.shapeOf(p);
            if (!Arrays.equals(arr.shape(), want)) {
                throw new IllegalArgumentException(p.key() + " must be " + Arrays.toString(want) + ", got "
                        + Arrays.toString(arr.shape()));
            }
            checkType(arr.dataType());
            if (type != null && type != arr.dataType()) {
                throw new IllegalArgumentException("all parameters must share one data type, got " + type
                        + " and " + arr.dataType() + " (" + p.key() + ")");
            }
            type = arr.dataType();
            m.put(p, arr);
        }
        for (LokrParam p : arrays.keySet()) {
            if (!m.containsKey(p)) {
                throw new IllegalArgumentException("unexpected parameter " + p.key() + " for " + layout);
            }
        }
        return new LokrParams(layout, m);
    }

    /**
     * Views into one flat, contiguous buffer, in the layout's canonical order
     * ({@link LokrLayout#params()}), each reshaped 'c'-order to its shape. Writes through the views
     * change {@code flat}.
     *
     * @param layout the module plan
     * @param flat   a contiguous FLOAT or DOUBLE vector or row of at least {@link LokrLayout#numParams()} values
     * @param offset the index in {@code flat} of the first value
     * @return the views
     * @throws IllegalArgumentException if {@code flat} is of another data type, not a contiguous vector or
     *     {@code [1, n]} row (its views would be copies), or too short for {@code offset}
     */
    public static LokrParams views(LokrLayout layout, INDArray flat, long offset) {
        Objects.requireNonNull(layout, "layout");
        Objects.requireNonNull(flat, "flat");
        checkType(flat.dataType());
        boolean vectorOrRow = flat.rank() == 1 || (flat.rank() == 2 && flat.size(0) == 1);
        if (!vectorOrRow || (flat.length() > 1 && flat.elementWiseStride() != 1)) {
            // anything else would be copied by the reshape below, and writes through the views would be lost
            throw new IllegalArgumentException("flat must be a contiguous vector or [1, n] row, got shape "
                    + java.util.Arrays.toString(flat.shape()) + " with strides " + java.util.Arrays.toString(flat.stride()));
        }
        long n = flat.length();
        if (offset < 0 || offset > n - layout.numParams()) {
            throw new IllegalArgumentException("flat buffer of length " + n + " cannot hold " + layout.numParams()
                    + " values at offset " + offset);
        }
        INDArray row = flat.reshape(1, n);
        Map<LokrParam, INDArray> m = new EnumMap<>(LokrParam.class);
        long pos = offset;
        for (LokrParam p : layout.params()) {
            long[] shape = layout.shapeOf(p);
            long len = 1;
            for (long s : shape) {
                len *= s;
            }
            INDArray v = row.get(NDArrayIndex.point(0), NDArrayIndex.interval(pos, pos + len));
            m.put(p, v.reshape('c', shape));
            pos += len;
        }
        return new LokrParams(layout, m);
    }

    private static void checkType(DataType type) {
        if (type != DataType.FLOAT && type != DataType.DOUBLE) {
            throw new IllegalArgumentException("LoKR tensors must be FLOAT or DOUBLE, got " + type);
        }
    }

    /** @return the plan these tensors follow */
    public LokrLayout layout() {
        return layout;
    }

    /**
     * @param p a parameter of the layout
     * @return its array (live, not a copy)
     * @throws IllegalArgumentException if the layout has no such parameter
     */
    public INDArray get(LokrParam p) {
        INDArray arr = arrays.get(p);
        if (arr == null) {
            throw new IllegalArgumentException("no parameter " + p.key() + " in " + layout);
        }
        return arr;
    }

    /**
     * @param p a parameter
     * @return whether it is present
     */
    public boolean has(LokrParam p) {
        return arrays.containsKey(p);
    }

    /** @return the tensors, unmodifiable map of live arrays */
    public Map<LokrParam, INDArray> asMap() {
        return arrays;
    }

    /** @return the common data type */
    public DataType dataType() {
        return arrays.values().iterator().next().dataType();
    }

    /** @return deep copies, 'c'-order */
    public LokrParams copy() {
        Map<LokrParam, INDArray> m = new EnumMap<>(LokrParam.class);
        arrays.forEach((k, v) -> m.put(k, v.dup('c')));
        return new LokrParams(layout, m);
    }

    /**
     * @param type FLOAT or DOUBLE
     * @return copies converted to {@code type}
     */
    public LokrParams castTo(DataType type) {
        checkType(type);
        Map<LokrParam, INDArray> m = new EnumMap<>(LokrParam.class);
        arrays.forEach((k, v) -> m.put(k, v.castTo(type).dup('c')));
        return new LokrParams(layout, m);
    }

    /**
     * Copies every tensor of {@code other} into this one's arrays.
     *
     * @param other the source: the same tensors with the same shapes (its scale and options may differ)
     * @throws IllegalArgumentException if a tensor is missing or has another shape (naming it and both shapes)
     */
    public void assign(LokrParams other) {
        requireSameShapes(other, "cannot assign");
        arrays.forEach((k, v) -> v.assign(other.get(k)));
    }

    /**
     * @throws IllegalArgumentException unless {@code other} holds the same tensors with the same shapes
     */
    void requireSameShapes(LokrParams other, String what) {
        if (!layout.params().equals(other.layout.params())) {
            throw new IllegalArgumentException(what + " " + other.layout + " to " + layout + ": other tensors");
        }
        for (LokrParam k : layout.params()) {
            if (!Arrays.equals(layout.shapeOf(k), other.layout.shapeOf(k))) {
                throw new IllegalArgumentException(what + " " + other.layout + " to " + layout + ": " + k.key()
                        + " is " + Arrays.toString(other.layout.shapeOf(k)) + " there and "
                        + Arrays.toString(layout.shapeOf(k)) + " here");
            }
        }
    }

    /** Sets every tensor to zero. */
    public void zero() {
        arrays.values().forEach(v -> v.assign(0));
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("LokrParams{");
        arrays.forEach((k, v) -> sb.append(k.key()).append(Arrays.toString(v.shape())).append(' '));
        return sb.append(layout.toString()).append('}').toString();
    }
}
