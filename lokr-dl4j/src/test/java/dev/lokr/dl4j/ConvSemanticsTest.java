package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.NoOp;

/**
 * Convolution semantics, against convolutions written out by hand. A LoKR adapter on a DL4J {@code Convolution1DLayer} adapts the kernel as PyTorch's {@code Conv1d} holds it,
 * {@code [out, in, k]}: the layer's output equals a 1-D convolution written out by hand with the kernel
 * {@code P + dW}, where {@code P} is the base kernel in PyTorch's arrangement and {@code dW} the spec's delta of the
 * adapter's tensors. (DL4J 1.0.0-M2.1 keeps a 1-D kernel's values in the order {@code [k, in, out]} behind a
 * {@code W} that reports the shape {@code [out, in, k, 1]}.)
 */
class ConvSemanticsTest {

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    /** tanh(conv1d(x, kernel [out, in, k]) + b), no padding, stride 1: [n, out, t - k + 1]. */
    private static double[][][] conv1d(INDArray x, double[][][] kernel, INDArray b) {
        int n = (int) x.size(0);
        int in = (int) x.size(1);
        int t = (int) x.size(2);
        int out = kernel.length;
        int k = kernel[0][0].length;
        double[][][] y = new double[n][out][t - k + 1];
        for (int s = 0; s < n; s++) {
            for (int o = 0; o < out; o++) {
                for (int p = 0; p + k <= t; p++) {
                    double acc = b.getDouble(o);
                    for (int i = 0; i < in; i++) {
                        for (int j = 0; j < k; j++) {
                            acc += kernel[o][i][j] * x.getDouble(s, i, p + j);
                        }
                    }
                    y[s][o][p] = Math.tanh(acc);
                }
            }
        }
        return y;
    }

