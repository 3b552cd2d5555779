package dev.lokr.dl4j;

import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.Convolution1DLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Map;
import java.util.SplittableRandom;

/** Small networks and data for the tests. */
final class Fixtures {

    /** Dense input width. */
    static final int DENSE_IN = 24;
    /** Dense hidden width. */
    static final int DENSE_HIDDEN = 36;
    /** Number of classes. */
    static final int CLASSES = 6;
    /** Conv input channels, output channels, image size. */
    static final int CONV_IN = 8;
    static final int CONV_OUT = 12;
    static final int IMAGE = 5;
    /** Conv1D sequence length. */
    static final int SEQ = 7;

    private Fixtures() {
    }

    /**
     * Runs ND4J ops on one OpenMP thread: the test networks are tiny, and on the shared 2-core machine
     * two spinning OpenMP threads per op made each forward pass about 50 times slower.
     */
    static void singleThreaded() {
        Nd4j.getEnvironment().setMaxThreads(1);
        Nd4j.getEnvironment().setMaxMasterThreads(1);
    }

    /** Builds the common net configuration. */
    static NeuralNetConfiguration.Builder base(DataType type, WorkspaceMode ws, IUpdater updater, long seed) {
        return new NeuralNetConfiguration.Builder().seed(seed).dataType(type).updater(updater)
                .trainingWorkspaceMode(ws).inferenceWorkspaceMode(ws);
    }

    /** dense_0 (24 -> 36, tanh) -> out (36 -> 6, softmax, MCXENT). */
    static MultiLayerNetwork denseMln(DataType type, WorkspaceMode ws, IUpdater updater, long seed) {
        MultiLayerConfiguration conf = base(type, ws, updater, seed).list()
                .layer(new DenseLayer.Builder().name("dense_0").nIn(DENSE_IN).nOut(DENSE_HIDDEN)
                        .activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nIn(DENSE_HIDDEN)
                        .nOut(CLASSES).activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** The dense network as a graph: in -> dense_0 -> out. */
    static ComputationGraph denseGraph(DataType type, WorkspaceMode ws, IUpdater updater, long seed) {
        ComputationGraphConfiguration conf = base(type, ws, updater, seed).graphBuilder()
                .addInputs("in")
                .addLayer("dense_0", new DenseLayer.Builder().nIn(DENSE_IN).nOut(DENSE_HIDDEN)
                        .activation(Activation.TANH).build(), "in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(DENSE_HIDDEN)
                        .nOut(CLASSES).activation(Activation.SOFTMAX).build(), "dense_0")
                .setOutputs("out")
                .build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        return net;
    }

    /** conv_0 (8 -> 12 channels, 3x3, tanh) on 5x5 images -> out (108 -> 6, softmax). */
    static MultiLayerNetwork convMln(DataType type, WorkspaceMode ws, IUpdater updater, long seed) {
        MultiLayerConfiguration conf = base(type, ws, updater, seed).list()
                .layer(new ConvolutionLayer.Builder(3, 3).name("conv_0").nOut(CONV_OUT)
                        .activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name("out").nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(IMAGE, IMAGE, CONV_IN))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** The conv network as a graph. */
    static ComputationGraph convGraph(DataType type, WorkspaceMode ws, IUpdater updater, long seed) {
        ComputationGraphConfiguration conf = base(type, ws, updater, seed).graphBuilder()
                .addInputs("in")
                .addLayer("conv_0", new ConvolutionLayer.Builder(3, 3).nOut(CONV_OUT)
                        .activation(Activation.TANH).build(), "in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "conv_0")
                .setOutputs("out")
                .setInputTypes(InputType.convolutional(IMAGE, IMAGE, CONV_IN))
                .build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        return net;
    }

    /** conv1d_0 (8 -> 12 channels, kernel 3) on sequences of 7 -> global pooling is avoided: dense out over flattened. */
    static MultiLayerNetwork conv1dMln(DataType type, WorkspaceMode ws, IUpdater updater, long seed) {
        return conv1dMln(type, ws, updater, seed, RNNFormat.NCW);
    }

    /** {@link #conv1dMln(DataType, WorkspaceMode, IUpdater, long)} over data in {@code format}. */
    static MultiLayerNetwork conv1dMln(DataType type, WorkspaceMode ws, IUpdater updater, long seed, RNNFormat format) {
        MultiLayerConfiguration conf = base(type, ws, updater, seed).list()
                .layer(new Convolution1DLayer.Builder(3).name("conv1d_0").nOut(CONV_OUT).rnnDataFormat(format)
                        .activation(Activation.TANH).build())
                .layer(new org.deeplearning4j.nn.conf.layers.RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .name("out").nOut(CLASSES).activation(Activation.SOFTMAX).dataFormat(format).build())
                .setInputType(InputType.recurrent(CONV_IN, SEQ, format))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** Dense input [n, 24]. */
    static INDArray denseInput(int n, DataType type, long seed) {
        return uniform(new long[] {n, DENSE_IN}, -1, 1, type, seed);
    }

    /** Conv input [n, 8, 5, 5]. */
    static INDArray convInput(int n, DataType type, long seed) {
        return uniform(new long[] {n, CONV_IN, IMAGE, IMAGE}, -1, 1, type, seed);
    }

    /** One-hot labels [n, 6]. */
    static INDArray labels(int n, DataType type, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        INDArray l = Nd4j.zeros(type, n, CLASSES);
        for (int i = 0; i < n; i++) {
            l.putScalar(i, r.nextInt(CLASSES), 1.0);
        }
        return l;
    }

    /** Uniform values in [lo, hi). */
    static INDArray uniform(long[] shape, double lo, double hi, DataType type, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = lo + (hi - lo) * r.nextDouble();
        }
        return Nd4j.create(v, shape, 'c').castTo(type);
    }

    /** Sets every adapter tensor to random values (positive around the current value for the magnitude). */
    static void randomizeAdapters(LokrNetwork<?> net, long seed) {
        Map<String, LokrParams> snapshot = net.adapterParams();
        long s = seed;
        for (LokrParams p : snapshot.values()) {
            for (LokrParam k : p.layout().params()) {
                INDArray a = p.get(k);
                INDArray noise = uniform(a.shape(), -0.5, 0.5, a.dataType(), s++);
                if (k == LokrParam.MAGNITUDE) {
                    a.muli(noise.addi(1.0));
                } else {
                    a.assign(noise);
                }
            }
        }
        net.loadAdapterParams(snapshot);
    }
}
