package dev.lokr.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lokr.LokrAdapter;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.common.primitives.Pair;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Seeded randomized comparison of an adapted 1-D convolution over NWC data with the same network over NCW
 * data (same base weights, same adapter): outputs agree after the transpose, and so do the input gradient
 * and every parameter's gradient. DL4J's own NWC backward fails, so the NCW network is the reference; it is checked
 * against hand-written convolutions in {@code ConvSemanticsTest}.
 */
class Conv1dFormatPropertyTest {

    private static final long SEED = 20261129L;

    @BeforeAll
    static void setUp() {
        Fixtures.singleThreaded();
    }

    /** One generated case. */
    record Case(long seed, int k, int stride, int dilation, ConvolutionMode mode, boolean bias, int in, int out,
                int length, LokrAdapter options) {
        @Override
        public String toString() {
            return "seed=" + seed + " k=" + k + " stride=" + stride + " dilation=" + dilation + " mode=" + mode
                    + " bias=" + bias + " in=" + in + " out=" + out + " length=" + length + " " + options;
        }
    }

    static List<Case> cases() {
        Random r = new Random(SEED);
        List<Case> list = new ArrayList<>();
        ConvolutionMode[] modes = {ConvolutionMode.Truncate, ConvolutionMode.Same, ConvolutionMode.Causal};
        for (int i = 0; i < 200; i++) {
            long seed = r.nextLong();
            int k = 1 + r.nextInt(3);
            int dilation = 1 + r.nextInt(2);
            int length = (k - 1) * dilation + 2 + r.nextInt(5);
            boolean dora = r.nextInt(3) == 0;
            LokrAdapter options = LokrAdapter.builder().rank(1 + r.nextInt(3)).alpha(1 + r.nextInt(4))
                    .tucker(r.nextBoolean()).decomposeBoth(r.nextInt(3) == 0).scalar(r.nextInt(3) == 0)
                    .dora(dora).doraOnInput(dora && r.nextBoolean()).seed(seed).build();
            list.add(new Case(seed, k, 1 + r.nextInt(2), dilation, modes[r.nextInt(modes.length)], r.nextBoolean(),
                    2 + r.nextInt(7), 2 + r.nextInt(7), length, options));
        }
        return list;
    }

    private static MultiLayerNetwork network(Case c, RNNFormat format) {
        MultiLayerNetwork net = new MultiLayerNetwork(Fixtures.base(DataType.DOUBLE, WorkspaceMode.ENABLED,
                new NoOp(), 7).list()
                .layer(new Convolution1DLayer.Builder(c.k()).name("conv").nOut(c.out()).stride(c.stride())
                        .dilation(c.dilation()).convolutionMode(c.mode()).hasBias(c.bias()).rnnDataFormat(format)
                        .activation(Activation.TANH).build())
                .layer(new RnnOutputLayer.Builder(LossFunctions.LossFunction.MSE).name("out").nOut(3)
                        .activation(Activation.IDENTITY).dataFormat(format).build())
                .setInputType(InputType.recurrent(c.in(), c.length(), format))
                .build());
        net.init();
        return net;
    }

    /** The case's NCW and NWC networks, adapted, with the same random adapter and base weights. */
    private static MultiLayerNetwork[] adaptedPair(Case c) {
        LokrNetwork<MultiLayerNetwork> ncw = LokrNetworks.apply(c.options(), network(c, RNNFormat.NCW),
                Targets.names("conv"));
        LokrNetwork<MultiLayerNetwork> nwc = LokrNetworks.apply(c.options(), network(c, RNNFormat.NWC),
                Targets.names("conv"));
        Fixtures.randomizeAdapters(ncw, c.seed());
        nwc.network().setParams(ncw.network().params());
        return new MultiLayerNetwork[] {ncw.network(), nwc.network()};
    }

