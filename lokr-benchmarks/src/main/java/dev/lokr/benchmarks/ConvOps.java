package dev.lokr.benchmarks;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Stride-1 "same" 2-D convolutions through libnd4j's ops, NCHW data, weights in DL4J's and
 * PyTorch's layout {@code [out, in, kh, kw]} (libnd4j weight format 1, {@code OIYX}), odd square
 * kernels, padding {@code (k - 1) / 2}, no bias. All outputs are preallocated.
 */
final class ConvOps {

    /** libnd4j's weight-format argument for {@code [oC, iC, kH, kW]} (conv) / {@code [iC, oC, kH, kW]} (deconv). */
    private static final int OIYX = 1;
    private static final int NCHW = 0;
    private static final int EXPLICIT_PADDING = 0;

    private ConvOps() {
    }

    /**
     * {@code y = conv2d(x, w)}.
     *
     * @param x {@code [N, in, H, W]}, not modified
     * @param w {@code [out, in, k, k]}, not modified
     * @param y {@code [N, out, H, W]}, overwritten
     */
    static void forward(INDArray x, INDArray w, INDArray y) {
        Nd4j.exec(DynamicCustomOp.builder("conv2d").addInputs(x, w).addOutputs(y).addIntegerArguments(args(w)).build());
    }

    /**
     * Both gradients of {@link #forward}: {@code dx} and {@code dL/dw}.
     *
     * @param x  {@code [N, in, H, W]}, not modified
     * @param w  {@code [out, in, k, k]}, not modified
     * @param dy {@code [N, out, H, W]}, not modified
     * @param dx {@code [N, in, H, W]}, overwritten
     * @param dw {@code [out, in, k, k]}, overwritten
     */
    static void backward(INDArray x, INDArray w, INDArray dy, INDArray dx, INDArray dw) {
        Nd4j.exec(DynamicCustomOp.builder("conv2d_bp").addInputs(x, w, dy).addOutputs(dx, dw)
                .addIntegerArguments(args(w)).build());
    }

    /**
     * The input gradient alone, as a frozen layer needs it: {@code dx = deconv2d(dy, w)}, the
     * transposed convolution (the weight read as {@code [iC, oC, kh, kw]} of the deconvolution).
     *
     * @param w  {@code [out, in, k, k]}, not modified
     * @param dy {@code [N, out, H, W]}, not modified
     * @param dx {@code [N, in, H, W]}, overwritten
     */
    static void inputGradient(INDArray w, INDArray dy, INDArray dx) {
        Nd4j.exec(DynamicCustomOp.builder("deconv2d").addInputs(dy, w).addOutputs(dx).addIntegerArguments(args(w)).build());
    }

    private static int[] args(INDArray w) {
        int k = (int) w.size(2);
        if (w.rank() != 4 || w.size(3) != k || k % 2 == 0) {
            throw new IllegalArgumentException("conv weight must be [out, in, k, k] with odd k, got "
                    + java.util.Arrays.toString(w.shape()));
        }
        int pad = (k - 1) / 2;
        return new int[] {k, k, 1, 1, pad, pad, 1, 1, EXPLICIT_PADDING, NCHW, OIYX};
    }
}
