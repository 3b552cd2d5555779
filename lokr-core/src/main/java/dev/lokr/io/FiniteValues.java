package dev.lokr.io;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.BooleanIndexing;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.indexing.conditions.Conditions;

/**
 * Finds values that a file dtype would not store as finite numbers (NaN, infinities, and finite
 * values beyond the dtype's range, see {@link DType#holdsFinite}), so that writers refuse them
 * instead of saving what a reader must refuse, or a merged weight full of infinities. Stateless.
 */
final class FiniteValues {

    /** Elements per chunk when locating a value on the host. */
    private static final int CHUNK = 1 << 20;

    private FiniteValues() {}

    /**
     * A value that does not fit, and where.
     *
     * @param index its flat index in C order
     * @param value the value (before rounding to the dtype)
     */
    record Unfit(long index, double value) {
        String describe() {
            return value + " at flat index " + index;
        }
    }

    /**
     * The first element (C order) that {@code dtype} does not store as a finite number, skipping
     * the elements whose counterpart in {@code skipWhereNonFinite} is itself NaN or infinite (a base
     * weight that was already non-finite there; pass null to skip nothing).
     *
     * <p>Cost when every value fits and {@code skipWhereNonFinite} is null or finite: two reductions
     * on the device (a non-finite test and the largest magnitude); otherwise a host pass in chunks.
     *
     * @param values any numeric array, not modified
     * @param dtype a {@link DType#readable()} dtype
     * @param skipWhereNonFinite an array of the same length, or null
     * @return the first such element, or null when there is none
     */
    static Unfit first(INDArray values, DType dtype, INDArray skipWhereNonFinite) {
        if (values.isEmpty()) {
            return null;
        }
        boolean skipSome = skipWhereNonFinite != null
                && BooleanIndexing.or(skipWhereNonFinite, Conditions.notFinite());
        if (!skipSome && !BooleanIndexing.or(values, Conditions.notFinite())
                && dtype.holdsFinite(values.amaxNumber().doubleValue())) {
            // rounding is monotonic in magnitude: if the largest fits, all do
            return null;
        }
        INDArray flat = values.reshape('c', new long[] {values.length()});
        INDArray skip = skipSome ? skipWhereNonFinite.reshape('c', new long[] {skipWhereNonFinite.length()}) : null;
        for (long start = 0; start < flat.length(); start += CHUNK) {
            long end = Math.min(flat.length(), start + CHUNK);
            double[] chunk = flat.get(NDArrayIndex.interval(start, end)).castTo(DataType.DOUBLE).toDoubleVector();
            double[] base = skip == null ? null
                    : skip.get(NDArrayIndex.interval(start, end)).castTo(DataType.DOUBLE).toDoubleVector();
            for (int i = 0; i < chunk.length; i++) {
                if ((base == null || Double.isFinite(base[i])) && !dtype.holdsFinite(chunk[i])) {
                    return new Unfit(start + i, chunk[i]);
                }
            }
        }
        return null;
    }

    /**
     * Whether {@code values} holds a non-zero value and yet its largest magnitude, rounded to {@code
     * dtype}, is below {@code dtype}'s {@link DType#smallestNormal() smallest normal} while the values'
     * own type reaches further: stored in that narrower dtype the whole array would keep only a few
     * significant bits, or turn to zeros. Call it on finite values.
     *
     * @param values any numeric array, not modified
     * @param dtype a {@link DType#readable()} dtype
     * @return the largest magnitude when it is that small, or {@code NaN} when the array is empty,
     *     all zero, or reaches the normal range
     */
    static double tinyMaximum(INDArray values, DType dtype) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        double sourceNormal = values.dataType() == DataType.DOUBLE ? Double.MIN_NORMAL : Float.MIN_NORMAL;
        if (dtype.smallestNormal() <= sourceNormal) {
            return Double.NaN;   // no narrower range: the values are stored as they are held
        }
        double max = values.amaxNumber().doubleValue();
        return max > 0 && Math.abs(dtype.rounded(max)) < dtype.smallestNormal() ? max : Double.NaN;
    }

    /**
     * Says what is wrong with {@code unfit}: a NaN or infinity, or a finite value out of
     * {@code dtype}'s range.
     *
     * @param unfit what {@link #first} found
     * @param dtype the dtype it was checked against
     * @return for example {@code "holds 70000.0 at flat index 3, beyond the range of F16 (it would be
     *     stored as infinity)"}
     */
    static String problem(Unfit unfit, DType dtype) {
        if (!Double.isFinite(unfit.value())) {
            return "holds a non-finite value (" + unfit.describe() + ")";
        }
        return "holds " + unfit.describe() + ", beyond the range of " + dtype + " (it would be stored as infinity)";
    }
}
