package dev.lokr.benchmarks;

import dev.lokr.LokrAdapter;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One training step of one conv layer (stride 1, "same" padding, NCHW, no bias) with a frozen
 * weight {@code W [out, in, k, k]} (DL4J's conv layout, 'c'). There is no factored conv path: a LoKR
 * conv step builds the effective weight once, convolves, takes both gradients with
 * {@code conv2d_bp} and maps {@code dL/dW'} to the module tensors with {@link LokrWeights#backward}.
 * Not thread-safe.
 */
public final class ConvStep {

    private final INDArray weight;
    private final INDArray x;
    private final INDArray dy;
    private final LokrParams params;
    private final LokrParams grads;
    private final INDArray y;
    private final INDArray dx;
    private final INDArray gradEff;

    /**
     * Random inputs and module tensors (mid-training values); all buffers preallocated.
     *
     * @param options  the adapter options (a conv layout)
     * @param batch    {@code N}
     * @param channels input and output channels
     * @param kernel   the odd kernel size {@code k}
     * @param size     height and width of the input
     * @param type     FLOAT or DOUBLE
     * @param seed     the seed
     * @throws IllegalArgumentException naming the value out of range
     */
    public ConvStep(LokrAdapter options, int batch, int channels, int kernel, int size, DataType type, long seed) {
        if (batch < 1 || channels < 1 || size < 1 || kernel < 1 || kernel % 2 == 0) {
            throw new IllegalArgumentException("batch, channels, size must be >= 1 and kernel odd, got batch=" + batch
                    + ", channels=" + channels + ", kernel=" + kernel + ", size=" + size);
        }
        double bound = 1.0 / Math.sqrt((double) channels * kernel * kernel);
        this.weight = BenchArrays.uniform(type, 'c', bound, seed, channels, channels, kernel, kernel);
        this.x = BenchArrays.uniform(type, 'c', 1.0, seed + 1, batch, channels, size, size);
        this.dy = BenchArrays.uniform(type, 'c', 0.1, seed + 2, batch, channels, size, size);
        this.params = AdapterStates.midTraining(options, weight, type, seed + 3);
        this.grads = LokrParams.zeros(params.layout(), type);
        this.y = Nd4j.create(type, activationShape(batch, channels, size));
        this.dx = Nd4j.create(type, activationShape(batch, channels, size));
        this.gradEff = Nd4j.create(type, weight.shape());
    }

    private static long[] activationShape(int batch, int channels, int size) {
        return new long[] {batch, channels, size, size};
    }

    /** @return the layout of the module */
    public LokrLayout layout() {
        return params.layout();
    }

    /** @return the module tensors (not copied) */
    public LokrParams params() {
        return params;
    }

    /** @return the frozen weight {@code [out, in, k, k]} */
    public INDArray weight() {
        return weight;
    }

    /** @return the input {@code [N, in, H, W]} */
    public INDArray x() {
        return x;
    }

    /** @return the upstream gradient {@code [N, out, H, W]} */
    public INDArray dy() {
        return dy;
    }

    /**
     * The frozen layer alone: {@code y = conv2d(x, W)}, {@code dx = deconv2d(dy, W)} (no weight gradient).
     *
     * @return {@code y} and {@code dx} (this object's buffers)
     */
    public StepResult frozen() {
        ConvOps.forward(x, weight, y);
        ConvOps.inputGradient(weight, dy, dx);
        return new StepResult(y, dx, null);
    }

    /**
     * The LoKR step: {@code W' = effectiveWeight}, {@code y = conv2d(x, W')}, {@code conv2d_bp} for
     * {@code dx} and {@code dL/dW'}, then {@link LokrWeights#backward}.
     *
     * @return {@code y}, {@code dx} and the gradients (this object's buffers)
     */
    public StepResult lokr() {
        INDArray effective = LokrWeights.effectiveWeight(params, weight, DenseStep.MULTIPLIER, null);
        ConvOps.forward(x, effective, y);
        ConvOps.backward(x, effective, dy, dx, gradEff);
        LokrWeights.backward(params, weight, DenseStep.MULTIPLIER, null, gradEff, grads);
        return new StepResult(y, dx, grads);
    }
}
