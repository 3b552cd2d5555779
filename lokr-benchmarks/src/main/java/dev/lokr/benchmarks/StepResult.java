package dev.lokr.benchmarks;

import dev.lokr.math.LokrParams;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What one training step produced. The arrays may be buffers that the step object reuses: read
 * them before the next step of the same object.
 *
 * @param y     the layer output (before activation): dense {@code [N, out]}, conv {@code [N, out, H, W]}
 * @param dx    {@code dL/dx}, the input's shape
 * @param grads the gradients of every trainable tensor, or null for a frozen step
 */
public record StepResult(INDArray y, INDArray dx, LokrParams grads) {
}
