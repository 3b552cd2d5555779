package dev.lokr.cli;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

/**
 * Seeded synthetic image tasks for the demo: {@code classes} random prototype patterns on a
 * {@code side x side} single-channel grid; a sample is one prototype plus Gaussian noise.
 *
 * <p>Task A labels prototype {@code k} as class {@code k}. Task B, the related task, shows the prototypes
 * mirrored left-right and labels prototype {@code k} as class {@code (k + 1) mod classes}: the features
 * are similar, but a network trained on A answers B mostly wrongly.
 */
final class DemoData {

    private final int classes;
    private final int side;
    private final double noise;
    /** {@code [classes][side*side]} prototype pixels in [0, 1]. */
    private final double[][] prototypes;

    /**
     * @param classes number of classes, at least 2
     * @param side    image side in pixels, at least 2
     * @param noise   standard deviation of the per-pixel noise, at least 0
     * @param seed    seed of the prototypes
     */
    DemoData(int classes, int side, double noise, long seed) {
        if (classes < 2) {
            throw new IllegalArgumentException("classes must be at least 2, got " + classes);
        }
        if (side < 2) {
            throw new IllegalArgumentException("side must be at least 2, got " + side);
        }
        if (!(noise >= 0)) {
            throw new IllegalArgumentException("noise must be at least 0, got " + noise);
        }
        this.classes = classes;
        this.side = side;
        this.noise = noise;
        Random r = new Random(seed);
        prototypes = new double[classes][side * side];
        for (double[] p : prototypes) {
            for (int i = 0; i < p.length; i++) {
                p[i] = r.nextDouble() < 0.35 ? 1.0 : 0.0;
            }
        }
    }

    /** @return the number of classes */
    int classes() {
        return classes;
    }

    /** @return the image side in pixels */
    int side() {
        return side;
    }

    /**
     * Draws a batch of one task.
     *
     * @param taskB whether to draw task B (mirrored prototypes, shifted labels) instead of task A
     * @param n     number of samples, at least 1
     * @param seed  seed of the draw
     * @return features {@code [n, 1, side, side]} (FLOAT, NCHW) and one-hot labels {@code [n, classes]}
     */
    DataSet batch(boolean taskB, int n, long seed) {
        if (n < 1) {
            throw new IllegalArgumentException("n must be at least 1, got " + n);
        }
        Random r = new Random(seed);
        float[] x = new float[n * side * side];
        float[] y = new float[n * classes];
        for (int s = 0; s < n; s++) {
            int k = r.nextInt(classes);
            double[] p = prototypes[k];
            for (int row = 0; row < side; row++) {
                for (int col = 0; col < side; col++) {
                    int srcCol = taskB ? side - 1 - col : col;
                    double v = p[row * side + srcCol] + noise * r.nextGaussian();
                    x[s * side * side + row * side + col] = (float) v;
                }
            }
            int label = taskB ? (k + 1) % classes : k;
            y[s * classes + label] = 1f;
        }
        INDArray features = Nd4j.create(x, new long[] {n, 1, side, side}, 'c').castTo(DataType.FLOAT);
        INDArray labels = Nd4j.create(y, new long[] {n, classes}, 'c').castTo(DataType.FLOAT);
        return new DataSet(features, labels);
    }
}
