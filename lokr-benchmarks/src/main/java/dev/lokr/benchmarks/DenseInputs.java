package dev.lokr.benchmarks;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The frozen weight, the input and the upstream gradient of one dense layer, shared by the steps
 * that time it.
 *
 * <p>The weight is stored the way DL4J's {@code DefaultParamInitializer} stores it: {@code [nIn, nOut]}
 * in 'f' order (checked on DL4J 1.0.0-M2.1: {@code DenseLayer} param {@code W} has shape
 * {@code [nIn, nOut]}, order 'f', strides {@code [1, nIn]}), so the PyTorch-layout {@code [out, in]}
 * view {@link #weight()} is its transpose, which is 'c'-contiguous. Order 'c' ({@code [nIn, nOut]}
 * row-major, a strided {@code [out, in]} view) can be chosen to measure the other case.
 */
public final class DenseInputs {

    private final int out;
    private final int in;
    private final int batch;
    private final DataType type;
    private final char weightOrder;
    private final INDArray stored;
    private final INDArray weight;
    private final INDArray x;
    private final INDArray dy;

    private DenseInputs(int out, int in, int batch, DataType type, char weightOrder, long seed) {
        this.out = out;
        this.in = in;
        this.batch = batch;
        this.type = type;
        this.weightOrder = weightOrder;
        this.stored = BenchArrays.uniform(type, weightOrder, 1.0 / Math.sqrt(in), seed, in, out);
        this.weight = stored.transpose();
        this.x = BenchArrays.uniform(type, 'c', 1.0, seed + 1, batch, in);
        this.dy = BenchArrays.uniform(type, 'c', 1.0 / Math.sqrt(out), seed + 2, batch, out);
    }

    /**
     * Random inputs.
     *
     * @param out         output features, at least 1
     * @param in          input features, at least 1
     * @param batch       rows of {@code x}, at least 1
     * @param type        FLOAT or DOUBLE
     * @param weightOrder memory order of the stored {@code [in, out]} weight: 'f' (DL4J) or 'c'
     * @param seed        the seed
     * @return the inputs
     * @throws IllegalArgumentException naming the value that is out of range
     */
    public static DenseInputs random(int out, int in, int batch, DataType type, char weightOrder, long seed) {
        if (out < 1 || in < 1 || batch < 1) {
            throw new IllegalArgumentException("out, in and batch must be >= 1, got out=" + out + ", in=" + in
                    + ", batch=" + batch);
        }
        if (weightOrder != 'c' && weightOrder != 'f') {
            throw new IllegalArgumentException("weightOrder must be 'c' or 'f', got '" + weightOrder + "'");
        }
        if (type != DataType.FLOAT && type != DataType.DOUBLE) {
            throw new IllegalArgumentException("type must be FLOAT or DOUBLE, got " + type);
        }
        return new DenseInputs(out, in, batch, type, weightOrder, seed);
    }

    /** @return output features */
    public int out() {
        return out;
    }

    /** @return input features */
    public int in() {
        return in;
    }

    /** @return the batch size {@code N} */
    public int batch() {
        return batch;
    }

    /** @return the data type of every array */
    public DataType type() {
        return type;
    }

    /** @return 'f' when the stored weight has DL4J's layout, 'c' otherwise */
    public char weightOrder() {
        return weightOrder;
    }

    /** @return the weight as DL4J stores it, {@code [in, out]} */
    public INDArray stored() {
        return stored;
    }

    /** @return the frozen weight {@code [out, in]}: a transposed view of {@link #stored()} */
    public INDArray weight() {
        return weight;
    }

    /** @return the input {@code x [N, in]}, 'c' */
    public INDArray x() {
        return x;
    }

    /** @return the upstream gradient {@code dL/dy [N, out]}, 'c' */
    public INDArray dy() {
        return dy;
    }
}