    @ParameterizedTest
    @MethodSource("cases")
    void nwcComputesWhatNcwComputes(Case c) {
        MultiLayerNetwork[] pair = adaptedPair(c);
        MultiLayerNetwork ncw = pair[0];
        MultiLayerNetwork nwc = pair[1];
        INDArray x = Fixtures.uniform(new long[] {2, c.in(), c.length()}, -1, 1, DataType.DOUBLE, c.seed());
        INDArray yNcw = ncw.output(x);
        INDArray yNwc = nwc.output(x.permute(0, 2, 1).dup('c'));
        double outDiff = yNcw.sub(yNwc.permute(0, 2, 1)).amaxNumber().doubleValue();
        assertEquals(0.0, outDiff, 1e-12, c + ": outputs differ by " + outDiff);

        INDArray labels = Fixtures.uniform(yNcw.shape(), -1, 1, DataType.DOUBLE, c.seed() + 1);
        Pair<Gradient, INDArray> rNcw = ncw.calculateGradients(x, labels, null, null);
        Pair<Gradient, INDArray> rNwc = nwc.calculateGradients(x.permute(0, 2, 1).dup('c'),
                labels.permute(0, 2, 1).dup('c'), null, null);
        double dxDiff = rNcw.getSecond().sub(rNwc.getSecond().permute(0, 2, 1)).amaxNumber().doubleValue();
        double dxScale = Math.max(1e-3, rNcw.getSecond().amaxNumber().doubleValue());
        assertEquals(0.0, dxDiff / dxScale, 1e-9, c + ": input gradients differ by " + dxDiff);
        Gradient gNcw = rNcw.getFirst();
        Gradient gNwc = rNwc.getFirst();
        for (String key : gNcw.gradientForVariable().keySet()) {
            double diff = gNcw.getGradientFor(key).sub(gNwc.getGradientFor(key)).amaxNumber().doubleValue();
            double scale = Math.max(1e-3, gNcw.getGradientFor(key).amaxNumber().doubleValue());
            assertEquals(0.0, diff / scale, 1e-9, c + ": gradient of " + key + " differs by " + diff);
        }
    }

    static List<Case> someCases() {
        return cases().subList(0, 25);
    }

    /**
     * A backward right after an inference forward (no training forward kept anything): the layer takes its
     * NWC input afresh and still computes the NCW layer's gradients.
     */
    @ParameterizedTest
    @MethodSource("someCases")
    void aBackwardAfterAnInferenceForwardAgreesToo(Case c) {
        MultiLayerNetwork[] pair = adaptedPair(c);
        MultiLayerNetwork ncw = pair[0];
        MultiLayerNetwork nwc = pair[1];
        ncw.initGradientsView();
        nwc.initGradientsView();
        org.deeplearning4j.nn.api.Layer lNcw = ncw.getLayer("conv");
        org.deeplearning4j.nn.api.Layer lNwc = nwc.getLayer("conv");
        org.deeplearning4j.nn.workspace.LayerWorkspaceMgr mgr =
                org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces();
        INDArray x = Fixtures.uniform(new long[] {2, c.in(), c.length()}, -1, 1, DataType.DOUBLE, c.seed());
        INDArray yNcw = lNcw.activate(x, false, mgr).dup();
        INDArray yNwc = lNwc.activate(x.permute(0, 2, 1).dup('c'), false, mgr).dup();
        INDArray eps = Fixtures.uniform(yNcw.shape(), -1, 1, DataType.DOUBLE, c.seed() + 2);
        Pair<Gradient, INDArray> gNcw = lNcw.backpropGradient(eps, mgr);
        Pair<Gradient, INDArray> gNwc = lNwc.backpropGradient(eps.permute(0, 2, 1).dup('c'), mgr);
        assertEquals(0.0, yNcw.sub(yNwc.permute(0, 2, 1)).amaxNumber().doubleValue(), 1e-12, c + ": outputs");
        double dx = gNcw.getSecond().sub(gNwc.getSecond().permute(0, 2, 1)).amaxNumber().doubleValue();
        assertEquals(0.0, dx, 1e-9, c + ": input gradients differ by " + dx);
        for (String key : gNcw.getFirst().gradientForVariable().keySet()) {
            double diff = gNcw.getFirst().getGradientFor(key).sub(gNwc.getFirst().getGradientFor(key)).amaxNumber()
                    .doubleValue();
            assertEquals(0.0, diff, 1e-9, c + ": gradient of " + key + " differs by " + diff);
        }
    }
}
