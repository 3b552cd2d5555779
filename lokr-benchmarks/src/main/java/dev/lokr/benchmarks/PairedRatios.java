package dev.lokr.benchmarks;

import dev.lokr.LokrAdapter;
import dev.lokr.math.LokrDense;
import dev.lokr.math.LokrInit;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParams;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * Paired ratios of one dense 4096x4096 training step (batch 256, rank 8, alpha 8, float32) to the
 * frozen step: each round runs the frozen step ({@code Nd4j.gemm} into preallocated outputs, DL4J's
 * 'f'-order {@code [nIn, nOut]} weight) and then a LoKR variant back to back, so drifting machine load
 * mostly cancels. Prints the median, min and max ratio per variant.
 *
 * <pre>{@code java -cp benchmarks.jar dev.lokr.benchmarks.PairedRatios [rounds]}</pre>
 */
public final class PairedRatios {

    private PairedRatios() {
    }

    /**
     * @param args optional number of measured rounds (default 15)
     */
    public static void main(String[] args) {
        int n = 4096;
        int batch = 256;
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        INDArray wd = Nd4j.rand(DataType.FLOAT, n, n).subi(0.5).dup('f');
        INDArray w = wd.transpose();
        INDArray x = Nd4j.rand(DataType.FLOAT, batch, n);
        INDArray dy = Nd4j.rand(DataType.FLOAT, batch, n);
        INDArray y = Nd4j.create(DataType.FLOAT, batch, n);
        INDArray dx = Nd4j.create(DataType.FLOAT, batch, n);
        LokrAdapter plain = LokrAdapter.builder().rank(8).alpha(8).build();
        String[] names = {"lokrFactored", "lokrDecomposeBoth", "lokrScalar", "lokrDora"};
        LokrAdapter[] options = {plain, plain.toBuilder().decomposeBoth(true).build(),
            plain.toBuilder().scalar(true).build(), plain.toBuilder().dora(true).build()};
        LokrParams[] params = new LokrParams[options.length];
        LokrParams[] grads = new LokrParams[options.length];
        for (int i = 0; i < options.length; i++) {
            LokrLayout layout = options[i].layoutFor(n, n);
            params[i] = LokrParams.zeros(layout, DataType.FLOAT);
            LokrInit.initialize(params[i], w, 1);
            for (INDArray v : params[i].asMap().values()) {
                if (v.length() > 1 && v.length() < 100_000) {
                    v.addi(Nd4j.rand(DataType.FLOAT, v.shape()).subi(0.5).muli(0.1));
                }
            }
            grads[i] = LokrParams.zeros(layout, DataType.FLOAT);
        }
        double[][] ratio = new double[options.length][rounds];
        for (int r = -3; r < rounds; r++) {
            for (int i = 0; i < options.length; i++) {
                long t0 = System.nanoTime();
                Nd4j.gemm(x, wd, y, false, false, 1.0, 0.0);
                Nd4j.gemm(dy, wd, dx, false, true, 1.0, 0.0);
                long t1 = System.nanoTime();
                LokrDense.Cache cache = new LokrDense.Cache();
                LokrDense.forward(params[i], w, null, x, 1.0, null, cache);
                LokrDense.backward(w, dy, cache, grads[i], true);
                long t2 = System.nanoTime();
                if (r >= 0) {
                    ratio[i][r] = (double) (t2 - t1) / (t1 - t0);
                }
            }
        }
        for (int i = 0; i < options.length; i++) {
            double[] sorted = ratio[i].clone();
            Arrays.sort(sorted);
            System.out.printf("%s / frozenBase: median %.2f (min %.2f, max %.2f)%n", names[i], sorted[rounds / 2],
                    sorted[0], sorted[rounds - 1]);
        }
    }
}
