package dev.lokr.math;

import dev.lokr.LokrAdapter;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.DoubleSupplier;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Central-difference gradient checks in double precision, for every trainable tensor of every
 * option combination: the factored dense path ({@link LokrDense}) and the materialized path
 * ({@link LokrWeights#backward}, which conv layers use). The loss is {@code sum(R * y)} (dense) or
 * {@code sum(R * W')} (materialized), with {@code y} from the naive reference.
 */
class GradientCheckTest {

    private static final double H = 1e-6;

    static List<Arguments> options() {
        List<Arguments> list = new ArrayList<>();
        LokrAdapter.Builder base = LokrAdapter.builder().rank(2).alpha(3);
        String[] names = {"plain", "decomposeBoth", "scalar", "dora", "doraOnInput", "detachNorm", "detachNormOnInput",
            "rsLora", "fullMatrix", "unbalanced", "tucker", "scalarDoraDecomposeBoth", "factor2"};
        for (String name : names) {
            LokrAdapter.Builder b = base.build().toBuilder();
            switch (name) {
                case "decomposeBoth": b.decomposeBoth(true).rank(1); break;
                case "scalar": b.scalar(true); break;
                case "dora": b.dora(true); break;
                case "doraOnInput": b.dora(true).doraOnInput(true); break;
                case "detachNorm": b.dora(true).detachNorm(true); break;
                case "detachNormOnInput": b.dora(true).doraOnInput(true).detachNorm(true); break;
                case "rsLora": b.rsLora(true); break;
                case "fullMatrix": b.fullMatrix(true); break;
                case "unbalanced": b.unbalancedFactorization(true); break;
                case "tucker": b.tucker(true); break;
                case "scalarDoraDecomposeBoth": b.scalar(true).dora(true).decomposeBoth(true).rank(1); break;
                case "factor2": b.factor(2); break;
                default: break;
            }
            LokrAdapter opts = b.build();
            for (double m : new double[] {1.0, 0.6}) {
                for (boolean mask : new boolean[] {false, true}) {
                    list.add(Arguments.of(name, opts, m, mask));
                }
            }
        }
        return list;
    }

    @ParameterizedTest(name = "{0} m={2} mask={3}")
    @MethodSource("options")
    void denseFactoredGradients(String name, LokrAdapter opts, double m, boolean useMask) {
        long seed = name.hashCode() * 31L + (long) (m * 10) + (useMask ? 7 : 0);
        Random r = new Random(seed);
        long[] shape = {12, 20};
        LokrLayout l = opts.layoutFor(shape);
        LokrParams p = LokrParams.zeros(l, DataType.DOUBLE);
        LokrCases.randomize(p, seed);
        INDArray base = LokrCases.random(r, DataType.DOUBLE, shape);
        INDArray weight = LokrCases.weight(base, true);
        INDArray x = LokrCases.random(r, DataType.DOUBLE, 3, l.inDim());
        INDArray mask = useMask ? LokrCases.mask(r, l.outDim(), DataType.DOUBLE) : null;
        INDArray rw = LokrCases.random(r, DataType.DOUBLE, 3, l.outDim());

        LokrDense.Cache cache = new LokrDense.Cache();
        LokrDense.forward(p, weight, null, x, m, mask, cache);
        LokrParams grads = LokrParams.zeros(l, DataType.DOUBLE);
        INDArray dx = LokrDense.backward(weight, rw, cache, grads, true);

        double[] maskArr = mask == null ? null : NaiveLokr.flat(mask);
        double[] fixed = l.detachNorm() ? NaiveLokr.doraNorms(p, NaiveLokr.flat(base), m, maskArr) : null;
        DoubleSupplier loss = () -> {
            double[] eff = NaiveLokr.effective(p, NaiveLokr.flat(base), m, maskArr, fixed);
            double[] y = NaiveLokr.matmul(NaiveLokr.flat(x), transpose(eff, l.outDim(), l.inDim()), 3, l.inDim(), l.outDim());
            double[] rv = NaiveLokr.flat(rw);
            double s = 0;
            for (int i = 0; i < y.length; i++) {
                s += rv[i] * y[i];
            }
            return s;
        };
        String label = name + " m=" + m + " mask=" + useMask + " seed=" + seed + " " + l;
        for (LokrParam key : l.params()) {
            check(p.get(key), grads.get(key), loss, label + " " + key.key());
        }
        check(x, dx, loss, label + " x");
    }

    @ParameterizedTest(name = "{0} m={2} mask={3}")
    @MethodSource("options")
    void materializedGradientsDenseAndConv(String name, LokrAdapter opts, double m, boolean useMask) {
        for (long[] shape : new long[][] {{12, 8}, {8, 6, 3, 3}, {6, 4, 1, 1}}) {
            long seed = name.hashCode() * 17L + shape.length + (long) (m * 10) + (useMask ? 3 : 0);
            Random r = new Random(seed);
            LokrLayout l = opts.layoutFor(shape);
            LokrParams p = LokrParams.zeros(l, DataType.DOUBLE);
            LokrCases.randomize(p, seed);
            INDArray base = LokrCases.random(r, DataType.DOUBLE, shape);
            INDArray mask = useMask ? LokrCases.mask(r, l.outDim(), DataType.DOUBLE) : null;
            INDArray rw = LokrCases.random(r, DataType.DOUBLE, shape);
            LokrParams grads = LokrParams.zeros(l, DataType.DOUBLE);
            LokrWeights.backward(p, base, m, mask, rw, grads);
            double[] maskArr = mask == null ? null : NaiveLokr.flat(mask);
            double[] fixed = l.detachNorm() ? NaiveLokr.doraNorms(p, NaiveLokr.flat(base), m, maskArr) : null;
            double[] rv = NaiveLokr.flat(rw);
            DoubleSupplier loss = () -> {
                double[] eff = NaiveLokr.effective(p, NaiveLokr.flat(base), m, maskArr, fixed);
                double s = 0;
                for (int i = 0; i < eff.length; i++) {
                    s += rv[i] * eff[i];
                }
                return s;
            };
            String label = name + " m=" + m + " mask=" + useMask + " seed=" + seed + " " + l;
            for (LokrParam key : l.params()) {
                check(p.get(key), grads.get(key), loss, label + " " + key.key());
            }
        }
    }

    private static double[] transpose(double[] m, int rows, int cols) {
        double[] t = new double[m.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t[j * rows + i] = m[i * cols + j];
            }
        }
        return t;
    }

    private static void check(INDArray param, INDArray analytic, DoubleSupplier loss, String label) {
        double[] an = NaiveLokr.flat(analytic);
        for (int i = 0; i < param.length(); i++) {
            double orig = param.getDouble(i);
            param.putScalar(i, orig + H);
            double plus = loss.getAsDouble();
            param.putScalar(i, orig - H);
            double minus = loss.getAsDouble();
            param.putScalar(i, orig);
            double num = (plus - minus) / (2 * H);
            double err = Math.abs(num - an[i]);
            if (err > 1e-6 * Math.max(1.0, Math.abs(num))) {
                fail(label + " [" + i + "]: numerical " + num + " analytic " + an[i]);
            }
        }
    }
}