    /**
     * The spec's effective kernel {@code P + dW} of the adapted "conv1d_0" (k = 3) in PyTorch's {@code [out, in, k]},
     * from DL4J's values of {@code W}, which it keeps in the order {@code [k, in, out]}.
     */
    private static double[][][] effectiveKernel(LokrNetwork<MultiLayerNetwork> adapted) {
        int out = Fixtures.CONV_OUT;
        int in = Fixtures.CONV_IN;
        int k = 3;
        INDArray buffer = adapted.network().getLayer("conv1d_0").getParam("W").dup('c').reshape('c', k, in, out);
        INDArray pytorch = buffer.permute(2, 1, 0).dup('c').reshape('c', out, in, k, 1);
        LokrParams params = adapted.adapterParams().get("conv1d_0");
        INDArray effective = LokrWeights.effectiveWeight(params, pytorch, adapted.getMultiplier(), null);
        double[][][] kernel = new double[out][in][k];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                for (int j = 0; j < k; j++) {
                    kernel[o][i][j] = effective.getDouble(o, i, j, 0);
                }
            }
        }
        return kernel;
    }

    /** The largest |want[s][o][p] - got| with {@code got} as NCW {@code [s, o, p]} or, {@code nwc}, {@code [s, p, o]}. */
    private static double maxDifference(double[][][] want, INDArray got, boolean nwc) {
        double max = 0;
        for (int s = 0; s < want.length; s++) {
            for (int o = 0; o < want[s].length; o++) {
                for (int p = 0; p < want[s][o].length; p++) {
                    double g = nwc ? got.getDouble(s, p, o) : got.getDouble(s, o, p);
                    max = Math.max(max, Math.abs(want[s][o][p] - g));
                }
            }
        }
        return max;
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"full w2,4,false,false,false", "low-rank w2,1,false,false,false", "tucker,1,true,false,false",
            "dora on output,1,false,true,false", "dora on input,4,false,true,true"})
    void theAdapterAddsTheSpecsDeltaToPyTorchsKernel(String what, int rank, boolean tucker, boolean dora,
                                                     boolean doraOnInput) {
        LokrAdapter options = LokrAdapter.builder().rank(rank).tucker(tucker).dora(dora).doraOnInput(doraOnInput)
                .seed(5).build();
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(options,
                Fixtures.conv1dMln(DataType.DOUBLE, WorkspaceMode.NONE, new Adam(1e-2), 414), Targets.names("conv1d_0"));
        Fixtures.randomizeAdapters(adapted, 21);
        MultiLayerNetwork net = adapted.network();
        INDArray x = Fixtures.uniform(new long[] {2, Fixtures.CONV_IN, Fixtures.SEQ}, -1, 1, DataType.DOUBLE, 7);
        double[][][] want = conv1d(x, effectiveKernel(adapted), net.getLayer("conv1d_0").getParam("b"));
        double max = maxDifference(want, net.feedForward(x, false).get(1), false);
        assertTrue(max < 1e-10, what + ": the layer's output differs from PyTorch's conv1d with P + dW by " + max);
    }

    /**
     * A 1-D convolution over NWC data: DL4J 1.0.0-M2.1's own {@code Convolution1DLayer} fails in backward there, so
     * lokr runs it as NCW on permuted views. Forward as the hand-written convolution, gradients as central
     * differences, and a few training steps with workspaces that change only the adapter.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"low-rank w2,1,false,false", "tucker,1,true,false", "dora on output,1,false,true"})
    void aChannelsLast1dConvolutionComputesAndTrainsAsTheHandWrittenOne(String what, int rank, boolean tucker,
                                                                       boolean dora) {
        LokrAdapter options = LokrAdapter.builder().rank(rank).tucker(tucker).dora(dora).seed(5).build();
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(options, Fixtures.conv1dMln(DataType.DOUBLE,
                WorkspaceMode.ENABLED, new NoOp(), 416, RNNFormat.NWC), Targets.names("conv1d_0"));
        Fixtures.randomizeAdapters(adapted, 25);
        MultiLayerNetwork net = adapted.network();
        int k = 3;
        INDArray x = Fixtures.uniform(new long[] {2, Fixtures.SEQ, Fixtures.CONV_IN}, -1, 1, DataType.DOUBLE, 11);
        double[][][] want = conv1d(x.permute(0, 2, 1), effectiveKernel(adapted), net.getLayer("conv1d_0").getParam("b"));
        double max = maxDifference(want, net.feedForward(x, false).get(1), true);
        assertTrue(max < 1e-10, what + ": the NWC layer's output differs from conv1d with P + dW by " + max);

        INDArray labels = Nd4j.zeros(DataType.DOUBLE, 2, Fixtures.SEQ - k + 1, Fixtures.CLASSES);   // NWC
        for (int s = 0; s < 2; s++) {
            for (int t = 0; t < Fixtures.SEQ - k + 1; t++) {
                labels.putScalar(new int[] {s, t, (s + 2 * t) % Fixtures.CLASSES}, 1.0);
            }
        }
        DataType savedType = Nd4j.dataType();
        DataType savedFloatType = Nd4j.defaultFloatingPointType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);   // GradientCheckUtil insists
        try {
            assertTrue(GradientCheckTest.check(net, x, labels, GradientCheckTest.excluded(net, false)),
                    what + ": NWC adapter gradients differ from central differences");
        } finally {
            Nd4j.setDefaultDataTypes(savedType, savedFloatType);
        }

        INDArray frozen = net.getLayer("conv1d_0").getParam("W").dup();
        INDArray factors = adapted.adapterParams().get("conv1d_0").get(dev.lokr.math.LokrParam.W1).dup();
        adapted.setLearningRate(0.05);
        net.setListeners();
        for (int step = 0; step < 3; step++) {
            net.fit(x, labels);
        }
        assertEquals(frozen, net.getLayer("conv1d_0").getParam("W"), what + ": the frozen kernel moved");
        assertNotEquals(factors, adapted.adapterParams().get("conv1d_0").get(dev.lokr.math.LokrParam.W1),
                what + ": w1 did not train");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"full w2,4,false,false", "tucker,1,true,false", "dora on output,1,false,true"})
    void a2dConvolutionAdaptsItsWeightAsReported(String what, int rank, boolean tucker, boolean dora) {
        LokrAdapter options = LokrAdapter.builder().rank(rank).tucker(tucker).dora(dora).seed(5).build();
        LokrNetwork<MultiLayerNetwork> adapted = LokrNetworks.apply(options,
                Fixtures.convMln(DataType.DOUBLE, WorkspaceMode.NONE, new Adam(1e-2), 415), Targets.names("conv_0"));
        Fixtures.randomizeAdapters(adapted, 23);
        MultiLayerNetwork net = adapted.network();
        INDArray effective = LokrWeights.effectiveWeight(adapted.adapterParams().get("conv_0"),
                net.getLayer("conv_0").getParam("W"), adapted.getMultiplier(), null);
        int out = Fixtures.CONV_OUT;
        int in = Fixtures.CONV_IN;
        int size = Fixtures.IMAGE;
        INDArray x = Fixtures.uniform(new long[] {2, in, size, size}, -1, 1, DataType.DOUBLE, 9);
        INDArray b = net.getLayer("conv_0").getParam("b");
        INDArray got = net.feedForward(x, false).get(1);
        double max = 0;
        for (int s2 = 0; s2 < 2; s2++) {
            for (int o = 0; o < out; o++) {
                for (int p = 0; p + 3 <= size; p++) {
                    for (int q = 0; q + 3 <= size; q++) {
                        double acc = b.getDouble(o);
                        for (int i = 0; i < in; i++) {
                            for (int u = 0; u < 3; u++) {
                                for (int v = 0; v < 3; v++) {
                                    acc += effective.getDouble(o, i, u, v) * x.getDouble(s2, i, p + u, q + v);
                                }
                            }
                        }
                        max = Math.max(max, Math.abs(Math.tanh(acc) - got.getDouble(s2, o, p, q)));
                    }
                }
            }
        }
        assertTrue(max < 1e-10, what + ": the conv layer's output differs from a convolution with W + dW by " + max);
    }
}
